"""Reconcile before resending: a text whose create may have reached Twilio is looked for there
(Messages list) before it is sent again, through the real SDK against the local Twilio, on
SQLite and PostgreSQL. Twilio's clock is the test's; passes are run directly.

Counted where a patient would notice: the creates Twilio received for each number.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from reminders.bootstrap import App
from reminders.channels.base import ChannelRegistry, Outgoing
from reminders.channels.twilio_sms import TwilioSmsChannel
from reminders.clock import FixedClock
from reminders.db import claims
from reminders.db.models import Message
from reminders.dispatch import Dispatcher
from reminders.domain import ChannelKind, EventKind, MessageState
from reminders.settings import TwilioSettings
from tests.conftest import NOW, clinic_settings
from tests.delivery.fake_twilio import FakeTwilio, Fault
from tests.delivery.test_send_time import history
from tests.support import log

PHONE = "+12125550199"
SERVICE = "MG" + "b2" * 16
LAG = timedelta(seconds=60)  # TwilioSettings' default listing lag
# Accepted-then-slow: the 201 comes after the client has given up.
CLIENT_TIMEOUT = 0.3
SLOW_REPLY = 0.8
UNCERTAIN = [Fault.ACCEPTED_DROP, Fault.ACCEPTED_500, Fault.ACCEPTED_SLOW]
NEVER_ARRIVED = [Fault.DROP, Fault.SERVER_ERROR]


@pytest.fixture
def texts(twilio: FakeTwilio, twilio_settings: TwilioSettings) -> ChannelRegistry:
    """Texts through Twilio, with a client timeout the slow fault outlasts."""
    twilio.slow_reply = SLOW_REPLY
    settings = twilio_settings.model_copy(update={"timeout_seconds": CLIENT_TIMEOUT})
    return ChannelRegistry({ChannelKind.SMS: TwilioSmsChannel(settings)})


def avoid_of(app: App, treatment_id: int) -> Message:
    with app.sessions() as session:
        return session.scalars(
            sa.select(Message).where(
                Message.treatment_id == treatment_id, Message.step_id == "avoid"
            )
        ).one()


def details(app: App, message_id: int, kind: EventKind) -> list[str | None]:
    return [event.detail for event in history(app, message_id, kind)]


def assert_no_contact_or_text_in_history(app: App, message: Message) -> None:
    events = history(app, message.id)
    assert events, "no history"
    for event in events:
        detail = event.detail or ""
        assert PHONE.lstrip("+") not in detail
        assert message.body[:40] not in detail


def uncertain_after_first_pass(
    app: App, worker: Dispatcher, twilio: FakeTwilio, fault: Fault
) -> Message:
    """The avoid text's create meets `fault`; the pass holds it as uncertain."""
    twilio.fail_to(PHONE, fault, times=1)
    treatment = log(app, phone=PHONE)
    report = worker.dispatch_due()
    assert (report.sent, report.held, report.retried) == (0, 1, 0)
    avoid = avoid_of(app, treatment.id)
    assert avoid.state == MessageState.PENDING.value
    assert (avoid.uncertain_since, avoid.uncertain_body) == (NOW, avoid.body)
    assert NOW < avoid.send_after <= NOW + LAG
    [held] = details(app, avoid.id, EventKind.HELD)
    assert held is not None
    assert "the provider may have it: looking for it at" in held
    return avoid


# -- the create was processed, its answer lost: adopted, not sent again ---------------


@pytest.mark.parametrize("fault", UNCERTAIN, ids=str)
def test_a_create_twilio_processed_is_found_and_adopted_not_sent_again(
    app: App, clock: FixedClock, twilio: FakeTwilio, texts: ChannelRegistry, fault: Fault
) -> None:
    worker = app.dispatcher(texts, worker_id="w1")
    avoid = uncertain_after_first_pass(app, worker, twilio, fault)

    clock.set(avoid.send_after)
    report = worker.dispatch_due()

    [created] = twilio.created_for(PHONE)
    assert created.sid is not None
    assert (report.reconciled, report.sent) == (1, 0)
    avoid = avoid_of(app, avoid.treatment_id)
    assert avoid.state == MessageState.SENT.value
    assert avoid.provider_id == created.sid
    assert avoid.sent_at == NOW  # when the call that reached Twilio began
    assert (avoid.uncertain_since, avoid.uncertain_body) == (None, None)
    assert details(app, avoid.id, EventKind.RECONCILED) == [
        f"found at the provider as {created.sid}; not sent again"
    ]
    assert details(app, avoid.id, EventKind.SENT) == [f"as found at the provider ({created.sid})"]
    [lookup] = twilio.lists
    assert lookup.form == {"To": [PHONE], "From": [created.field("From")], "PageSize": ["50"]}
    assert_no_contact_or_text_in_history(app, avoid)


def test_a_text_another_message_carries_is_not_adopted(
    app: App, clock: FixedClock, twilio: FakeTwilio, texts: ChannelRegistry
) -> None:
    """The same patient logged twice within a minute gets the same words twice: the first
    treatment's text is not the second's to adopt."""
    worker = app.dispatcher(texts, worker_id="w1")
    first = log(app, phone=PHONE)
    worker.dispatch_due()
    [first_text] = twilio.created_for(PHONE)
    twilio.fail_to(PHONE, Fault.DROP, times=1)
    second = log(app, phone=PHONE)
    worker.dispatch_due()
    avoid = avoid_of(app, second.id)
    assert avoid.body == avoid_of(app, first.id).body
    assert avoid.uncertain_since == NOW

    clock.set(NOW + LAG + timedelta(seconds=1))
    worker.dispatch_due()

    creates = twilio.created_for(PHONE)
    assert len(creates) == 2
    assert avoid_of(app, first.id).provider_id == first_text.sid
    assert avoid_of(app, second.id).provider_id == creates[1].sid != first_text.sid
    [reconciled] = details(app, avoid.id, EventKind.RECONCILED)
    assert reconciled is not None
    assert reconciled.startswith("not found at the provider")


def test_with_a_messaging_service_the_text_is_matched_on_the_service(
    app: App, clock: FixedClock, twilio: FakeTwilio, texts: ChannelRegistry
) -> None:
    app.service.sync_clinic(clinic_settings(messaging_service_sid=SERVICE))
    worker = app.dispatcher(texts, worker_id="w1")
    avoid = uncertain_after_first_pass(app, worker, twilio, Fault.ACCEPTED_500)

    clock.set(avoid.send_after)
    assert worker.dispatch_due().reconciled == 1

    [created] = twilio.created_for(PHONE)
    assert created.field("MessagingServiceSid") == SERVICE
    assert avoid_of(app, avoid.treatment_id).provider_id == created.sid
    # Twilio picks the From: the lookup cannot filter on it.
    [lookup] = twilio.lists
    assert lookup.form == {"To": [PHONE], "PageSize": ["50"]}


def test_a_text_written_anew_is_matched_on_the_words_that_went(
    app: App, clock: FixedClock, twilio: FakeTwilio, texts: ChannelRegistry
) -> None:
    treatment = log(app, phone=PHONE)
    planned = avoid_of(app, treatment.id)
    clock.set(NOW + timedelta(hours=1))  # late: written anew for the 3 hours left
    twilio.fail_to(PHONE, Fault.ACCEPTED_500, times=1)
    worker = app.dispatcher(texts, worker_id="w1")
    worker.dispatch_due()
    avoid = avoid_of(app, treatment.id)
    [created] = twilio.created_for(PHONE)
    went = created.field("Body")
    assert went != planned.body
    assert avoid.uncertain_body == avoid.attempt_body == went

    clock.set(avoid.send_after)
    assert worker.dispatch_due().reconciled == 1

    avoid = avoid_of(app, treatment.id)
    assert (avoid.state, avoid.provider_id) == (MessageState.SENT.value, created.sid)
    assert avoid.sent_body == went
    assert len(twilio.created_for(PHONE)) == 1


# -- the create never arrived: sent again once the listing lag has passed -------------


@pytest.mark.parametrize("fault", NEVER_ARRIVED, ids=str)
def test_a_create_that_never_arrived_is_sent_again_once_after_the_listing_lag(
    app: App, clock: FixedClock, twilio: FakeTwilio, texts: ChannelRegistry, fault: Fault
) -> None:
    worker = app.dispatcher(texts, worker_id="w1")
    avoid = uncertain_after_first_pass(app, worker, twilio, fault)
    assert avoid.send_after < NOW + LAG  # looked for first when a retry would have gone

    clock.set(avoid.send_after)
    report = worker.dispatch_due()
    assert (report.held, report.reconciled) == (1, 0)
    assert twilio.created_for(PHONE) == []
    assert avoid_of(app, avoid.treatment_id).send_after == NOW + LAG
    assert details(app, avoid.id, EventKind.HELD)[-1] == (
        f"not listed at the provider yet; looking again at {(NOW + LAG).isoformat()}"
    )

    clock.set(NOW + LAG)
    report = worker.dispatch_due()

    assert (report.reconciled, report.sent) == (1, 1)
    [created] = twilio.created_for(PHONE)
    avoid = avoid_of(app, avoid.treatment_id)
    assert (avoid.state, avoid.provider_id) == (MessageState.SENT.value, created.sid)
    assert details(app, avoid.id, EventKind.RECONCILED) == [
        "not found at the provider 60 s after the call began; sending again"
    ]
    assert [r.status for r in twilio.requests_to(PHONE)] == [
        None if fault is Fault.DROP else 500,
        201,
    ]
    assert len(twilio.lists) == 2
    assert_no_contact_or_text_in_history(app, avoid)


# -- the provider cannot say: held, asked again, never sent blindly ---------------------


def test_a_failed_lookup_holds_the_text_and_asks_again(
    app: App, clock: FixedClock, twilio: FakeTwilio, texts: ChannelRegistry
) -> None:
    worker = app.dispatcher(texts, worker_id="w1")
    avoid = uncertain_after_first_pass(app, worker, twilio, Fault.ACCEPTED_500)
    twilio.fail_list(Fault.UNAVAILABLE, times=2)

    for _ in range(2):
        clock.set(avoid_of(app, avoid.treatment_id).send_after)
        report = worker.dispatch_due()
        assert (report.held, report.reconciled, report.sent) == (1, 0, 0)
    held = details(app, avoid.id, EventKind.HELD)[-1]
    assert held is not None
    assert held.startswith("could not ask the provider (Twilio 503")
    assert avoid_of(app, avoid.treatment_id).uncertain_since == NOW
    assert avoid_of(app, avoid.treatment_id).attempts == 1  # holds spend no attempt

    clock.set(avoid_of(app, avoid.treatment_id).send_after)
    assert worker.dispatch_due().reconciled == 1

    [created] = twilio.created_for(PHONE)
    assert avoid_of(app, avoid.treatment_id).provider_id == created.sid
    assert [r.status for r in twilio.lists] == [503, 503, 200]


def test_a_text_not_yet_listed_is_held_until_the_lag_then_adopted(
    app: App, clock: FixedClock, twilio: FakeTwilio, texts: ChannelRegistry
) -> None:
    twilio.listing_delay = 45  # seconds: shorter than our lag, longer than the first look
    worker = app.dispatcher(texts, worker_id="w1")
    avoid = uncertain_after_first_pass(app, worker, twilio, Fault.ACCEPTED_DROP)
    assert avoid.send_after < NOW + timedelta(seconds=45)

    clock.set(avoid.send_after)
    report = worker.dispatch_due()
    assert (report.held, report.reconciled) == (1, 0)
    assert avoid_of(app, avoid.treatment_id).send_after == NOW + LAG

    clock.set(NOW + LAG)
    assert worker.dispatch_due().reconciled == 1

    [created] = twilio.created_for(PHONE)
    avoid = avoid_of(app, avoid.treatment_id)
    assert (avoid.state, avoid.provider_id) == (MessageState.SENT.value, created.sid)
    assert details(app, avoid.id, EventKind.RECONCILED) == [
        f"found at the provider as {created.sid}; not sent again"
    ]


def test_a_text_whose_lookup_fails_until_it_expires_is_skipped_not_sent_blindly(
    app: App, clock: FixedClock, twilio: FakeTwilio, texts: ChannelRegistry
) -> None:
    treatment = log(app, phone=PHONE, at=NOW - timedelta(hours=3, minutes=44))  # 16 min left
    twilio.fail_to(PHONE, Fault.SERVER_ERROR, times=1)
    worker = app.dispatcher(texts, worker_id="w1")
    worker.dispatch_due()
    twilio.fail_list(Fault.UNAVAILABLE, times=100)

    passes = 0
    while avoid_of(app, treatment.id).state == MessageState.PENDING.value:
        assert passes < 60, "still pending"
        clock.set(avoid_of(app, treatment.id).send_after)
        worker.dispatch_due()
        passes += 1

    avoid = avoid_of(app, treatment.id)
    assert avoid.state == MessageState.SKIPPED.value
    assert avoid.reason is not None
    assert avoid.reason.startswith("expired while the provider could not say whether it has it")
    assert [r.status for r in twilio.requests_to(PHONE)] == [500]
    assert passes >= 2


# -- a worker died after its call began: the lease expires, and it is looked for --------


@pytest.mark.parametrize("reached", [True, False], ids=["reached-twilio", "died-before"])
def test_a_claim_whose_worker_died_mid_call_is_looked_for_after_its_lease(
    app: App, clock: FixedClock, twilio: FakeTwilio, texts: ChannelRegistry, reached: bool
) -> None:
    treatment = log(app, phone=PHONE)
    avoid = avoid_of(app, treatment.id)
    # What a worker does up to its provider call, and then it dies: no outcome recorded.
    with app.sessions.begin() as session:
        claim = claims.claim_due(
            session, now=NOW, worker="dead", lease=timedelta(minutes=2), limit=10
        )
    with app.sessions.begin() as session:
        claims.start_sends(
            session, ids=[avoid.id], token=claim.token, now=NOW, lease=timedelta(minutes=2)
        )
    if reached:
        [claimed] = claim.messages
        texts.for_kind(ChannelKind.SMS).send(
            Outgoing(claimed.id, ChannelKind.SMS, PHONE, None, claimed.body, claimed.clinic_id)
        )

    clock.set(NOW + timedelta(minutes=2, seconds=1))
    report = app.dispatcher(texts, worker_id="w2").dispatch_due()

    assert report.recovered == 1
    assert report.reconciled == 1
    [created] = twilio.created_for(PHONE)  # once, either way
    avoid = avoid_of(app, treatment.id)
    assert (avoid.state, avoid.provider_id) == (MessageState.SENT.value, created.sid)
    assert details(app, avoid.id, EventKind.LEASE_EXPIRED)
    [reconciled] = details(app, avoid.id, EventKind.RECONCILED)
    if reached:
        assert reconciled == f"found at the provider as {created.sid}; not sent again"
    else:
        assert reconciled == "not found at the provider 121 s after the call began; sending again"


# -- many lost answers: duplicates at the provider ---------------------------------------


LOST_ANSWERS = 30
FAULT_MIX = [None, None, *UNCERTAIN, *NEVER_ARRIVED]


def test_lost_answers_and_timeouts_cause_no_duplicate_at_the_provider(
    app: App,
    clock: FixedClock,
    twilio: FakeTwilio,
    texts: ChannelRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = random.Random(20261127)
    phones = [f"+1212555{1000 + n:04d}" for n in range(LOST_ANSWERS)]
    faults: Counter[str] = Counter()
    for n, phone in enumerate(phones):
        log(app, phone=phone, name=f"Patient {n}")
        fault = rng.choice(FAULT_MIX)
        faults[str(fault)] += 1
        if fault is not None:
            twilio.fail_to(phone, fault, times=1)
    worker = app.dispatcher(texts, worker_id="w1")
    started = time.monotonic()

    passes = 0
    while True:
        worker.dispatch_due()
        passes += 1
        wake = worker.next_wake()
        with app.sessions() as session:
            unsettled = session.scalar(
                sa.select(sa.func.count())
                .select_from(Message)
                .where(Message.step_id == "avoid", Message.state.in_(["pending", "sending"]))
            )
        if not unsettled:
            break
        assert passes < 50, f"{unsettled} avoid texts left"
        assert wake is not None
        clock.set(max(wake, clock.now()))
    seconds = time.monotonic() - started

    creates = Counter(r.to for r in twilio.received if r.method == "POST" and r.sid)
    duplicates = {phone: n for phone, n in creates.items() if n > 1}
    with app.sessions() as session:
        avoid = list(session.scalars(sa.select(Message).where(Message.step_id == "avoid")))
    reconciled = [m for m in avoid if details(app, m.id, EventKind.RECONCILED)]
    with capsys.disabled():
        print(
            f"\n[reconcile] {LOST_ANSWERS} texts, faults {dict(sorted(faults.items()))}: "
            f"{sum(creates.values())} creates, duplicates {len(duplicates)}, "
            f"reconciled {len(reconciled)}, {len(twilio.lists)} lookups, "
            f"{passes} passes, {seconds:.1f} s"
        )
    assert duplicates == {}
    assert sorted(creates) == sorted(phones)  # every text reached Twilio, once
    assert {m.state for m in avoid} == {MessageState.SENT.value}
    assert sorted(m.provider_id or "" for m in avoid) == sorted(
        r.sid or "" for r in twilio.received if r.method == "POST" and r.sid
    )
    assert len(reconciled) == LOST_ANSWERS - faults["None"]
