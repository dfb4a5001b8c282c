"""A pass interrupted by a database error must not strand its claims until the lease."""

from __future__ import annotations

from datetime import timedelta

from reminders.bootstrap import App
from reminders.clock import FixedClock
from reminders.db import claims
from tests.support import RecordingChannel, dispatcher, log


def test_a_workers_own_unstarted_claims_are_sent_on_its_next_pass(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    log(app)
    worker = dispatcher(app, channel, worker_id="worker-a")
    with app.sessions.begin() as session:  # claimed, then the pass died before sending
        claim = claims.claim_due(
            session, now=clock.now(), worker="worker-a", lease=timedelta(minutes=2), limit=10
        )
    assert len(claim.messages) == 1
    clock.advance(timedelta(seconds=1))  # well inside the lease
    report = worker.dispatch_due()
    assert report.released == 1
    assert channel.sent_ids() == [claim.messages[0].id]


def test_another_workers_claims_wait_for_their_lease(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    log(app)
    with app.sessions.begin() as session:
        claims.claim_due(
            session, now=clock.now(), worker="worker-b", lease=timedelta(minutes=2), limit=10
        )
    clock.advance(timedelta(seconds=1))
    assert dispatcher(app, channel, worker_id="worker-a").dispatch_due().sent == 0
    assert channel.sent == []
