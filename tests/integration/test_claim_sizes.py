"""Claims sized to the provider's speed, and claimed in due order from the index."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from reminders import dispatch
from reminders.bootstrap import App
from reminders.channels.base import Outgoing
from reminders.db import claims
from reminders.db.models import Message
from reminders.dispatch import CLAIM_SECONDS, FIRST_CLAIM
from tests.support import RecordingChannel, dispatcher, treatment_input


def due_now(app: App, count: int) -> None:
    """`count` treatments logged now: each has its avoid text due at once."""
    app.service.log_treatments(
        app.clinic.id,
        [
            treatment_input(phone=f"+1212555{1000 + i:04d}", name=f"Patient {i}")
            for i in range(count)
        ],
    )


@pytest.fixture
def claim_limits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The limit of every claim the dispatcher makes, in order."""
    limits: list[int] = []
    real = claims.claim_due

    def recording(session: object, **kwargs: object) -> claims.Claim:
        limit = kwargs["limit"]
        assert isinstance(limit, int)
        limits.append(limit)
        return real(session, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(dispatch.claims, "claim_due", recording)
    return limits


def test_a_fast_provider_gets_whole_batches_after_a_first_small_claim(
    app: App, claim_limits: list[int]
) -> None:
    due_now(app, 60)
    channel = RecordingChannel()
    worker = dispatcher(app, channel)
    worker.batch_size = 50
    report = worker.dispatch_due()
    assert report.sent == 60
    assert claim_limits[0] == FIRST_CLAIM, claim_limits
    assert claim_limits[-1] == 50, claim_limits  # grown to the batch size once sends proved quick


def test_a_slow_provider_gets_claims_of_about_a_second_so_other_workers_share_the_backlog(
    app: App, claim_limits: list[int]
) -> None:
    due_now(app, 120)
    channel = RecordingChannel()
    per_send = 0.02  # 50 sends a second: a claim should hold about 50

    def slow(_outgoing: Outgoing) -> None:
        time.sleep(per_send)

    channel.before_send = slow
    worker = dispatcher(app, channel)
    assert worker.batch_size >= 500
    report = worker.dispatch_due()
    assert report.sent == 120
    grown = claim_limits[1:]
    assert grown, "more than one claim was needed"
    # Sleeping may overrun, never underrun: at most a second's worth, never the batch.
    assert all(1 <= limit <= CLAIM_SECONDS / per_send for limit in grown)
    assert max(grown) >= 10


def test_on_sqlite_the_claim_walks_the_due_order_index_without_sorting(app: App) -> None:
    if app.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's plan; PostgreSQL plans from statistics")
    statement = claims._CLAIMS[False, False]
    compiled = statement.compile(dialect=app.engine.dialect)
    params = {name: "2026-01-01 00:00:00.000000" for name in compiled.params}
    params["limit"] = 10
    with app.engine.connect() as connection:
        plan = connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled.string}",
            tuple(params[name] for name in compiled.positiontup or ()),
        ).all()
    details = " | ".join(str(row[-1]) for row in plan)
    assert "ix_messages_state_due_at" in details, details
    assert "TEMP B-TREE" not in details, details


def test_a_claim_takes_at_most_its_limit_in_due_order(app: App) -> None:
    due_now(app, 60)
    with app.sessions.begin() as session:
        claim = claims.claim_due(
            session, now=app.clock.now(), worker="w", lease=timedelta(minutes=2), limit=10
        )
    assert [m.id for m in claim.messages] == sorted(m.id for m in claim.messages)
    assert len(claim.messages) == 10
    with app.sessions() as session:
        sending = session.scalar(
            sa.select(sa.func.count()).select_from(Message).where(Message.state == "sending")
        )
    assert sending == 10
