"""What the worker makes of each provider outcome, through the real channels and databases.

The dispatcher sends through TwilioSmsChannel and SmtpEmailChannel to the local
servers; the servers count what actually arrived, so "no message lost, none
sent twice" is checked where a patient would notice it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from reminders.bootstrap import App, default_channels
from reminders.channels.base import ChannelRegistry
from reminders.clock import FixedClock
from reminders.db.models import Message, Patient, SmsOptOut
from reminders.domain import MessageState
from reminders.settings import SmtpSettings, TwilioSettings
from tests.conftest import NOW, clinic_settings
from tests.delivery.fake_smtp import FakeSmtp
from tests.delivery.fake_twilio import FakeTwilio, Fault
from tests.support import log

PHONE = "+12125550199"
EMAIL = "jane.doe@example.com"
CLINIC_FROM = "+13125550143"
RESTRICTION = timedelta(hours=4)


# -- helpers -----------------------------------------------------------------------


def messages(app: App) -> list[Message]:
    with app.sessions() as session:
        return list(session.scalars(sa.select(Message).order_by(Message.id)))


def one(app: App, treatment_id: int, step: str, channel: str = "sms") -> Message:
    [message] = [
        m
        for m in messages(app)
        if m.treatment_id == treatment_id and m.step_id == step and m.channel == channel
    ]
    return message


def opt_outs(app: App) -> list[SmsOptOut]:
    with app.sessions() as session:
        return list(session.scalars(sa.select(SmsOptOut)))


def assert_each_sent_message_arrived_once(app: App, twilio: FakeTwilio, relay: FakeSmtp) -> None:
    """Every message marked sent reached its server exactly once, and nothing else did."""
    sent = [m for m in messages(app) if m.state == MessageState.SENT.value]
    texts = sorted(m.provider_id or "" for m in sent if m.channel == "sms")
    emails = sorted(m.provider_id or "" for m in sent if m.channel == "email")
    assert texts == sorted(r.sid or "" for r in twilio.received if r.status == 201)
    assert emails == sorted(d.message["Message-ID"] for d in relay.delivered)


def retry_now(app: App, clock: FixedClock, message_id: int) -> None:
    """Move the clock to the message's next attempt."""
    [message] = [m for m in messages(app) if m.id == message_id]
    assert message.state == MessageState.PENDING.value
    clock.set(message.send_after)


# -- transient errors: retried, then sent once -------------------------------------------


def test_rate_limited_text_waits_for_retry_after_and_is_sent_once(
    app: App,
    clock: FixedClock,
    twilio: FakeTwilio,
    smtp_relay: FakeSmtp,
    registry: ChannelRegistry,
) -> None:
    twilio.retry_after = 120  # longer than the first backoff (15-30 s): it sets the wait
    twilio.fail_to(PHONE, Fault.RATE_LIMITED, times=1)
    treatment = log(app, phone=PHONE)
    worker = app.dispatcher(registry, worker_id="w1")

    report = worker.dispatch_due()
    avoid = one(app, treatment.id, "avoid")
    assert (report.sent, report.retried) == (0, 1)
    assert avoid.state == MessageState.PENDING.value
    assert avoid.send_after == NOW + timedelta(seconds=120)
    assert avoid.last_error is not None
    assert "429" in avoid.last_error

    clock.set(NOW + timedelta(seconds=119))
    assert worker.dispatch_due().sent == 0
    assert len(twilio.requests_to(PHONE)) == 1

    retry_now(app, clock, avoid.id)
    assert worker.dispatch_due().sent_ids == [avoid.id]
    avoid = one(app, treatment.id, "avoid")
    assert avoid.state == MessageState.SENT.value
    assert avoid.attempts == 2
    assert avoid.sent_at == NOW + timedelta(seconds=120)
    assert [r.status for r in twilio.requests_to(PHONE)] == [429, 201]
    assert avoid.provider_id == twilio.requests_to(PHONE)[-1].sid
    assert_each_sent_message_arrived_once(app, twilio, smtp_relay)


# -- a number that cannot take texts ----------------------------------------------------


@pytest.mark.parametrize("fault", [Fault.INVALID_TO, Fault.NOT_MOBILE], ids=str)
def test_bad_number_fails_the_text_and_the_step_goes_by_email(
    app: App,
    twilio: FakeTwilio,
    smtp_relay: FakeSmtp,
    registry: ChannelRegistry,
    fault: Fault,
) -> None:
    twilio.fail_to(PHONE, fault)
    treatment = log(app, phone=PHONE, email=EMAIL)

    report = app.dispatcher(registry, worker_id="w1").dispatch_due()

    text = one(app, treatment.id, "avoid")
    assert text.state == MessageState.FAILED.value
    assert text.reason is not None
    assert fault.value in text.reason
    assert PHONE.lstrip("+") not in text.reason
    email = one(app, treatment.id, "avoid", channel="email")
    assert email.note is not None
    assert f"text message {text.id}" in email.note
    assert email.state == MessageState.SENT.value
    assert report.sent_ids == [email.id]
    assert len(twilio.requests_to(PHONE)) == 1  # a permanent refusal is not retried
    [delivered] = smtp_relay.delivered
    assert delivered.rcpt_tos == [EMAIL]
    assert f"reminders.{email.id}@" in delivered.message["Message-ID"]
    assert delivered.message["Subject"] == email.subject
    assert_each_sent_message_arrived_once(app, twilio, smtp_relay)


@pytest.mark.parametrize("fault", [Fault.INVALID_TO, Fault.NOT_MOBILE], ids=str)
def test_bad_number_without_an_email_address_fails_with_the_reason(
    app: App,
    twilio: FakeTwilio,
    smtp_relay: FakeSmtp,
    registry: ChannelRegistry,
    fault: Fault,
) -> None:
    twilio.fail_to(PHONE, fault)
    treatment = log(app, phone=PHONE)

    report = app.dispatcher(registry, worker_id="w1").dispatch_due()

    text = one(app, treatment.id, "avoid")
    assert (report.failed, report.sent) == (1, 0)
    assert text.state == MessageState.FAILED.value
    assert text.reason is not None
    assert fault.value in text.reason
    assert "cannot receive SMS" in text.reason
    assert [m.channel for m in messages(app)] == ["sms", "sms"]  # no email planned
    assert smtp_relay.delivered == []
    assert_each_sent_message_arrived_once(app, twilio, smtp_relay)


def test_bad_number_is_not_emailed_when_the_clinic_turned_fallback_off(
    app: App, twilio: FakeTwilio, smtp_relay: FakeSmtp, registry: ChannelRegistry
) -> None:
    app.service.sync_clinic(clinic_settings(email_fallback=False))
    twilio.fail_to(PHONE, Fault.INVALID_TO)
    treatment = log(app, phone=PHONE, email=EMAIL)

    app.dispatcher(registry, worker_id="w1").dispatch_due()

    assert one(app, treatment.id, "avoid").state == MessageState.FAILED.value
    assert [m.channel for m in messages(app)] == ["sms", "sms"]
    assert smtp_relay.delivered == []


def test_bounced_email_fails_and_is_not_planned_again_as_another_email(
    app: App, twilio: FakeTwilio, smtp_relay: FakeSmtp, registry: ChannelRegistry
) -> None:
    # The fallback is for texts: an address that refuses mail gets no second email.
    # (Refused three times only, so that a fallback loop, if any, ends.)
    smtp_relay.reply_next("rcpt", "550 5.1.1 No such user", times=3)
    treatment = log(app, phone=None, email=EMAIL)

    app.dispatcher(registry, worker_id="w1").dispatch_due()

    emails = [m for m in messages(app) if m.treatment_id == treatment.id and m.step_id == "avoid"]
    assert [(m.channel, m.state) for m in emails] == [("email", "failed")]
    assert emails[0].reason is not None
    assert "550" in emails[0].reason
    assert smtp_relay.rcpt_attempts == [EMAIL]
    assert smtp_relay.delivered == []


def test_text_then_email_to_bad_addresses_stops_after_the_email(
    app: App, twilio: FakeTwilio, smtp_relay: FakeSmtp, registry: ChannelRegistry
) -> None:
    twilio.fail_to(PHONE, Fault.INVALID_TO)
    smtp_relay.reply_next("rcpt", "550 5.1.1 No such user", times=3)
    treatment = log(app, phone=PHONE, email=EMAIL)

    app.dispatcher(registry, worker_id="w1").dispatch_due()

    avoid = [m for m in messages(app) if m.treatment_id == treatment.id and m.step_id == "avoid"]
    assert [(m.channel, m.state) for m in avoid] == [("sms", "failed"), ("email", "failed")]
    assert len(twilio.requests_to(PHONE)) == 1
    assert smtp_relay.rcpt_attempts == [EMAIL]
    assert smtp_relay.delivered == []


# -- the patient unsubscribed (21610) -------------------------------------------------


def test_unsubscribed_number_is_recorded_and_never_texted_again(
    app: App,
    clock: FixedClock,
    twilio: FakeTwilio,
    smtp_relay: FakeSmtp,
    registry: ChannelRegistry,
) -> None:
    twilio.fail_to(PHONE, Fault.UNSUBSCRIBED)
    treatment = log(app, phone=PHONE)
    worker = app.dispatcher(registry, worker_id="w1")

    report = worker.dispatch_due()

    assert report.failed == 1
    avoid = one(app, treatment.id, "avoid")
    assert avoid.state == MessageState.FAILED.value
    assert avoid.reason is not None
    assert "21610" in avoid.reason
    [opt_out] = opt_outs(app)
    assert (opt_out.clinic_id, opt_out.phone) == (app.clinic.id, PHONE)
    assert "21610" in opt_out.source
    all_clear = one(app, treatment.id, "all_clear")
    assert all_clear.state == MessageState.CANCELLED.value
    assert all_clear.reason is not None
    assert "opted out" in all_clear.reason

    # When the all-clear would have been due: nothing goes to that number.
    clock.advance(RESTRICTION)
    worker.dispatch_due()
    # Nor for a treatment logged later for the same patient: its first text is stopped
    # when it falls due, and the rest of its texts with it.
    later = log(app, phone=PHONE)
    worker.dispatch_due()

    assert len(twilio.requests_to(PHONE)) == 1
    avoid = one(app, later.id, "avoid")
    assert avoid.state == MessageState.SKIPPED.value
    assert avoid.reason is not None
    assert "opted out" in avoid.reason
    later_all_clear = one(app, later.id, "all_clear")
    assert later_all_clear.state == MessageState.CANCELLED.value
    assert later_all_clear.reason is not None
    assert "opted out" in later_all_clear.reason
    assert {m.state for m in messages(app)} == {"failed", "cancelled", "skipped"}
    assert_each_sent_message_arrived_once(app, twilio, smtp_relay)


def test_unsubscribe_stops_a_text_to_the_same_number_claimed_in_the_same_pass(
    app: App, twilio: FakeTwilio, smtp_relay: FakeSmtp, registry: ChannelRegistry
) -> None:
    twilio.fail_to(PHONE, Fault.UNSUBSCRIBED)
    first = log(app, phone=PHONE, at=NOW - timedelta(minutes=10))
    second = log(app, phone=PHONE)

    app.dispatcher(registry, worker_id="w1").dispatch_due()

    assert len(twilio.requests_to(PHONE)) == 1
    assert one(app, first.id, "avoid").state == MessageState.FAILED.value
    assert one(app, second.id, "avoid").state == MessageState.CANCELLED.value
    assert {m.state for m in messages(app)} == {"failed", "cancelled"}
    assert_each_sent_message_arrived_once(app, twilio, smtp_relay)


# -- consent withdrawn after planning ---------------------------------------------------


def test_text_without_consent_at_send_time_is_skipped_and_nothing_is_sent(
    app: App, twilio: FakeTwilio, smtp_relay: FakeSmtp, registry: ChannelRegistry
) -> None:
    treatment = log(app, phone=PHONE)
    with app.sessions.begin() as session:
        session.execute(sa.update(Patient).values(sms_consent_at=None))

    report = app.dispatcher(registry, worker_id="w1").dispatch_due()

    avoid = one(app, treatment.id, "avoid")
    assert (report.skipped, report.sent) == (1, 0)
    assert avoid.state == MessageState.SKIPPED.value
    assert avoid.reason == "no consent to texts on record"
    assert twilio.received == []
    assert smtp_relay.delivered == []


def test_text_without_consent_goes_by_email_when_the_patient_has_one(
    app: App, twilio: FakeTwilio, smtp_relay: FakeSmtp, registry: ChannelRegistry
) -> None:
    treatment = log(app, phone=PHONE, email=EMAIL)
    with app.sessions.begin() as session:
        session.execute(sa.update(Patient).values(sms_consent_at=None))

    app.dispatcher(registry, worker_id="w1").dispatch_due()

    assert one(app, treatment.id, "avoid").state == MessageState.SKIPPED.value
    assert one(app, treatment.id, "avoid", channel="email").state == MessageState.SENT.value
    assert twilio.received == []
    assert [d.rcpt_tos for d in smtp_relay.delivered] == [[EMAIL]]
    assert_each_sent_message_arrived_once(app, twilio, smtp_relay)


# -- the deployment's channels -------------------------------------------------------


def test_configured_twilio_and_smtp_are_the_channels_the_worker_uses(
    app: App,
    clock: FixedClock,
    twilio: FakeTwilio,
    smtp_relay: FakeSmtp,
    twilio_settings: TwilioSettings,
    smtp_settings: SmtpSettings,
) -> None:
    settings = app.settings.model_copy(update={"twilio": twilio_settings, "smtp": smtp_settings})
    channels = default_channels(settings)
    assert channels.describe() == {"sms": "twilio", "email": "smtp"}

    text_only = log(app, phone=PHONE)
    by_email = log(app, phone=None, email=EMAIL, name="Ann Lee")
    app.dispatcher(channels, worker_id="w1").dispatch_due()
    clock.advance(RESTRICTION)
    app.dispatcher(channels, worker_id="w1").dispatch_due()

    for treatment in (text_only, by_email):
        steps = [m for m in messages(app) if m.treatment_id == treatment.id]
        assert [m.state for m in steps] == ["sent", "sent"]
    assert len(twilio.created_for(PHONE)) == 2
    assert [d.rcpt_tos for d in smtp_relay.delivered] == [[EMAIL], [EMAIL]]
    assert_each_sent_message_arrived_once(app, twilio, smtp_relay)


def test_a_clinic_with_its_own_number_texts_from_it(
    app: App, twilio: FakeTwilio, smtp_relay: FakeSmtp, registry: ChannelRegistry
) -> None:
    app.service.sync_clinic(clinic_settings(sms_from=CLINIC_FROM))
    log(app, phone=PHONE)

    app.dispatcher(registry, worker_id="w1").dispatch_due()

    [request] = twilio.requests_to(PHONE)
    assert request.status == 201
    assert request.form["From"] == [CLINIC_FROM]
    assert "MessagingServiceSid" not in request.form
    assert_each_sent_message_arrived_once(app, twilio, smtp_relay)
