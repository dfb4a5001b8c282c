"""Claims sized to the provider's speed, and claimed in due order from the index."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from reminders import dispatch
from reminders.bootstrap import App
from reminders.channels.base import Outgoing
from reminders.db import claims
from reminders.db.models import PENDING_ROW, SENDING_ROW, Message
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


def sqlite_plan(app: App, statement: sa.Executable) -> str:
    compiled = statement.compile(dialect=app.engine.dialect)
    values = {name: bind.value for name, bind in compiled.binds.items()}
    arguments = tuple(
        "2026-01-01 00:00:00.000000"
        if isinstance(values.get(name), datetime)
        else (10 if values.get(name) is None else values[name])
        for name in compiled.positiontup or ()
    )
    with app.engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled.string}", arguments)
        return " | ".join(str(row[-1]) for row in plan)


NOW = datetime(2026, 1, 1, tzinfo=UTC)
QUEUE_QUERIES: dict[str, tuple[Callable[[], sa.Executable], str]] = {
    "claim": (lambda: claims._CLAIMS[False, False], "ix_messages_pending_due_at (due_at<?)"),
    "claimed rows": (lambda: claims._CLAIMED_ROWS, "ix_messages_sending_claim_token"),
    "next wake": (
        lambda: sa.select(sa.func.min(Message.send_after)).where(Message.state == PENDING_ROW),
        "ix_messages_pending_send_after",
    ),
    "expiry sweep": (
        lambda: (
            sa.update(Message)
            .where(Message.state == PENDING_ROW, Message.expires_at <= NOW)
            .values(state="skipped")
        ),
        "ix_messages_pending_expires_at",
    ),
    "lease sweep": (
        lambda: (
            sa.update(Message)
            .where(Message.state == SENDING_ROW, Message.lease_until < NOW)
            .values(state="pending")
        ),
        "ix_messages_sending_claim_token",
    ),
}


@pytest.mark.parametrize("query", QUEUE_QUERIES)
def test_on_sqlite_queue_queries_read_only_the_partial_indexes(app: App, query: str) -> None:
    """The partial indexes hold only unsent rows: a plan off them would read the history."""
    if app.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's plan; PostgreSQL plans from statistics")
    build, index = QUEUE_QUERIES[query]
    plan = sqlite_plan(app, build())
    assert index in plan, plan
    assert "SCAN messages " not in plan.replace(f"SCAN messages USING INDEX {index}", ""), plan
    if query == "claim":
        assert "TEMP B-TREE" not in plan, plan  # due order comes from the index


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
