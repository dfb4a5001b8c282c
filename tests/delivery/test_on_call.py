"""A flagged reply reaches the clinic's on-call contact through the real channels, once:
the webhook writes the alerts with the reply, a worker claims and sends them to the
local Twilio and mail relay; a retried webhook and a second worker send nothing more."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from reminders.api.app import create_app
from reminders.bootstrap import App, build_app
from reminders.channels.base import ChannelRegistry, Outgoing
from reminders.clock import FixedClock
from reminders.db.models import InboundMessage, OnCallAlert
from reminders.errors import ChannelError
from reminders.on_call import OnCallSender
from reminders.settings import SmtpSettings, TwilioSettings
from tests.api import TestClient
from tests.conftest import make_settings
from tests.delivery.conftest import PUBLIC_BASE_URL
from tests.delivery.fake_smtp import FakeSmtp
from tests.delivery.fake_twilio import AUTH_TOKEN, FakeTwilio
from tests.support import RecordingChannel, log

CLINIC_SENDER = "+12125550100"
PATIENT = "+12125550199"
ON_CALL_PHONE = "+12125550188"
ON_CALL_EMAIL = "on-call@harbor.example"
DROOPING = "My left eyelid is drooping since this morning"
SID = "SM" + "7" * 32


@pytest.fixture
def app(
    tmp_path: Path,
    database_url: str,
    clock: FixedClock,
    twilio_settings: TwilioSettings,
    smtp_settings: SmtpSettings,
) -> Iterator[App]:
    settings = make_settings(
        tmp_path,
        database_url,
        sms_from=CLINIC_SENDER,
        on_call_phone=ON_CALL_PHONE,
        on_call_email=ON_CALL_EMAIL,
    )
    settings.twilio = twilio_settings
    settings.smtp = smtp_settings
    application = build_app(settings, clock=clock)
    yield application
    application.close()


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    with TestClient(create_app(app)) as test_client:
        yield test_client


def text_in(client: TestClient, body: str, sid: str = SID) -> str:
    """The patient texts the clinic; the webhook's TwiML answer."""
    form = {"From": PATIENT, "To": CLINIC_SENDER, "Body": body, "MessageSid": sid}
    path = "/webhooks/twilio/inbound"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + path, form)
    response = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200, response.text
    return response.text


def on_call(app: App, registry: ChannelRegistry, worker_id: str = "worker-1") -> OnCallSender:
    return app.on_call(registry, worker_id)


def alerts(app: App) -> list[OnCallAlert]:
    with app.sessions() as session:
        return list(session.scalars(sa.select(OnCallAlert).order_by(OnCallAlert.id)))


def on_call_texts(twilio: FakeTwilio) -> list[str]:
    return [r.field("Body") or "" for r in twilio.received if r.to == ON_CALL_PHONE]


def test_the_worker_sends_the_alert_by_twilio_and_by_email(
    app: App,
    client: TestClient,
    registry: ChannelRegistry,
    twilio: FakeTwilio,
    smtp_relay: FakeSmtp,
) -> None:
    treatment = log(app, phone=PATIENT)
    text_in(client, DROOPING)
    assert [a.state for a in alerts(app)] == ["pending", "pending"]

    report = app.worker(registry, worker_id="worker-1").tick()

    assert report.sent == 1  # the patient's first text; the alerts are counted apart
    [text] = on_call_texts(twilio)
    assert text.startswith("Harbor Skin Clinic Flagged reply (reply 1): a drooping eyelid.")
    assert f"Patient: Jane Doe (treatment {treatment.id})" in text
    assert DROOPING in text
    assert PATIENT not in text
    [mail] = smtp_relay.delivered
    assert mail.rcpt_tos == [ON_CALL_EMAIL]
    assert mail.message["Subject"] == "Harbor Skin Clinic: Flagged reply from a patient"
    assert mail.message["Message-ID"].startswith("<reminders.on-call-")
    assert DROOPING in mail.message.get_content()
    assert [(a.channel, a.state, a.attempts) for a in alerts(app)] == [
        ("sms", "sent", 1),
        ("email", "sent", 1),
    ]


def test_a_retried_webhook_alerts_once(
    app: App,
    client: TestClient,
    registry: ChannelRegistry,
    twilio: FakeTwilio,
    smtp_relay: FakeSmtp,
) -> None:
    first = text_in(client, DROOPING)
    on_call(app, registry).send_due()
    again = text_in(client, DROOPING)  # Twilio retries: our answer did not reach it
    on_call(app, registry).send_due()

    assert len(on_call_texts(twilio)) == 1
    assert len(smtp_relay.delivered) == 1
    assert len(alerts(app)) == 2
    assert again == first  # the patient still gets the answer, once Twilio has it


def test_a_second_worker_finds_nothing_to_claim_while_the_first_sends(
    app: App, client: TestClient
) -> None:
    text_in(client, "I can't breathe")
    channel = RecordingChannel()
    second = on_call(app, channel.registry(), "worker-2")
    during: list[int] = []

    def second_worker_passes(_outgoing: Outgoing) -> None:
        during.append(second.send_due().sent)

    channel.before_send = second_worker_passes
    first = on_call(app, channel.registry(), "worker-1").send_due()

    assert first.sent == 2
    assert during == [0, 0]
    assert [o.to for o in channel.sent] == [ON_CALL_PHONE, ON_CALL_EMAIL]
    assert channel.sent[0].body.startswith("Harbor Skin Clinic EMERGENCY (reply 1)")
    assert second.send_due().sent == 0


def test_a_failed_send_is_retried_later_and_sent_once(
    app: App, client: TestClient, clock: FixedClock
) -> None:
    text_in(client, DROOPING)
    channel = RecordingChannel()
    channel.fail_next(ChannelError("Twilio 503: server error", permanent=False))
    sender = on_call(app, channel.registry())

    first = sender.send_due()
    assert (first.retried, first.sent) == (1, 1)
    [sms, _email] = alerts(app)
    assert (sms.state, sms.last_error) == ("pending", "Twilio 503: server error")
    assert sender.next_wake() == sms.send_after

    clock.advance(sms.send_after - clock.now())
    assert sender.send_due().sent == 1
    assert [(a.state, a.attempts) for a in alerts(app)] == [("sent", 2), ("sent", 1)]
    assert [o.to for o in channel.sent] == [ON_CALL_EMAIL, ON_CALL_PHONE]


def test_a_permanent_refusal_fails_the_alert_without_retrying(app: App, client: TestClient) -> None:
    text_in(client, DROOPING)
    channel = RecordingChannel()
    channel.fail_next(ChannelError("Twilio 400 error 21211: invalid To", permanent=True))

    report = on_call(app, channel.registry()).send_due()

    assert (report.failed, report.sent) == (1, 1)
    assert [a.state for a in alerts(app)] == ["failed", "sent"]


def test_a_claim_whose_worker_died_is_sent_again_after_its_lease(
    app: App, client: TestClient, clock: FixedClock
) -> None:
    text_in(client, DROOPING)
    channel = RecordingChannel()

    def dies(_outgoing: Outgoing) -> None:
        raise KeyboardInterrupt

    channel.before_send = dies
    with pytest.raises(KeyboardInterrupt):
        on_call(app, channel.registry()).send_due()
    channel.before_send = None
    assert on_call(app, channel.registry(), "worker-2").send_due().sent == 0  # still leased

    clock.advance(app.on_call(channel.registry(), "x").lease)
    assert on_call(app, channel.registry(), "worker-2").send_due().sent == 0  # ends now
    clock.advance(timedelta(seconds=1))
    report = on_call(app, channel.registry(), "worker-2").send_due()

    assert (report.recovered, report.sent) == (2, 2)


def test_logs_carry_no_phone_email_or_reply(
    app: App,
    client: TestClient,
    registry: ChannelRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        log(app, phone=PATIENT)
        text_in(client, DROOPING)
        app.worker(registry, worker_id="worker-1").tick()
        text_in(client, "please stop texting me", sid="SM" + "8" * 32)

    # Ours: the local servers standing in for the providers log what they receive.
    records = [r for r in caplog.records if r.name.startswith("reminders")]
    assert any(r.getMessage() == "on-call alert sent" for r in records)
    assert any(r.getMessage() == "inbound text" for r in records)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in records)
    for secret in (PATIENT, PATIENT[2:], ON_CALL_PHONE, ON_CALL_PHONE[2:], ON_CALL_EMAIL):
        assert secret not in logged
    # Flag ids are logged (drooping-eyelid); what the patient wrote is not.
    for text in ("eyelid is drooping", "since this morning", "stop texting", "Jane"):
        assert text not in logged


def test_without_an_on_call_contact_no_alert_is_written(
    tmp_path: Path, database_url: str, clock: FixedClock, twilio_settings: TwilioSettings
) -> None:
    settings = make_settings(tmp_path, database_url, sms_from=CLINIC_SENDER)
    settings.twilio = twilio_settings
    application = build_app(settings, clock=clock)
    try:
        with TestClient(create_app(application)) as test_client:
            answer = text_in(test_client, DROOPING)
        assert "(212) 555-0143" in answer
        assert alerts(application) == []
        with application.sessions() as session:
            [reply] = session.scalars(sa.select(InboundMessage)).all()
        assert (reply.triage, reply.flags, reply.acknowledged_at) == (
            "clinical",
            "drooping-eyelid",
            None,
        )
        assert [r.id for r in application.replies.open_flagged(application.clinic.id)] == [reply.id]
    finally:
        application.close()


def test_a_flagged_reply_wakes_the_worker_at_its_commit(app: App, client: TestClient) -> None:
    rung: list[bool] = []
    app.bell.subscribe(lambda: rung.append(True))

    text_in(client, "thanks", sid="SM" + "1" * 32)
    assert rung == []
    text_in(client, DROOPING)

    assert rung == [True]


def test_a_worker_pass_sends_the_on_call_alerts_before_the_messages_due(
    app: App, client: TestClient
) -> None:
    log(app, phone=PATIENT)
    text_in(client, "I can't breathe")
    channel = RecordingChannel()

    app.worker(channel.registry(), worker_id="worker-1").tick()

    assert [o.to for o in channel.sent] == [ON_CALL_PHONE, ON_CALL_EMAIL, PATIENT]
