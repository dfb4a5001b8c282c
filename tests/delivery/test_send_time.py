"""Send-time decisions through the real channels, on both databases.

The worker sends through TwilioSmsChannel (the `twilio` SDK) and SmtpEmailChannel
(smtplib) to the local servers, with the clock moved by hand: texts carry a
ValidityPeriod bounded by what is left of their step, stale words are written
again or the step skipped, quiet hours hold a retried all-clear, a patient
who stops texts gets the rest of their aftercare by email (or the desk is
told to call), refused credentials make the queue wait instead of failing it,
one greylisted address does not pause the email channel, and a delivery
report that arrives before the worker recorded the send is applied later.
"""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from starlette.exceptions import StarletteDeprecationWarning
from twilio.request_validator import RequestValidator

from reminders.bootstrap import App, build_app
from reminders.channels.base import ChannelRegistry
from reminders.clock import FixedClock
from reminders.db.models import EarlyDeliveryReport, MessageEvent, SmsOptOut
from reminders.dispatch import Dispatcher
from reminders.domain import AlertKind, ChannelKind, EventKind, MessageState
from reminders.settings import TwilioSettings
from tests.conftest import NOW, make_settings
from tests.delivery.conftest import DEFAULT_FROM, PUBLIC_BASE_URL
from tests.delivery.fake_smtp import PASSWORD, FakeSmtp
from tests.delivery.fake_twilio import AUTH_TOKEN, VALIDITY_PERIOD, FakeTwilio, Fault
from tests.delivery.test_delivery_outcomes import messages, one
from tests.support import log

with warnings.catch_warnings():
    # Starlette's test client warns that it prefers httpx2; not our concern here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from reminders.api.app import create_app

PHONE = "+12125550199"
OTHER_PHONE = "+12125550188"
EMAIL = "jane.doe@example.com"
OTHER_EMAIL = "ann.lee@example.com"
RESTRICTION = timedelta(hours=4)
NEW_YORK = ZoneInfo("America/New_York")
STATUS_PATH = "/webhooks/twilio/status"
INBOUND_PATH = "/webhooks/twilio/inbound"
FOREIGN_SID = "SM" + "f" * 32  # no message will ever carry it
AVOID_SMS = (
    "Harbor Skin Clinic: for the next {remaining} (until {until}) please avoid exercise, "
    "facials, rubbing the treated area, lying flat and bending over. Drooping eyelid, severe "
    "swelling or bruising? No exercise; call (212) 555-0143"
)


# -- fixtures ----------------------------------------------------------------------


@pytest.fixture
def app(
    tmp_path: Path, database_url: str, clock: FixedClock, twilio_settings: TwilioSettings
) -> Iterator[App]:
    """The service with the channel's own Twilio settings: the webhooks it serves check
    signatures with the token and public URL the status callbacks are made for."""
    settings = make_settings(tmp_path, database_url)
    settings.twilio = twilio_settings
    application = build_app(settings, clock=clock)
    yield application
    application.close()


@pytest.fixture
def api_url(app: App) -> Iterator[str]:
    """The API, served by uvicorn on a real port in a thread, over the same service and clock."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    host, port = listener.getsockname()[:2]
    config = uvicorn.Config(create_app(app), log_config=None, lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="api")
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not server.started:
            assert thread.is_alive(), "the API server stopped while starting"
            assert time.monotonic() < deadline, "the API server did not start within 5 s"
            time.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
        listener.close()
        assert not thread.is_alive(), "the API server did not stop within 5 s"


# -- helpers -----------------------------------------------------------------------


def plan_of(app: App, treatment_id: int) -> list[tuple[str, str, str]]:
    """The treatment's messages as (step, channel, state), in id order."""
    return [
        (m.step_id, m.channel, m.state) for m in messages(app) if m.treatment_id == treatment_id
    ]


def history(app: App, message_id: int, kind: EventKind | None = None) -> list[MessageEvent]:
    with app.sessions() as session:
        query = sa.select(MessageEvent).where(MessageEvent.message_id == message_id)
        if kind is not None:
            query = query.where(MessageEvent.kind == kind.value)
        return list(session.scalars(query.order_by(MessageEvent.id)))


def early_reports(app: App) -> list[tuple[str, str]]:
    with app.sessions() as session:
        rows = session.scalars(sa.select(EarlyDeliveryReport).order_by(EarlyDeliveryReport.id))
        return [(r.provider_id, r.status) for r in rows]


def failed_count(app: App) -> int:
    return sum(m.state == MessageState.FAILED.value for m in messages(app))


def worker_for(app: App, registry: ChannelRegistry) -> Dispatcher:
    return app.dispatcher(registry, worker_id="w1")


def local(hour: int, minute: int = 0, *, day: int = 27) -> datetime:
    """A wall time in New York, the clinic's zone, in November 2026."""
    return datetime(2026, 11, day, hour, minute, tzinfo=NEW_YORK)


def avoid_text(remaining: str, until: str) -> str:
    return AVOID_SMS.format(remaining=remaining, until=until)


def assert_validity_periods_bounded(twilio: FakeTwilio) -> None:
    """Every request Twilio received carried a ValidityPeriod Twilio accepts."""
    received = twilio.received
    assert received, "Twilio received nothing"
    low, high = VALIDITY_PERIOD
    for request in received:
        period = request.validity_period
        assert period is not None, f"no ValidityPeriod in {request.form}"
        assert low <= period <= high


def sign(path: str, form: dict[str, str]) -> dict[str, str]:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + path, form)
    return {"X-Twilio-Signature": signature}


def text_stop(app: App, phone: str = PHONE) -> None:
    """The patient replies STOP: Twilio's signed inbound webhook, through the API."""
    form = {"From": phone, "To": DEFAULT_FROM, "Body": "STOP", "MessageSid": "SM" + "1" * 32}
    with TestClient(create_app(app)) as client:
        response = client.post(INBOUND_PATH, data=form, headers=sign(INBOUND_PATH, form))
    assert response.status_code == 200


def passes_over_paused_channel(
    worker: Dispatcher,
    clock: FixedClock,
    *,
    until: datetime,
    before_each: Callable[[], None] = lambda: None,
) -> int:
    """Run the worker each time its paused channel resumes, as its scheduler would,
    while a whole pause still ends by `until`; returns how many passes ran.

    Each pass must leave the channel paused (the provider refused again). The
    channel is free again, at the latest, at `until`.
    """
    passes = 0
    while clock.now() + worker.breaker.longest <= until:
        before_each()
        worker.dispatch_due()
        passes += 1
        resumes = worker.breaker.resumes_at(clock.now())
        assert resumes is not None, f"pass {passes} left no channel paused"
        assert resumes <= until
        clock.set(resumes)
    assert passes > 0
    return passes


# -- 1. ValidityPeriod: present and bounded ----------------------------------------------


def test_texts_sent_on_time_carry_the_validity_left_on_their_step(
    app: App, clock: FixedClock, twilio: FakeTwilio, registry: ChannelRegistry
) -> None:
    treatment = log(app, phone=PHONE)
    worker = worker_for(app, registry)

    assert worker.dispatch_due().sent == 1
    clock.set(NOW + RESTRICTION)
    assert worker.dispatch_due().sent == 1

    avoid = one(app, treatment.id, "avoid")
    all_clear = one(app, treatment.id, "all_clear")
    requests = twilio.requests_to(PHONE)
    assert [(r.status, r.sid) for r in requests] == [
        (201, avoid.provider_id),
        (201, all_clear.provider_id),
    ]
    # The avoid text is true until the restriction ends, 4 hours after it went; the
    # all-clear for 12 hours, more than Twilio keeps a message: capped at its 36000 s.
    assert [r.validity_period for r in requests] == [14400, 36000]
    # On time: the planned words went as they were.
    assert requests[0].field("Body") == avoid.body == avoid_text("4 hours", "6:00 PM")
    assert (avoid.sent_body, all_clear.sent_body) == (None, None)
    assert_validity_periods_bounded(twilio)


def test_avoid_text_sent_late_is_written_again_for_the_time_left(
    app: App, clock: FixedClock, twilio: FakeTwilio, registry: ChannelRegistry
) -> None:
    treatment = log(app, phone=PHONE)
    planned = one(app, treatment.id, "avoid")
    assert planned.body == avoid_text("4 hours", "6:00 PM")

    clock.set(NOW + timedelta(hours=3, minutes=30))  # the worker was away
    report = worker_for(app, registry).dispatch_due()

    avoid = one(app, treatment.id, "avoid")
    assert report.sent_ids == [avoid.id]
    [request] = twilio.requests_to(PHONE)
    assert (request.status, request.sid) == (201, avoid.provider_id)
    assert request.validity_period == 1800
    written = avoid_text("30 minutes", "6:00 PM")
    assert request.field("Body") == written
    assert avoid.sent_body == written
    assert avoid.sent_subject is None
    assert avoid.body == planned.body  # the plan keeps what was planned
    [sent] = history(app, avoid.id, EventKind.SENT)
    assert sent.detail == (
        "text written anew for the moment it went, 3 hours and 30 minutes after it was due"
    )
    assert_validity_periods_bounded(twilio)


# -- 2. A text gone stale during an outage -------------------------------------------------


def outage_then_recovery(
    app: App,
    clock: FixedClock,
    twilio: FakeTwilio,
    registry: ChannelRegistry,
    *,
    left_when_logged: timedelta,
    left_at_recovery: timedelta,
) -> tuple[int, int, int]:
    """Two patients' avoid texts due now; Twilio refuses everything (429: not processed)
    until `left_at_recovery` before the first patient's restriction ends. Returns the
    two treatment ids and how many requests met the outage.

    A refusal that may have been processed (a 5xx) would instead hold its text
    until it has been looked for at Twilio: see test_reconcile.py."""
    late = log(app, phone=PHONE, at=NOW - RESTRICTION + left_when_logged)
    other = log(app, phone=OTHER_PHONE, name="Ann Lee")
    worker = worker_for(app, registry)
    restriction_end = NOW + left_when_logged

    def provider_down() -> None:
        # One refusal queued per pass, and each pass must use it: nothing gets through.
        assert sum(r.status == 429 for r in twilio.received) == len(twilio.received)
        twilio.fail_next(Fault.RATE_LIMITED)

    passes = passes_over_paused_channel(
        worker, clock, until=restriction_end - left_at_recovery, before_each=provider_down
    )
    refused = twilio.received
    assert len(refused) == passes  # one attempt per pause, not one per queued message
    assert {r.status for r in refused} == {429}
    # Nothing failed for it: every text waits for the provider, in its due order.
    assert failed_count(app) == 0
    assert one(app, other.id, "avoid").state == MessageState.PENDING.value

    clock.set(restriction_end - left_at_recovery)  # Twilio is back
    worker.dispatch_due()
    return late.id, other.id, passes


def test_avoid_text_with_13_minutes_left_after_an_outage_is_skipped_not_sent(
    app: App, clock: FixedClock, twilio: FakeTwilio, registry: ChannelRegistry
) -> None:
    late, other, refused = outage_then_recovery(
        app,
        clock,
        twilio,
        registry,
        left_when_logged=timedelta(minutes=30),
        left_at_recovery=timedelta(minutes=13),
    )

    avoid = one(app, late, "avoid")
    assert avoid.state == MessageState.SKIPPED.value
    # Skipped at the first pass that found it with under 15 minutes left (the provider
    # still down, or back at 13 minutes left), never sent late.
    [skipped] = history(app, avoid.id, EventKind.SKIPPED)
    restriction_end = NOW + timedelta(minutes=30)
    left = restriction_end - skipped.at
    assert timedelta(minutes=13) <= left < timedelta(minutes=15)
    assert avoid.reason == skipped.detail
    assert avoid.reason == (
        f"only {left // timedelta(minutes=1)} minutes left when it could be sent, "
        "under the 15 minutes worth a message"
    )
    assert twilio.created_for(PHONE) == []  # never sent, not even late
    # The other patient's text, due at the same moment, goes as the provider returns.
    assert one(app, other, "avoid").state == MessageState.SENT.value
    assert len(twilio.created_for(OTHER_PHONE)) == 1
    assert len(twilio.received) == refused + 1
    assert_validity_periods_bounded(twilio)


def test_avoid_text_with_30_minutes_left_after_an_outage_says_30_minutes(
    app: App, clock: FixedClock, twilio: FakeTwilio, registry: ChannelRegistry
) -> None:
    late, other, refused = outage_then_recovery(
        app,
        clock,
        twilio,
        registry,
        left_when_logged=timedelta(minutes=45),
        left_at_recovery=timedelta(minutes=30),
    )

    avoid = one(app, late, "avoid")
    assert avoid.state == MessageState.SENT.value
    assert avoid.body == avoid_text("45 minutes", "2:45 PM")  # as planned when logged
    [request] = twilio.created_for(PHONE)
    assert request.sid == avoid.provider_id
    assert request.field("Body") == avoid.sent_body == avoid_text("30 minutes", "2:45 PM")
    assert request.validity_period == 1800
    [sent] = history(app, avoid.id, EventKind.SENT)
    assert sent.detail == "text written anew for the moment it went, 15 minutes after it was due"
    assert one(app, other, "avoid").state == MessageState.SENT.value
    assert len(twilio.received) == refused + 2
    assert_validity_periods_bounded(twilio)


# -- 3. Quiet hours, met by a retry --------------------------------------------------------


def test_all_clear_retried_into_quiet_hours_is_held_to_the_morning_and_sent_once(
    app: App, clock: FixedClock, twilio: FakeTwilio, registry: ChannelRegistry
) -> None:
    performed = local(16, 55)  # the all-clear falls due at 20:55, five minutes before quiet
    treatment = log(app, phone=PHONE, at=performed)
    worker = worker_for(app, registry)
    clock.set(performed)
    assert worker.dispatch_due().sent == 1  # the avoid text
    all_clear = one(app, treatment.id, "all_clear")
    assert all_clear.due_at == local(20, 55)

    twilio.retry_after = 600
    twilio.fail_to(PHONE, Fault.RATE_LIMITED, times=1)
    clock.set(local(20, 55))
    report = worker.dispatch_due()
    assert (report.retried, report.sent) == (1, 0)
    all_clear = one(app, treatment.id, "all_clear")
    assert all_clear.send_after == local(21, 5)  # Retry-After is the floor

    clock.set(all_clear.send_after)
    report = worker.dispatch_due()
    assert (report.held, report.sent, report.retried) == (1, 0, 0)
    all_clear = one(app, treatment.id, "all_clear")
    assert all_clear.state == MessageState.PENDING.value
    assert all_clear.send_after == local(8, 0, day=28)
    assert all_clear.attempts == 1  # the hold does not count as an attempt
    # Held, it stays useful for its 12 hours from the end of the quiet hours.
    assert all_clear.expires_at == local(20, 0, day=28)
    [held] = history(app, all_clear.id, EventKind.HELD)
    assert held.detail == "held to 8:00 AM by quiet hours 21:00-08:00"
    assert [r.status for r in twilio.requests_to(PHONE)] == [201, 429]

    night = local(21, 30)
    while night < local(8, 0, day=28):
        clock.set(night)
        assert worker.dispatch_due().sent == 0
        night += timedelta(minutes=30)
    assert len(twilio.received) == 2  # nothing between 21:00 and 08:00

    clock.set(local(8, 0, day=28))
    assert worker.dispatch_due().sent_ids == [all_clear.id]
    clock.set(local(9, 0, day=28))
    assert worker.dispatch_due().sent == 0
    all_clear = one(app, treatment.id, "all_clear")
    assert all_clear.state == MessageState.SENT.value
    assert all_clear.sent_at == local(8, 0, day=28)
    requests = twilio.requests_to(PHONE)
    assert [r.status for r in requests] == [201, 429, 201]
    assert requests[-1].sid == all_clear.provider_id
    assert requests[-1].validity_period == 36000
    assert requests[-1].field("Body") == all_clear.body  # nothing in it went stale
    assert all_clear.sent_body is None
    assert_validity_periods_bounded(twilio)


# -- 4, 5. Texts stop: the rest of the aftercare goes by email ------------------------------


def test_unsubscribed_number_moves_the_all_clear_to_email_too(
    app: App,
    clock: FixedClock,
    twilio: FakeTwilio,
    smtp_relay: FakeSmtp,
    registry: ChannelRegistry,
) -> None:
    twilio.fail_to(PHONE, Fault.UNSUBSCRIBED)
    treatment = log(app, phone=PHONE, email=EMAIL)
    worker = worker_for(app, registry)

    report = worker.dispatch_due()

    refused_text = one(app, treatment.id, "avoid")
    assert refused_text.state == MessageState.FAILED.value
    assert refused_text.reason is not None
    assert "21610" in refused_text.reason
    with app.sessions() as session:
        [opt_out] = session.scalars(sa.select(SmsOptOut)).all()
    assert (opt_out.clinic_id, opt_out.phone) == (app.clinic.id, PHONE)
    avoid_email = one(app, treatment.id, "avoid", channel="email")
    assert avoid_email.state == MessageState.SENT.value
    assert report.sent_ids == [avoid_email.id]
    # Not only the step being sent: the all-clear text still to come moves to email too.
    all_clear_text = one(app, treatment.id, "all_clear")
    assert all_clear_text.state == MessageState.CANCELLED.value
    assert all_clear_text.reason is not None
    assert "opted out" in all_clear_text.reason
    all_clear_email = one(app, treatment.id, "all_clear", channel="email")
    assert all_clear_email.state == MessageState.PENDING.value
    assert all_clear_email.due_at == NOW + RESTRICTION
    assert all_clear_email.not_before == NOW + RESTRICTION
    assert all_clear_email.note is not None
    assert f"email instead of text message {all_clear_text.id}" in all_clear_email.note
    assert [d.rcpt_tos for d in smtp_relay.delivered] == [[EMAIL]]

    clock.set(NOW + RESTRICTION - timedelta(seconds=1))
    assert worker.dispatch_due().sent == 0  # never early
    clock.set(NOW + RESTRICTION)
    assert worker.dispatch_due().sent_ids == [all_clear_email.id]

    assert plan_of(app, treatment.id) == [
        ("avoid", "sms", "failed"),
        ("all_clear", "sms", "cancelled"),
        ("avoid", "email", "sent"),
        ("all_clear", "email", "sent"),
    ]
    delivered = smtp_relay.delivered
    assert [d.rcpt_tos for d in delivered] == [[EMAIL], [EMAIL]]
    assert (
        delivered[1].message["Message-ID"]
        == one(app, treatment.id, "all_clear", channel="email").provider_id
    )
    assert delivered[1].message["Subject"] == "Your aftercare window has ended"
    assert len(twilio.received) == 1


def test_stop_reply_moves_the_all_clear_to_email(
    app: App,
    clock: FixedClock,
    twilio: FakeTwilio,
    smtp_relay: FakeSmtp,
    registry: ChannelRegistry,
) -> None:
    treatment = log(app, phone=PHONE, email=EMAIL)
    worker = worker_for(app, registry)
    assert worker.dispatch_due().sent == 1  # the avoid text

    text_stop(app)

    all_clear_text = one(app, treatment.id, "all_clear")
    assert all_clear_text.state == MessageState.CANCELLED.value
    assert all_clear_text.reason is not None
    assert "opted out" in all_clear_text.reason
    all_clear_email = one(app, treatment.id, "all_clear", channel="email")
    assert all_clear_email.state == MessageState.PENDING.value
    assert all_clear_email.due_at == NOW + RESTRICTION
    # The avoid text had gone: it is not sent again by email.
    assert plan_of(app, treatment.id) == [
        ("avoid", "sms", "sent"),
        ("all_clear", "sms", "cancelled"),
        ("all_clear", "email", "pending"),
    ]

    clock.set(NOW + RESTRICTION)
    assert worker.dispatch_due().sent_ids == [all_clear_email.id]
    [delivered] = smtp_relay.delivered
    assert delivered.rcpt_tos == [EMAIL]
    assert delivered.message["Subject"] == "Your aftercare window has ended"
    assert one(app, treatment.id, "all_clear", channel="email").state == "sent"
    assert [r.status for r in twilio.requests_to(PHONE)] == [201]


# -- 6. No email address: the desk is asked to call ------------------------------------------


def assert_needs_call_until_acknowledged(
    app: App, clock: FixedClock, treatment_id: int, detail: str
) -> None:
    [alert] = app.service.needs_call(app.clinic.id)
    assert (alert.treatment_id, alert.kind, alert.acknowledged_at) == (
        treatment_id,
        AlertKind.NEEDS_CALL.value,
        None,
    )
    assert alert.detail == detail
    shown = app.service.treatment(app.clinic.id, treatment_id)
    assert [(a.id, a.detail) for a in shown.alerts] == [(alert.id, detail)]

    acknowledged = app.service.acknowledge(app.clinic.id, alert.id, by="Front desk")
    assert (acknowledged.acknowledged_by, acknowledged.acknowledged_at) == (
        "Front desk",
        clock.now(),
    )
    assert app.service.needs_call(app.clinic.id) == []


def test_unsubscribed_number_without_email_is_flagged_needs_a_call(
    app: App,
    clock: FixedClock,
    twilio: FakeTwilio,
    smtp_relay: FakeSmtp,
    registry: ChannelRegistry,
) -> None:
    twilio.fail_to(PHONE, Fault.UNSUBSCRIBED)
    treatment = log(app, phone=PHONE)
    worker = worker_for(app, registry)

    assert worker.dispatch_due().failed == 1
    clock.set(NOW + RESTRICTION)
    assert worker.dispatch_due().sent == 0

    assert plan_of(app, treatment.id) == [
        ("avoid", "sms", "failed"),
        ("all_clear", "sms", "cancelled"),
    ]
    assert len(twilio.received) == 1
    assert smtp_relay.delivered == []
    assert_needs_call_until_acknowledged(
        app,
        clock,
        treatment.id,
        "the patient opted out of texts (provider error 21610); no email address on record: "
        "the patient will miss avoid (due 2026-11-27 14:00 EST), "
        "all_clear (due 2026-11-27 18:00 EST)",
    )


def test_stop_reply_without_email_is_flagged_needs_a_call(
    app: App,
    clock: FixedClock,
    twilio: FakeTwilio,
    smtp_relay: FakeSmtp,
    registry: ChannelRegistry,
) -> None:
    treatment = log(app, phone=PHONE)
    worker = worker_for(app, registry)
    assert worker.dispatch_due().sent == 1

    text_stop(app)
    clock.set(NOW + RESTRICTION)
    assert worker.dispatch_due().sent == 0

    assert plan_of(app, treatment.id) == [
        ("avoid", "sms", "sent"),
        ("all_clear", "sms", "cancelled"),
    ]
    assert [r.status for r in twilio.received] == [201]
    assert smtp_relay.delivered == []
    assert_needs_call_until_acknowledged(
        app,
        clock,
        treatment.id,
        "the patient opted out of texts (STOP); no email address on record: "
        "the patient will miss all_clear (due 2026-11-27 18:00 EST)",
    )


# -- 7, 8. Our credentials refused: the queue waits for the fix --------------------------------


def test_refused_twilio_credentials_hold_the_queue_until_fixed_then_send_once(
    app: App, clock: FixedClock, twilio: FakeTwilio, registry: ChannelRegistry
) -> None:
    twilio.auth_token = "not-the-token-the-service-has"
    treatment = log(app, phone=PHONE)
    worker = worker_for(app, registry)
    avoid_id = one(app, treatment.id, "avoid").id

    def still_waiting() -> None:
        avoid = one(app, treatment.id, "avoid")
        assert (avoid.state, avoid.attempts) == (MessageState.PENDING.value, 0)

    passes = passes_over_paused_channel(
        worker, clock, until=NOW + timedelta(minutes=10), before_each=still_waiting
    )
    still_waiting()
    assert passes >= 10
    assert [r.status for r in twilio.received] == [401] * passes
    avoid = one(app, treatment.id, "avoid")
    assert avoid.last_error is not None
    assert "credentials refused" in avoid.last_error
    released = history(app, avoid_id, EventKind.RELEASED)
    assert len(released) == passes
    [problem] = app.service.channel_problems()
    assert problem.channel == ChannelKind.SMS.value
    assert problem.problem == (
        "Twilio 401 error 20003: credentials refused: waiting for the sms settings to be fixed"
    )
    assert (problem.since, problem.retry_at) == (NOW, clock.now())
    assert failed_count(app) == 0

    twilio.auth_token = AUTH_TOKEN  # fixed
    report = worker.dispatch_due()
    clock.advance(timedelta(minutes=1))
    assert worker.dispatch_due().sent == 0

    assert (report.sent_ids, report.failed) == ([avoid_id], 0)
    avoid = one(app, treatment.id, "avoid")
    assert (avoid.state, avoid.attempts) == (MessageState.SENT.value, 1)
    assert len(twilio.created_for(PHONE)) == 1
    assert app.service.channel_problems() == []
    assert failed_count(app) == 0


def test_refused_smtp_password_holds_the_queue_until_fixed_then_sends_once(
    app: App, clock: FixedClock, smtp_relay: FakeSmtp, registry: ChannelRegistry
) -> None:
    smtp_relay.password = "not-the-password-the-service-has"
    treatment = log(app, phone=None, email=EMAIL)
    worker = worker_for(app, registry)

    def still_waiting() -> None:
        avoid = one(app, treatment.id, "avoid", channel="email")
        assert (avoid.state, avoid.attempts) == (MessageState.PENDING.value, 0)

    passes = passes_over_paused_channel(
        worker, clock, until=NOW + timedelta(minutes=10), before_each=still_waiting
    )
    still_waiting()
    assert passes >= 10
    assert smtp_relay.delivered == []
    avoid = one(app, treatment.id, "avoid", channel="email")
    assert len(history(app, avoid.id, EventKind.RELEASED)) == passes
    [problem] = app.service.channel_problems()
    assert problem.channel == ChannelKind.EMAIL.value
    assert problem.problem == "SMTP 535: login refused: waiting for the email settings to be fixed"
    assert (problem.since, problem.retry_at) == (NOW, clock.now())
    assert failed_count(app) == 0

    smtp_relay.password = PASSWORD  # fixed
    report = worker.dispatch_due()
    clock.advance(timedelta(minutes=1))
    assert worker.dispatch_due().sent == 0

    assert (report.sent_ids, report.failed) == ([avoid.id], 0)
    avoid = one(app, treatment.id, "avoid", channel="email")
    assert (avoid.state, avoid.attempts) == (MessageState.SENT.value, 1)
    assert [d.rcpt_tos for d in smtp_relay.delivered] == [[EMAIL]]
    assert smtp_relay.delivered[0].message["Message-ID"] == avoid.provider_id
    assert app.service.channel_problems() == []
    assert failed_count(app) == 0


# -- 9. One greylisted recipient ---------------------------------------------------------------


def test_greylisted_recipient_is_retried_alone_and_the_email_channel_keeps_going(
    app: App, clock: FixedClock, smtp_relay: FakeSmtp, registry: ChannelRegistry
) -> None:
    greylisted = log(app, phone=None, email=EMAIL)
    other = log(app, phone=None, email=OTHER_EMAIL, name="Ann Lee")
    smtp_relay.reply_to(EMAIL, "rcpt", "450 4.7.1 Greylisted", times=1)
    worker = worker_for(app, registry)

    report = worker.dispatch_due()

    first = one(app, greylisted.id, "avoid", channel="email")
    second = one(app, other.id, "avoid", channel="email")
    assert first.id < second.id  # the greylisted one was tried first
    assert (report.sent_ids, report.retried) == ([second.id], 1)
    assert [d.rcpt_tos for d in smtp_relay.delivered] == [[OTHER_EMAIL]]
    assert not worker.breaker.paused(ChannelKind.EMAIL, clock.now())
    assert first.state == MessageState.PENDING.value
    assert first.send_after > NOW
    assert first.last_error is not None
    assert "450" in first.last_error
    [retry] = history(app, first.id, EventKind.RETRY_SCHEDULED)
    assert retry.detail is not None
    assert "450" in retry.detail

    clock.set(first.send_after)
    assert worker.dispatch_due().sent_ids == [first.id]
    clock.advance(timedelta(minutes=5))
    assert worker.dispatch_due().sent == 0

    first = one(app, greylisted.id, "avoid", channel="email")
    assert (first.state, first.attempts) == (MessageState.SENT.value, 2)
    assert [d.rcpt_tos for d in smtp_relay.delivered] == [[OTHER_EMAIL], [EMAIL]]
    assert smtp_relay.rcpt_attempts == [EMAIL, OTHER_EMAIL, EMAIL]
    assert failed_count(app) == 0


# -- 10. Delivery reports that come before the send is recorded -----------------------------------


def post_status(api_url: str, sid: str, status: str) -> int:
    form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
    with httpx.Client(trust_env=False, timeout=5) as client:
        response = client.post(api_url + STATUS_PATH, data=form, headers=sign(STATUS_PATH, form))
    return response.status_code


def message_snapshot(app: App) -> list[tuple[object, ...]]:
    return [
        (m.id, m.state, m.delivery_status, m.delivery_updated_at, m.provider_id)
        for m in messages(app)
    ]


def test_delivery_reports_that_come_before_the_send_is_recorded_are_applied_later(
    app: App,
    clock: FixedClock,
    twilio: FakeTwilio,
    registry: ChannelRegistry,
    api_url: str,
) -> None:
    twilio.callback_statuses = ["sent", "delivered"]
    twilio.callback_timing = "before_reply"  # Twilio calls back before answering the create
    twilio.callback_target = api_url
    treatment = log(app, phone=PHONE)
    worker = worker_for(app, registry)

    report = worker.dispatch_due()

    avoid = one(app, treatment.id, "avoid")
    assert report.sent_ids == [avoid.id]
    assert avoid.provider_id is not None
    callbacks = twilio.wait_for_callbacks(2)
    assert [(c.sid, c.status, c.http_status) for c in callbacks] == [
        (avoid.provider_id, "sent", 204),
        (avoid.provider_id, "delivered", 204),
    ]
    # Both came while the worker did not yet know the id: kept, not applied, not dropped.
    assert avoid.delivery_status is None
    assert early_reports(app) == [(avoid.provider_id, "sent"), (avoid.provider_id, "delivered")]

    clock.advance(timedelta(seconds=1))  # the worker's housekeeping runs at most once a second
    worker.dispatch_due()

    avoid = one(app, treatment.id, "avoid")
    assert (avoid.delivery_status, avoid.delivery_error) == ("delivered", None)
    assert avoid.delivery_updated_at == NOW  # when Twilio reported it
    assert early_reports(app) == []
    assert [e.detail for e in history(app, avoid.id, EventKind.DELIVERY)] == ["sent", "delivered"]


def test_delivery_report_for_an_unknown_message_is_dropped_after_an_hour(
    app: App,
    clock: FixedClock,
    twilio: FakeTwilio,
    registry: ChannelRegistry,
    api_url: str,
) -> None:
    log(app, phone=PHONE)
    worker = worker_for(app, registry)
    assert worker.dispatch_due().sent == 1
    before = message_snapshot(app)
    events_before = sum(len(history(app, m.id)) for m in messages(app))

    assert post_status(api_url, FOREIGN_SID, "delivered") == 204
    assert early_reports(app) == [(FOREIGN_SID, "delivered")]

    clock.advance(timedelta(minutes=59))
    worker.dispatch_due()
    assert early_reports(app) == [(FOREIGN_SID, "delivered")]  # may still be ours

    clock.advance(timedelta(minutes=2))
    worker.dispatch_due()
    assert early_reports(app) == []
    assert message_snapshot(app) == before
    assert sum(len(history(app, m.id)) for m in messages(app)) == events_before
    assert len(twilio.received) == 1
