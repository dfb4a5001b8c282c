"""kill -9 during a burst, again and again: nothing is lost, and a message reaches the
provider twice only inside the window the delivery contract states (a claim whose lease
expired, recorded as `lease_expired` in its history)."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.helpers import Processes, ServeProcess, database, outbox_ids, wait_for
from tests.faults.conftest import (
    TERMINAL,
    FaultDatabases,
    Report,
    describe_all,
    due_avoid_ids,
    duplicates,
    event_counts,
    is_ready,
    reminders_env,
    unsettled_count,
)

MESSAGES = 2000
WORKERS = 3
LEASE_SECONDS = 10
KILL_FOR = 15.0  # seconds of killing, from the first send
KILL_EVERY = (0.2, 0.6)  # seconds between kills, drawn from a seeded random
BATCH_SIZE = 5
MIN_KILLS = 5
DRAIN_TIMEOUT = 90.0
SEED = int(os.environ.get("REMINDERS_TEST_FAULT_SEED", "20261127"))


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_sigkill_during_a_burst_loses_nothing_and_duplicates_only_after_a_lease_expired(
    fault_databases: FaultDatabases, processes: Processes, tmp_path: Path, figures: Report
) -> None:
    target = fault_databases.copy("crash", MESSAGES)
    data_dir = tmp_path / "data"
    outbox = data_dir / "outbox.log"
    env = reminders_env(
        data_dir,
        target.url,
        REMINDERS_WORKER__LEASE_SECONDS=str(LEASE_SECONDS),
        REMINDERS_WORKER__POLL_INTERVAL="0.2",
        # Small claims: more claim, send and record points for a kill to land
        # between, and a burst long enough to be killed into repeatedly.
        REMINDERS_WORKER__BATCH_SIZE=str(BATCH_SIZE),
    )
    rng = random.Random(SEED)
    started_count = 0

    def start_worker() -> ServeProcess:
        nonlocal started_count
        started_count += 1
        return processes.serve(
            env=env, cwd=tmp_path, name=f"worker{started_count}", command="worker"
        )

    with database(target.url) as db:
        due = due_avoid_ids(db)
        assert len(due) == MESSAGES
        assert unsettled_count(db, due) == MESSAGES

        started = time.monotonic()
        workers = [start_worker() for _ in range(WORKERS)]
        wait_for(
            lambda: len(outbox_ids(outbox)) > 0,
            timeout=30,
            interval=0.02,
            what="the burst to start",
            diagnose=lambda: describe_all(workers),
        )

        kills = kills_of_ready = 0
        stop_killing = time.monotonic() + KILL_FOR
        while time.monotonic() < stop_killing and unsettled_count(db, due) > 0:
            time.sleep(rng.uniform(*KILL_EVERY))
            ready = [n for n, w in enumerate(workers) if is_ready(w)]
            # A random worker, among those already sending when there are any: killing a
            # process still importing tests nothing.
            victim = rng.choice(ready or range(len(workers)))
            kills_of_ready += bool(ready)
            doomed = workers[victim]
            assert doomed.running(), f"a worker exited by itself\n{doomed.describe()}"
            doomed.popen.send_signal(signal.SIGKILL)
            assert doomed.popen.wait(timeout=10) == -signal.SIGKILL
            kills += 1
            workers[victim] = start_worker()
        last_kill = time.monotonic()
        left_after_kills = unsettled_count(db, due)
        assert kills >= MIN_KILLS, f"the burst ended after {kills} kills: too short to test"

        def drained() -> bool:
            for worker in workers:
                assert worker.running(), f"a worker exited by itself\n{worker.describe()}"
            return unsettled_count(db, due) == 0

        wait_for(
            drained,
            timeout=DRAIN_TIMEOUT,
            interval=0.2,
            what=f"all {MESSAGES} due messages settled after {kills} kills",
            diagnose=lambda: describe_all(workers),
        )
        drain = time.monotonic() - started
        after_kills = time.monotonic() - last_kill
        for worker in workers:
            assert worker.terminate(timeout=15) == 0, worker.describe()

        sends = outbox_ids(outbox)
        at_provider = Counter(sends)
        states = db.states(due)
        not_terminal = {i: s for i, s in states.items() if s not in TERMINAL}
        lost = sorted(i for i in due if states[i] != "sent" or at_provider[i] == 0)
        unexpected = sorted(set(at_provider) - set(due))
        twice = duplicates(sends)
        lease_expired = event_counts(db, "lease_expired")
        sent_events = event_counts(db, "sent")
        outside_window = {i: n for i, n in twice.items() if lease_expired[i] == 0}
        all_clear = Counter(
            str(s) for s in db.column("SELECT state FROM messages WHERE step_id = 'all_clear'")
        )

    extra_sends = sum(n - 1 for n in twice.values())
    figures(
        f"{MESSAGES} messages, {kills} kills, lost {len(lost)}, duplicates {len(twice)} "
        f"({extra_sends} extra sends), drained in {drain:.1f} s",
        [
            "",
            f"kill -9 during a burst: {WORKERS} workers on PostgreSQL, lease {LEASE_SECONDS} s, "
            f"seed {SEED}",
            f"  messages due          {MESSAGES}",
            f"  kills (SIGKILL)       {kills} ({kills_of_ready} of a worker already sending), "
            f"{started_count} worker processes in all",
            f"  unsettled after kills {left_after_kills}",
            f"  claims recovered      {len(lease_expired)} messages with lease_expired "
            f"({sum(lease_expired.values())} events)",
            f"  sends at the provider {len(sends)}",
            f"  lost                  {len(lost)}",
            f"  duplicates            {len(twice)} messages, {extra_sends} extra sends; "
            f"outside the lease window: {len(outside_window)}",
            f"  time to drain         {drain:.1f} s from start, {after_kills:.1f} s after the "
            f"last kill",
        ],
    )
    assert not_terminal == {}, f"{len(not_terminal)} due messages not settled"
    assert lost == [], f"{len(lost)} messages lost, e.g. {lost[:10]}"
    assert unexpected == [], f"sent but never due: {unexpected[:10]}"
    # Fencing: whatever reached the provider, one outcome was recorded per message.
    assert {i: n for i, n in sent_events.items() if n != 1} == {}
    assert sorted(sent_events) == sorted(due)
    # The only way to a second send: the worker died between the provider and the commit,
    # and the message went out again after its lease, as its history says.
    assert outside_window == {}, (
        f"{len(outside_window)} messages sent more than once without a lease_expired event: "
        f"{dict(list(outside_window.items())[:10])}"
    )
    # Nothing sent early: the all-clear messages are hours away and untouched.
    assert all_clear == {"pending": MESSAGES}
