"""5000 messages due at the same instant on PostgreSQL: each sent exactly once by four
worker processes, and the drain time with one worker against four, from the due instant
(printed, not asserted: on a small shared machine the ratio is noise as much as signal)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.e2e.helpers import Database, Processes, database, outbox_ids, wait_for
from tests.faults.conftest import (
    FaultDatabases,
    Report,
    describe_all,
    due_avoid_ids,
    duplicates,
    event_counts,
    reminders_env,
)

MESSAGES = 5000
DRAIN_TIMEOUT = 90.0


@dataclass(frozen=True)
class Run:
    workers: int
    drain: float
    duplicates: dict[int, int]
    lost: list[int]
    unexpected: list[int]
    per_worker: dict[str, int]
    not_sent: dict[int, str]
    exit_codes: list[int]

    @property
    def rate(self) -> float:
        return MESSAGES / self.drain


def make_due(db: Database, *, in_seconds: float) -> None:
    """Every avoid message due at one instant, this far from now."""
    with db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE messages SET natural_at = :at, due_at = :at, send_after = :at"
                " WHERE step_id = 'avoid'"
            ),
            {"at": datetime.now(UTC) + timedelta(seconds=in_seconds)},
        )


def _drain(
    fault_databases: FaultDatabases, processes: Processes, tmp_path: Path, workers: int
) -> Run:
    """Fresh data, `workers` worker processes: seconds from their start until all are sent."""
    target = fault_databases.copy(f"scale{workers}", MESSAGES)
    data_dir = tmp_path / f"data{workers}"
    outbox = data_dir / "outbox.log"
    env = reminders_env(data_dir, target.url, REMINDERS_WORKER__POLL_INTERVAL="0.2")
    try:
        with database(target.url) as db:
            due = due_avoid_ids(db)
            assert len(due) == MESSAGES
            assert (
                db.scalar("SELECT count(DISTINCT send_after) FROM messages WHERE step_id = 'avoid'")
                == 1
            ), "the avoid messages are not all due at the same instant"

            make_due(db, in_seconds=600)  # not before every worker is up
            running = [
                processes.serve(
                    env=env, cwd=tmp_path, name=f"scale{workers}-worker{n}", command="worker"
                )
                for n in range(workers)
            ]
            for worker in running:
                worker.wait_ready()
            # Due once every worker is up, so that the drain is shared, not won by
            # whichever process started first.
            due_in = 1.0
            make_due(db, in_seconds=due_in)
            started = time.monotonic() + due_in

            def all_sent() -> bool:
                for worker in running:
                    assert worker.running(), f"a worker exited\n{worker.describe()}"
                sent = db.scalar(
                    "SELECT count(*) FROM messages WHERE step_id = 'avoid' AND state = 'sent'"
                )
                return sent == MESSAGES

            wait_for(
                all_sent,
                timeout=DRAIN_TIMEOUT,
                interval=0.2,
                what=f"{MESSAGES} messages sent by {workers} worker(s)",
                diagnose=lambda: describe_all(running),
            )
            drain = time.monotonic() - started
            codes = [w.terminate(timeout=15) for w in running]

            sends = outbox_ids(outbox)
            at_provider = Counter(sends)
            states = db.states(due)
            per_worker = Counter(
                str(w) for w in db.column("SELECT worker FROM message_events WHERE kind = 'sent'")
            )
            assert sum(event_counts(db, "sent").values()) == MESSAGES
    finally:
        fault_databases.drop(target)
    return Run(
        workers=workers,
        drain=drain,
        duplicates=duplicates(sends),
        lost=sorted(i for i in due if at_provider[i] == 0),
        unexpected=sorted(set(at_provider) - set(due)),
        per_worker=dict(sorted(per_worker.items())),
        not_sent={i: s for i, s in states.items() if s != "sent"},
        exit_codes=codes,
    )


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(360)
def test_four_workers_send_5000_messages_due_at_once_exactly_once_and_the_drain_time_1_vs_4(
    fault_databases: FaultDatabases, processes: Processes, tmp_path: Path, figures: Report
) -> None:
    fault_databases.template.ensure(MESSAGES)  # logging them is not part of either run's time
    one = _drain(fault_databases, processes, tmp_path, 1)
    four = _drain(fault_databases, processes, tmp_path, 4)
    figures(
        f"{MESSAGES} messages: 1 worker {one.drain:.1f} s ({one.rate:.0f} msgs/s), 4 workers "
        f"{four.drain:.1f} s ({four.rate:.0f} msgs/s), ratio {one.drain / four.drain:.2f}x; "
        f"duplicates {len(one.duplicates)}/{len(four.duplicates)}, "
        f"lost {len(one.lost)}/{len(four.lost)}",
        [
            "",
            f"{MESSAGES} messages due at the same instant on PostgreSQL (drain: from the due "
            "instant, once every worker is up, until all are sent; DB polled every 0.2 s)",
            *(
                f"  {run.workers} worker(s): {run.drain:6.1f} s, {run.rate:6.0f} msgs/s, "
                f"duplicates {len(run.duplicates)}, lost {len(run.lost)}, per worker "
                f"{list(run.per_worker.values())}"
                for run in (one, four)
            ),
            f"  speed-up with 4 workers: {one.drain / four.drain:.2f}x (not asserted)",
        ],
    )
    for run in (one, four):
        assert run.exit_codes == [0] * run.workers
        assert run.not_sent == {}
        assert run.lost == [], f"{run.workers} worker(s): {len(run.lost)} lost"
        assert run.unexpected == []
        assert run.duplicates == {}, f"{run.workers} worker(s): sent twice: {run.duplicates}"
    assert len(four.per_worker) == 4, f"not every worker sent: {four.per_worker}"
