"""Twilio's webhooks: signed status callbacks move delivery forward only; STOP, START
and HELP replies; unsigned or wrongly signed requests change nothing."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.exceptions import StarletteDeprecationWarning
from twilio.request_validator import RequestValidator

from reminders.bootstrap import App, build_app
from reminders.clock import FixedClock
from reminders.db.models import InboundMessage, Message, SmsOptOut
from reminders.domain import MessageState
from reminders.settings import TwilioSettings
from tests.conftest import make_settings
from tests.support import RecordingChannel, dispatcher, log

with warnings.catch_warnings():
    # Starlette's test client warns that it prefers httpx2; not our concern here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from reminders.api.app import create_app

TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC = "https://reminders.example.org"
CLINIC_SENDER = "+12125550100"
PATIENT = "+12125550199"


@pytest.fixture
def app(tmp_path: Path, database_url: str, clock: FixedClock) -> Iterator[App]:
    settings = make_settings(tmp_path, database_url, sms_from=CLINIC_SENDER)
    settings.twilio = TwilioSettings(
        account_sid="AC" + "0" * 32,
        auth_token=TOKEN,
        from_number="+12125550111",
        public_base_url=PUBLIC,
    )
    application = build_app(settings, clock=clock)
    yield application
    application.close()


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    with TestClient(create_app(app)) as test_client:
        yield test_client


def post_signed(
    client: TestClient, path: str, form: dict[str, str], *, signature: str | None = None
) -> object:
    if signature is None:
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def sent_avoid(app: App) -> Message:
    treatment = log(app, phone=PATIENT)
    channel = RecordingChannel()
    dispatcher(app, channel).dispatch_due()
    with app.sessions() as session:
        return session.scalars(
            sa.select(Message).where(
                Message.treatment_id == treatment.id, Message.step_id == "avoid"
            )
        ).one()


def reload(app: App, message_id: int) -> Message:
    with app.sessions() as session:
        message = session.get(Message, message_id)
        assert message is not None
        return message


def status_form(sid: str, status: str, error: str | None = None) -> dict[str, str]:
    form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
    if error:
        form["ErrorCode"] = error
    return form


def test_signed_status_callback_moves_delivery_forward(app: App, client: TestClient) -> None:
    message = sent_avoid(app)
    assert message.provider_id is not None
    response = post_signed(
        client, "/webhooks/twilio/status", status_form(message.provider_id, "sent")
    )
    assert response.status_code == 204  # type: ignore[attr-defined]
    post_signed(client, "/webhooks/twilio/status", status_form(message.provider_id, "delivered"))
    stored = reload(app, message.id)
    assert stored.delivery_status == "delivered"
    assert stored.state == MessageState.SENT.value


def test_replayed_or_older_status_does_not_move_delivery_back(app: App, client: TestClient) -> None:
    message = sent_avoid(app)
    assert message.provider_id is not None
    post_signed(client, "/webhooks/twilio/status", status_form(message.provider_id, "delivered"))
    post_signed(client, "/webhooks/twilio/status", status_form(message.provider_id, "sent"))
    post_signed(client, "/webhooks/twilio/status", status_form(message.provider_id, "delivered"))
    post_signed(
        client, "/webhooks/twilio/status", status_form(message.provider_id, "undelivered", "30003")
    )
    stored = reload(app, message.id)
    assert stored.delivery_status == "delivered"
    assert stored.delivery_error is None


def test_undelivered_with_error_code_is_recorded(app: App, client: TestClient) -> None:
    message = sent_avoid(app)
    assert message.provider_id is not None
    post_signed(
        client, "/webhooks/twilio/status", status_form(message.provider_id, "undelivered", "30003")
    )
    stored = reload(app, message.id)
    assert (stored.delivery_status, stored.delivery_error) == ("undelivered", "30003")
    problems = app.service.delivery_problems(app.clinic.id, since=app.clock.now())
    assert [m.id for m in problems] == [message.id]


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"], ids=["missing", "wrong"])
def test_unsigned_or_wrongly_signed_status_is_403_and_changes_nothing(
    app: App, client: TestClient, signature: str
) -> None:
    message = sent_avoid(app)
    assert message.provider_id is not None
    response = post_signed(
        client,
        "/webhooks/twilio/status",
        status_form(message.provider_id, "delivered"),
        signature=signature,
    )
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert reload(app, message.id).delivery_status is None


def test_signature_is_checked_against_the_public_url_not_the_local_one(
    app: App, client: TestClient
) -> None:
    message = sent_avoid(app)
    assert message.provider_id is not None
    form = status_form(message.provider_id, "delivered")
    local = RequestValidator(TOKEN).compute_signature(
        "http://testserver/webhooks/twilio/status", form
    )
    response = post_signed(client, "/webhooks/twilio/status", form, signature=local)
    assert response.status_code == 403  # type: ignore[attr-defined]


def inbound(body: str, sid: str = "SM" + "1" * 32) -> dict[str, str]:
    return {"From": PATIENT, "To": CLINIC_SENDER, "Body": body, "MessageSid": sid}


@pytest.mark.parametrize("keyword", ["STOP", "stop", " Unsubscribe ", "OPTOUT", "revoke"])
def test_stop_records_the_opt_out_and_cancels_pending_texts(
    app: App, client: TestClient, keyword: str
) -> None:
    message = sent_avoid(app)
    response = post_signed(client, "/webhooks/twilio/inbound", inbound(keyword))
    assert response.status_code == 200  # type: ignore[attr-defined]
    with app.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(SmsOptOut)) == 1
        all_clear = session.scalars(
            sa.select(Message).where(
                Message.treatment_id == message.treatment_id, Message.step_id == "all_clear"
            )
        ).one()
    assert all_clear.state == MessageState.CANCELLED.value
    assert all_clear.reason is not None
    assert "opted out" in all_clear.reason


def test_a_later_text_to_an_opted_out_number_is_never_attempted(
    app: App, client: TestClient, clock: FixedClock
) -> None:
    sent_avoid(app)
    post_signed(client, "/webhooks/twilio/inbound", inbound("STOP"))
    channel = RecordingChannel()
    log(app, phone=PATIENT)  # a new treatment for the same patient
    dispatcher(app, channel).dispatch_due()
    assert channel.sent == []


def test_start_opts_back_in(app: App, client: TestClient) -> None:
    sent_avoid(app)
    post_signed(client, "/webhooks/twilio/inbound", inbound("STOP", sid="SM" + "2" * 32))
    post_signed(client, "/webhooks/twilio/inbound", inbound("START", sid="SM" + "3" * 32))
    channel = RecordingChannel()
    log(app, phone=PATIENT)
    dispatcher(app, channel).dispatch_due()
    assert len(channel.sent) == 1


def test_help_replies_with_the_clinic_name_and_phone(app: App, client: TestClient) -> None:
    response = post_signed(client, "/webhooks/twilio/inbound", inbound("help"))
    text = response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/xml")  # type: ignore[attr-defined]
    assert "<Message>Harbor Skin Clinic" in text
    assert "(212) 555-0143" in text


def test_other_replies_are_kept_on_the_patient_timeline(app: App, client: TestClient) -> None:
    message = sent_avoid(app)
    post_signed(client, "/webhooks/twilio/inbound", inbound("Is swimming ok?"))
    post_signed(client, "/webhooks/twilio/inbound", inbound("Is swimming ok?"))  # retried
    with app.sessions() as session:
        rows = session.scalars(sa.select(InboundMessage)).all()
    assert [(r.kind, r.body) for r in rows] == [("reply", "Is swimming ok?")]
    treatment = app.service.treatment(app.clinic.id, message.treatment_id)
    assert rows[0].patient_id == treatment.patient_id


def test_unsigned_stop_changes_nothing(app: App, client: TestClient) -> None:
    sent_avoid(app)
    response = post_signed(client, "/webhooks/twilio/inbound", inbound("STOP"), signature="")
    assert response.status_code == 403  # type: ignore[attr-defined]
    with app.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(SmsOptOut)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 0
