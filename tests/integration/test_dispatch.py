"""The dispatcher and worker on real databases, with a pinned clock and a recording provider."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from reminders.bootstrap import App
from reminders.channels.base import Outgoing
from reminders.clock import FixedClock
from reminders.db import claims
from reminders.db.models import Message
from reminders.dispatch import Dispatcher
from reminders.domain import MessageState
from reminders.errors import ChannelError
from reminders.retry import RetryPolicy
from reminders.worker import Worker
from tests.support import RecordingChannel, dispatcher, log

NOW = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)  # the `clock` fixture's instant
RESTRICTION = timedelta(hours=4)
ALL_CLEAR_USEFUL = timedelta(hours=12)
EXPIRED = "expired before it could be sent (the restriction or its usefulness ended)"


# -- helpers -------------------------------------------------------------------


def message(app: App, message_id: int) -> Message:
    with app.sessions() as session:
        return session.scalars(
            sa.select(Message).where(Message.id == message_id).options(selectinload(Message.events))
        ).one()


def all_messages(app: App) -> list[Message]:
    with app.sessions() as session:
        return list(
            session.scalars(
                sa.select(Message).options(selectinload(Message.events)).order_by(Message.id)
            )
        )


def step_ids(app: App, treatment_id: int) -> dict[str, int]:
    with app.sessions() as session:
        rows = session.execute(
            sa.select(Message.step_id, Message.id)
            .where(Message.treatment_id == treatment_id)
            .order_by(Message.id)
        )
        return {step: message_id for step, message_id in rows}


def states(app: App) -> set[str]:
    return {m.state for m in all_messages(app)}


def log_many(app: App, count: int) -> list[int]:
    """`count` treatments for distinct valid patients; returns their treatment ids."""
    return [log(app, phone=f"+1212555{100 + i:04d}", name=f"Patient {i}").id for i in range(count)]


def lease(app: App) -> timedelta:
    return timedelta(seconds=app.settings.worker.lease_seconds)


def claim_and_die(app: App, *, worker: str = "dead-worker") -> claims.Claim:
    """A worker claims everything due, then never settles (it crashed mid-send)."""
    with app.sessions.begin() as session:
        return claims.claim_due(
            session, now=app.clock.now(), worker=worker, lease=lease(app), limit=100
        )


def transient(text: str = "provider busy", retry_after: float | None = None) -> ChannelError:
    return ChannelError(text, permanent=False, retry_after=retry_after)


# -- sending at the right time ---------------------------------------------------


def test_avoid_is_sent_immediately(app: App, channel: RecordingChannel) -> None:
    treatment = log(app)
    report = dispatcher(app, channel).dispatch_due()
    assert report.sent_ids == [step_ids(app, treatment.id)["avoid"]]
    [outgoing] = channel.sent
    assert outgoing.to == "+12125550199"
    assert "avoid exercise" in outgoing.body


def test_all_clear_is_not_sent_one_second_before_the_restriction_ends(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    log(app)
    worker = dispatcher(app, channel)
    worker.dispatch_due()
    clock.advance(RESTRICTION - timedelta(seconds=1))
    assert worker.dispatch_due().sent == 0
    assert len(channel.sent) == 1


def test_all_clear_is_sent_exactly_when_the_restriction_ends(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    worker = dispatcher(app, channel)
    worker.dispatch_due()
    clock.advance(RESTRICTION)
    assert worker.dispatch_due().sent_ids == [step_ids(app, treatment.id)["all_clear"]]
    assert message(app, step_ids(app, treatment.id)["all_clear"]).sent_at == NOW + RESTRICTION


def test_each_message_is_sent_exactly_once_across_repeated_passes(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatments = [log(app, phone=f"+1212555010{i}").id for i in range(3)]
    worker = dispatcher(app, channel)
    for _ in range(3):
        worker.dispatch_due()
    for _ in range(20):
        clock.advance(timedelta(minutes=30))
        worker.dispatch_due()
        worker.dispatch_due()
    expected = sorted(i for t in treatments for i in step_ids(app, t).values())
    assert sorted(channel.sent_ids()) == expected
    assert len(channel.sent_ids()) == len(set(channel.sent_ids()))


def test_sent_message_goes_planned_claimed_sent_with_provider_id_and_sent_at(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    clock.advance(timedelta(seconds=5))
    dispatcher(app, channel, worker_id="worker-a").dispatch_due()
    sent = message(app, step_ids(app, treatment.id)["avoid"])
    assert [(e.kind, e.state, e.worker) for e in sent.events] == [
        ("planned", "pending", None),
        ("claimed", "sending", "worker-a"),
        ("sent", "sent", "worker-a"),
    ]
    assert sent.state == MessageState.SENT.value
    assert sent.provider_id == f"rec-{sent.id}-1"
    assert sent.sent_at == NOW + timedelta(seconds=5)
    assert sent.attempts == 1
    assert (sent.claim_token, sent.lease_until, sent.last_error) == (None, None, None)


def test_dispatch_with_nothing_due_sends_nothing(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    log(app, at=NOW + timedelta(hours=2))
    clock.advance(timedelta(hours=2) - timedelta(seconds=1))
    report = dispatcher(app, channel).dispatch_due()
    assert (report.sent, report.skipped, report.failed, report.retried) == (0, 0, 0, 0)
    assert channel.sent == []


# -- outage and restart -----------------------------------------------------------


def test_after_an_outage_a_new_dispatcher_skips_expired_avoids_with_a_reason(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatments = log_many(app, 3)
    clock.advance(timedelta(hours=5))
    report = dispatcher(app, channel, worker_id="restarted").dispatch_due()
    assert report.skipped == 3
    for treatment in treatments:
        avoid = message(app, step_ids(app, treatment)["avoid"])
        assert avoid.state == MessageState.SKIPPED.value
        assert avoid.reason == EXPIRED
        assert avoid.events[-1].kind == "skipped"
        assert avoid.events[-1].at == NOW + timedelta(hours=5)
        assert avoid.id not in channel.sent_ids()


def test_after_an_outage_a_new_dispatcher_sends_each_all_clear_once(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatments = log_many(app, 3)
    clock.advance(timedelta(hours=5))
    worker = dispatcher(app, channel, worker_id="restarted")
    worker.dispatch_due()
    worker.dispatch_due()
    clock.advance(timedelta(hours=1))
    worker.dispatch_due()
    all_clears = sorted(step_ids(app, t)["all_clear"] for t in treatments)
    assert sorted(channel.sent_ids()) == all_clears
    assert states(app) == {MessageState.SKIPPED.value, MessageState.SENT.value}


def test_after_an_outage_beyond_the_all_clears_usefulness_they_are_skipped_too(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatments = log_many(app, 3)
    clock.advance(RESTRICTION + ALL_CLEAR_USEFUL + timedelta(seconds=1))
    report = dispatcher(app, channel, worker_id="restarted").dispatch_due()
    assert report.skipped == 6
    assert channel.sent == []
    for treatment in treatments:
        all_clear = message(app, step_ids(app, treatment)["all_clear"])
        assert all_clear.state == MessageState.SKIPPED.value
        assert all_clear.reason == EXPIRED
    assert states(app) == {MessageState.SKIPPED.value}


def test_all_clear_is_skipped_exactly_at_the_end_of_its_usefulness(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    clock.advance(RESTRICTION + ALL_CLEAR_USEFUL)
    dispatcher(app, channel).dispatch_due()
    assert channel.sent == []
    assert message(app, step_ids(app, treatment.id)["all_clear"]).state == "skipped"


# -- a worker that dies mid-send ---------------------------------------------------


def test_a_dead_workers_claim_is_not_sent_by_another_before_its_lease_expires(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatments = log_many(app, 2)
    claim = claim_and_die(app)
    assert len(claim.messages) == 2
    clock.advance(lease(app) - timedelta(seconds=1))
    report = dispatcher(app, channel, worker_id="survivor").dispatch_due()
    assert (report.sent, report.recovered) == (0, 0)
    for treatment in treatments:
        held = message(app, step_ids(app, treatment)["avoid"])
        assert (held.state, held.claimed_by) == (MessageState.SENDING.value, "dead-worker")


def test_a_dead_workers_claim_is_recovered_and_sent_once_after_its_lease_expires(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatments = log_many(app, 2)
    claim_and_die(app)
    clock.advance(lease(app) + timedelta(seconds=1))
    survivor = dispatcher(app, channel, worker_id="survivor")
    report = survivor.dispatch_due()
    assert (report.recovered, report.sent) == (2, 2)
    survivor.dispatch_due()
    avoids = sorted(step_ids(app, t)["avoid"] for t in treatments)
    assert sorted(channel.sent_ids()) == avoids
    for avoid_id in avoids:
        recovered = message(app, avoid_id)
        assert recovered.state == MessageState.SENT.value
        assert recovered.attempts == 2
        assert [e.kind for e in recovered.events] == [
            "planned",
            "claimed",
            "lease_expired",
            "claimed",
            "sent",
        ]


def test_a_dead_workers_late_settle_is_fenced_off(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    claim = claim_and_die(app)
    clock.advance(lease(app) + timedelta(seconds=1))
    dispatcher(app, channel, worker_id="survivor").dispatch_due()
    avoid_id = step_ids(app, treatment.id)["avoid"]
    before = message(app, avoid_id)
    clock.advance(timedelta(seconds=1))
    with app.sessions.begin() as session:
        settled = claims.settle(
            session,
            message_id=avoid_id,
            token=claim.token,
            now=clock.now(),
            state=MessageState.FAILED,
            event="failed",
            detail="late outcome from the dead worker",
            worker="dead-worker",
            provider_id="late-provider-id",
        )
    assert settled is False
    after = message(app, avoid_id)
    assert (after.state, after.provider_id, after.updated_at) == (
        MessageState.SENT.value,
        before.provider_id,
        before.updated_at,
    )
    assert len(after.events) == len(before.events)


# -- provider failures -------------------------------------------------------------


def test_transient_error_schedules_a_retry_with_backoff(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    channel.fail_next(transient("provider busy"))
    report = dispatcher(app, channel).dispatch_due()
    assert (report.retried, report.sent) == (1, 0)
    retry = message(app, step_ids(app, treatment.id)["avoid"])
    assert retry.state == MessageState.PENDING.value
    assert retry.attempts == 1
    assert retry.last_error == "provider busy"
    base = timedelta(seconds=app.settings.worker.retry_base_seconds)
    assert NOW + base / 2 <= retry.send_after <= NOW + base
    assert (retry.events[-1].kind, retry.events[-1].state) == ("retry_scheduled", "pending")
    assert retry.claim_token is None


def test_retried_message_is_sent_on_a_later_pass(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    channel.fail_next(transient())
    worker = dispatcher(app, channel)
    worker.dispatch_due()
    assert worker.dispatch_due().sent == 0  # not before its backoff
    clock.advance(timedelta(seconds=app.settings.worker.retry_base_seconds))
    avoid_id = step_ids(app, treatment.id)["avoid"]
    assert worker.dispatch_due().sent_ids == [avoid_id]
    sent = message(app, avoid_id)
    assert (sent.state, sent.attempts, sent.last_error) == ("sent", 2, None)
    assert channel.sent_ids() == [avoid_id]


def test_backoff_grows_with_each_failed_attempt(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    avoid_id = step_ids(app, treatment.id)["avoid"]
    worker = dispatcher(app, channel)
    base = app.settings.worker.retry_base_seconds
    for attempt in range(1, 5):
        channel.fail_next(transient(f"busy {attempt}"))
        tried_at = clock.now()
        assert worker.dispatch_due().retried == 1
        retry = message(app, avoid_id)
        ceiling = timedelta(seconds=base * 2 ** (attempt - 1))
        assert tried_at + ceiling / 2 <= retry.send_after <= tried_at + ceiling
        assert (retry.attempts, retry.last_error) == (attempt, f"busy {attempt}")
        clock.set(retry.send_after)
    assert worker.dispatch_due().sent_ids == [avoid_id]


def test_retry_after_is_a_floor_for_the_next_attempt(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    avoid_id = step_ids(app, treatment.id)["avoid"]
    channel.fail_next(transient("rate limited", retry_after=600))
    worker = dispatcher(app, channel)
    worker.dispatch_due()
    assert message(app, avoid_id).send_after >= NOW + timedelta(seconds=600)
    clock.advance(timedelta(seconds=599))
    assert worker.dispatch_due().sent == 0
    clock.advance(timedelta(seconds=1))
    assert worker.dispatch_due().sent_ids == [avoid_id]


def test_gives_up_after_max_attempts_with_the_reason(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    avoid_id = step_ids(app, treatment.id)["avoid"]
    max_attempts = app.settings.worker.max_attempts
    channel.fail_next(*(transient(f"busy {n}") for n in range(1, max_attempts + 1)))
    worker = dispatcher(app, channel)
    for _ in range(max_attempts):
        worker.dispatch_due()
        clock.advance(timedelta(seconds=app.settings.worker.retry_max_seconds))
    failed = message(app, avoid_id)
    assert failed.state == MessageState.FAILED.value
    assert failed.attempts == max_attempts
    assert failed.reason == f"gave up after {max_attempts} attempts: busy {max_attempts}"
    assert failed.last_error == f"busy {max_attempts}"
    assert failed.events[-1].kind == "failed"
    assert channel.failures == []
    assert channel.sent == []
    worker.dispatch_due()
    assert channel.sent == []


def test_retry_that_would_land_after_expiry_is_skipped_instead(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    avoid_id = step_ids(app, treatment.id)["avoid"]
    clock.advance(RESTRICTION - timedelta(minutes=20))  # 20 minutes left; the retry waits 30
    channel.fail_next(transient("provider busy", retry_after=30 * 60))
    report = dispatcher(app, channel).dispatch_due()
    assert (report.skipped, report.retried) == (1, 0)
    skipped = message(app, avoid_id)
    assert skipped.state == MessageState.SKIPPED.value
    assert skipped.reason == "expired before it could be retried; last error: provider busy"
    assert skipped.last_error == "provider busy"


def test_retry_after_past_expiry_is_skipped_instead(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    avoid_id = step_ids(app, treatment.id)["avoid"]
    channel.fail_next(transient("rate limited", retry_after=RESTRICTION.total_seconds()))
    dispatcher(app, channel).dispatch_due()
    assert message(app, avoid_id).state == MessageState.SKIPPED.value


def test_permanent_error_fails_at_once_with_the_reason(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    avoid_id = step_ids(app, treatment.id)["avoid"]
    channel.fail_next(ChannelError("number is not a mobile", permanent=True))
    worker = dispatcher(app, channel)
    report = worker.dispatch_due()
    assert (report.failed, report.retried) == (1, 0)
    failed = message(app, avoid_id)
    assert failed.state == MessageState.FAILED.value
    assert failed.reason == "number is not a mobile"
    assert failed.attempts == 1
    assert failed.events[-1].kind == "failed"
    clock.advance(timedelta(minutes=30))
    worker.dispatch_due()
    assert channel.sent == []


# -- never stale at send time ---------------------------------------------------------


def test_message_that_expires_while_its_batch_is_being_sent_is_skipped(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    first, second = log_many(app, 2)
    first_avoid = step_ids(app, first)["avoid"]
    second_avoid = step_ids(app, second)["avoid"]
    clock.advance(RESTRICTION - timedelta(minutes=16))  # both avoids still worth sending

    def slow_first_send(outgoing: Outgoing) -> None:
        if outgoing.message_id == first_avoid:
            clock.advance(timedelta(minutes=2))  # under 15 minutes are left after this send

    channel.before_send = slow_first_send
    dispatcher(app, channel).dispatch_due()
    assert first_avoid in channel.sent_ids()
    assert second_avoid not in channel.sent_ids()
    stale = message(app, second_avoid)
    assert stale.state == MessageState.SKIPPED.value
    assert stale.reason == (
        "only 14 minutes left when it could be sent, under the 15 minutes worth a message"
    )
    assert stale.events[-2:][0].kind == "claimed"
    assert stale.events[-1].kind == "skipped"


# -- concurrency ------------------------------------------------------------------------


def test_two_dispatchers_in_threads_send_each_of_500_messages_exactly_once(
    app: App, clock: FixedClock
) -> None:
    log_many(app, 500)
    due = {m.id for m in all_messages(app) if m.step_id == "avoid"}
    assert len(due) == 500
    channels = [RecordingChannel(), RecordingChannel()]
    workers = [
        Dispatcher(
            sessions=app.sessions,
            clock=clock,
            channels=ch.registry(),
            retry=RetryPolicy(5, 30, 900),
            worker_id=f"worker-{n}",
            batch_size=25,  # small batches: the two interleave many times
            lease=lease(app),
        )
        for n, ch in enumerate(channels)
    ]
    start = threading.Barrier(len(workers))

    def run(worker: Dispatcher) -> list[int]:
        start.wait(timeout=10)
        return worker.dispatch_due().sent_ids

    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        reported = list(pool.map(run, workers))
    first, second = (ch.sent_ids() for ch in channels)
    assert len(first) == len(set(first))
    assert len(second) == len(set(second))
    assert set(first).isdisjoint(second)
    assert set(first) | set(second) == due
    assert sorted(reported[0] + reported[1]) == sorted(due)
    assert {m.state for m in all_messages(app) if m.id in due} == {MessageState.SENT.value}


# -- the worker ----------------------------------------------------------------------------


@pytest.fixture
def worker(app: App, channel: RecordingChannel) -> Iterator[Worker]:
    running = Worker(dispatcher(app, channel), poll_interval=60)
    yield running
    running.stop()


def test_worker_tick_returns_the_pass_report(app: App, worker: Worker) -> None:
    treatment = log(app)
    report = worker.tick()
    assert report.sent_ids == [step_ids(app, treatment.id)["avoid"]]


def test_next_wake_after_a_tick_is_the_next_due_instant(
    app: App, clock: FixedClock, worker: Worker
) -> None:
    log(app)
    later = log(app, phone="+12125550102", at=NOW + timedelta(minutes=10))
    worker.tick()
    assert worker.dispatcher.next_wake() == later.performed_at
    clock.advance(timedelta(minutes=10))
    worker.tick()
    assert worker.dispatcher.next_wake() == NOW + RESTRICTION


def test_worker_tick_schedules_its_wake_at_the_next_due_instant(app: App, worker: Worker) -> None:
    log(app)
    # Paused: the wake job is scheduled but never run by the background thread.
    worker._scheduler.start(paused=True)
    worker.tick()
    wake = worker._scheduler.get_job("wake")
    assert wake is not None
    assert wake.next_run_time == NOW + RESTRICTION


def test_next_wake_is_a_held_claims_lease_expiry_when_that_comes_first(
    app: App, clock: FixedClock, worker: Worker
) -> None:
    log(app)
    claim_and_die(app)
    assert worker.dispatcher.next_wake() == NOW + lease(app)


def test_next_wake_is_none_when_nothing_is_left(
    app: App, clock: FixedClock, worker: Worker
) -> None:
    log(app)
    worker.tick()
    clock.advance(RESTRICTION)
    worker.tick()
    assert worker.dispatcher.next_wake() is None
