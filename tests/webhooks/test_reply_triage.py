"""A patient's reply through Twilio's webhook: triaged, answered at once in TwiML (the
clinic's phone; an emergency also the emergency number), alerts written for on-call;
a request in words to stop texts waits for staff; "thanks" gets no answer."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from reminders.api.app import create_app
from reminders.bootstrap import App, build_app
from reminders.clock import FixedClock
from reminders.db.models import InboundMessage, Message, OnCallAlert, SmsOptOut
from reminders.domain import MessageState
from reminders.reply_texts import emergency_number
from reminders.settings import TwilioSettings
from tests.api import TestClient
from tests.conftest import make_settings
from tests.support import RecordingChannel, dispatcher, log

TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC = "https://reminders.example.org"
CLINIC_SENDER = "+12125550100"
PATIENT = "+12125550199"
ON_CALL_PHONE = "+12125550188"


def build(tmp_path: Path, database_url: str, clock: FixedClock, **clinic: object) -> App:
    settings = make_settings(tmp_path, database_url, sms_from=CLINIC_SENDER, **clinic)
    settings.twilio = TwilioSettings(
        account_sid="AC" + "0" * 32,
        auth_token=TOKEN,
        from_number="+12125550111",
        public_base_url=PUBLIC,
    )
    return build_app(settings, clock=clock)


@pytest.fixture
def app(tmp_path: Path, database_url: str, clock: FixedClock) -> Iterator[App]:
    application = build(tmp_path, database_url, clock, on_call_phone=ON_CALL_PHONE)
    yield application
    application.close()


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    with TestClient(create_app(app)) as test_client:
        yield test_client


def answer_to(client: TestClient, body: str, sid: str = "SM" + "1" * 32) -> list[str]:
    """The texts the webhook's TwiML answers the patient with."""
    form = {"From": PATIENT, "To": CLINIC_SENDER, "Body": body, "MessageSid": sid}
    path = "/webhooks/twilio/inbound"
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, form)
    response = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200, response.text
    return [html.unescape(m) for m in re.findall(r"<Message>(.*?)</Message>", response.text)]


def stored(app: App) -> list[InboundMessage]:
    with app.sessions() as session:
        return list(session.scalars(sa.select(InboundMessage).order_by(InboundMessage.id)))


def alert_count(app: App) -> int:
    with app.sessions() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(OnCallAlert)) or 0


def test_a_clinical_flag_is_answered_with_the_clinic_phone_and_sent_to_on_call(
    app: App, client: TestClient
) -> None:
    treatment = log(app, phone=PATIENT)

    [answer] = answer_to(client, "I have some bruising and swelling")

    assert answer.startswith("Harbor Skin Clinic: thank you. We have passed your message")
    assert "call us on (212) 555-0143" in answer
    assert "in an emergency call 911" in answer
    [reply] = stored(app)
    assert (reply.triage, reply.flag_ids, reply.answer) == (
        "clinical",
        ["swelling", "bruising"],
        answer,
    )
    assert (reply.treatment_id, reply.acknowledged_at) == (treatment.id, None)
    assert alert_count(app) == 1


def test_an_emergency_is_answered_with_911_first(app: App, client: TestClient) -> None:
    [answer] = answer_to(client, "It's HARD to swallow and my vision is blurry!")

    assert answer.startswith("Harbor Skin Clinic: if this is an emergency, call 911 now.")
    assert "(212) 555-0143" in answer
    [reply] = stored(app)
    assert (reply.triage, reply.flag_ids) == ("emergency", ["trouble-swallowing", "vision-changes"])


@pytest.mark.parametrize(
    ("region", "phone", "number"),
    [("GB", "+442079460000", "999"), ("DE", "+4930901820", "112"), ("AU", "+61291234567", "000")],
)
def test_the_emergency_number_is_the_clinic_regions(
    tmp_path: Path, database_url: str, clock: FixedClock, region: str, phone: str, number: str
) -> None:
    application = build(tmp_path, database_url, clock, region=region, phone=phone)
    try:
        with TestClient(create_app(application)) as test_client:
            [answer] = answer_to(test_client, "I can't breathe")
    finally:
        application.close()
    assert f"call {number} now" in answer
    assert "911" not in answer


def test_a_region_without_a_known_number_is_told_the_local_emergency_number() -> None:
    assert emergency_number("JP") is None


def test_a_retried_webhook_answers_again_and_alerts_once(app: App, client: TestClient) -> None:
    first = answer_to(client, "droopy eyelid")
    again = answer_to(client, "droopy eyelid")

    assert first == again
    assert len(stored(app)) == 1
    assert alert_count(app) == 1


def test_thanks_gets_no_answer_and_waits_for_nobody(app: App, client: TestClient) -> None:
    assert answer_to(client, "Thanks!") == []
    [reply] = stored(app)
    assert (reply.triage, reply.flags, reply.answer) == ("ordinary", None, None)
    assert alert_count(app) == 0
    assert app.replies.open_flagged_count(app.clinic.id) == 0


def test_the_clinics_own_answer_goes_to_an_ordinary_reply(
    tmp_path: Path, database_url: str, clock: FixedClock
) -> None:
    own = "Thank you. This number is not watched: call us on 212-555-0143."
    application = build(tmp_path, database_url, clock, reply_auto_answer=own)
    try:
        with TestClient(create_app(application)) as test_client:
            assert answer_to(test_client, "thanks") == [own]
            assert answer_to(test_client, "no swelling", sid="SM" + "2" * 32) == [own]
            [flagged] = answer_to(test_client, "swelling", sid="SM" + "3" * 32)
    finally:
        application.close()
    assert flagged.startswith("Harbor Skin Clinic: thank you. We have passed")


def test_a_request_in_words_to_stop_is_not_acted_on_until_staff_confirm(
    app: App, client: TestClient
) -> None:
    log(app, phone=PATIENT)
    dispatcher(app, RecordingChannel()).dispatch_due()

    [answer] = answer_to(client, "please stop texting me")

    assert "reply STOP" in answer
    with app.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(SmsOptOut)) == 0
        states = set(session.scalars(sa.select(Message.state)))
    assert MessageState.PENDING.value in states
    assert MessageState.CANCELLED.value not in states
    [reply] = stored(app)
    assert reply.triage == "opt_out_request"
    assert alert_count(app) == 0

    app.replies.confirm_opt_out(app.clinic.id, reply.id, by="Front desk")

    with app.sessions() as session:
        [opt_out] = session.scalars(sa.select(SmsOptOut)).all()
        states = set(session.scalars(sa.select(Message.state)))
    assert (opt_out.phone, opt_out.source) == (PATIENT, "request confirmed by staff")
    assert MessageState.PENDING.value not in states
    [confirmed] = stored(app)
    assert confirmed.acknowledged_by == "Front desk"
    assert confirmed.opt_out_confirmed_at is not None


def test_the_keyword_stop_is_still_handled_at_once(app: App, client: TestClient) -> None:
    assert answer_to(client, "STOP") == []
    [reply] = stored(app)
    assert (reply.kind, reply.triage) == ("opt_out", None)
    with app.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(SmsOptOut)) == 1
