"""A pass interrupted by a database error must not strand its claims until the lease."""

from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa

from reminders.bootstrap import App
from reminders.channels.base import Outgoing
from reminders.clock import FixedClock
from reminders.db import claims
from reminders.db.models import Message
from reminders.dispatch import FIRST_CLAIM
from tests.support import RecordingChannel, dispatcher, log, treatment_input


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


def test_stopping_mid_slice_hands_back_what_the_provider_never_saw(
    app: App, channel: RecordingChannel
) -> None:
    app.service.log_treatments(
        app.clinic.id,
        [treatment_input(phone=f"+1212555{2000 + i:04d}", name=f"P{i}") for i in range(30)],
    )
    worker = dispatcher(app, channel)
    worker.batch_size = 30
    stop = threading.Event()

    def stop_after_five(_outgoing: Outgoing) -> None:
        if len(channel.sent) == 4:  # this is the fifth send
            stop.set()

    channel.before_send = stop_after_five
    report = worker.dispatch_due(stopping=stop.is_set)
    assert report.sent == 5
    assert report.released == FIRST_CLAIM - 5  # the rest of the claim; the others never claimed
    with app.sessions() as session:
        rows = session.scalars(sa.select(Message).where(Message.state != "sent")).all()
    avoid = [m for m in rows if m.step_id == "avoid"]
    assert len(avoid) == 25
    assert all(
        (m.state, m.claim_token, m.handed_at, m.attempts) == ("pending", None, None, 0)
        for m in avoid
    )
