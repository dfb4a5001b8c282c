"""kill -9 during a burst, again and again: nothing is lost, and no message reaches the
provider twice. The workers text through the local Twilio (tests/delivery/fake_twilio.py,
in this process), which counts the creates for each patient's number. A claim whose lease
expired after its call began (`lease_expired` in its history) is looked for at Twilio
before it is sent again (`reconciled`)."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.delivery.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.e2e.helpers import Database, Processes, ServeProcess, database, wait_for
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
SENDER = "+13125550100"
# The fake lists a message as soon as it is created; a recovered claim is looked for a
# lease after its call began, long past any lag.
LISTING_LAG_SECONDS = 2
BEGUN = "worker stopped holding the claim; its provider call had begun%"
SEED = int(os.environ.get("REMINDERS_TEST_FAULT_SEED", "20261127"))


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_sigkill_during_a_burst_loses_nothing_and_sends_nothing_twice(
    fault_databases: FaultDatabases, processes: Processes, tmp_path: Path, figures: Report
) -> None:
    with FakeTwilio() as twilio:
        _storm(fault_databases, processes, tmp_path, figures, twilio)


def _storm(
    fault_databases: FaultDatabases,
    processes: Processes,
    tmp_path: Path,
    figures: Report,
    twilio: FakeTwilio,
) -> None:
    target = fault_databases.copy("crash", MESSAGES)
    data_dir = tmp_path / "data"
    env = reminders_env(
        data_dir,
        target.url,
        REMINDERS_TWILIO__ACCOUNT_SID=ACCOUNT_SID,
        REMINDERS_TWILIO__AUTH_TOKEN=AUTH_TOKEN,
        REMINDERS_TWILIO__FROM_NUMBER=SENDER,
        REMINDERS_TWILIO__API_BASE_URL=twilio.url,
        REMINDERS_TWILIO__RATE_PER_SECOND="1000",
        REMINDERS_TWILIO__LISTING_LAG_SECONDS=str(LISTING_LAG_SECONDS),
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
        phones = phones_of(db, due)
        assert unsettled_count(db, due) == MESSAGES

        started = time.monotonic()
        workers = [start_worker() for _ in range(WORKERS)]
        wait_for(
            lambda: len(twilio.received) > 0,
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

        created = [r.to for r in twilio.received if r.method == "POST" and r.sid is not None]
        sends = [phones[to] for to in created if to in phones]
        at_provider = Counter(sends)
        states = db.states(due)
        not_terminal = {i: s for i, s in states.items() if s not in TERMINAL}
        lost = sorted(i for i in due if states[i] != "sent" or at_provider[i] == 0)
        unexpected = sorted(to or "" for to in created if to not in phones)
        twice = duplicates(sends)
        lease_expired = event_counts(db, "lease_expired")
        after_call = begun_when_recovered(db)
        reconciled = event_counts(db, "reconciled")
        found = found_at_provider(db)
        not_reconciled = sorted(after_call - set(reconciled))
        sent_events = event_counts(db, "sent")
        outside_window = {i: n for i, n in twice.items() if lease_expired[i] == 0}
        all_clear = Counter(
            str(s) for s in db.column("SELECT state FROM messages WHERE step_id = 'all_clear'")
        )

    extra_sends = sum(n - 1 for n in twice.values())
    figures(
        f"{MESSAGES} messages, {kills} kills, {len(lease_expired)} recovered, "
        f"{len(reconciled)} reconciled, lost {len(lost)}, duplicates {len(twice)} "
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
            f"({sum(lease_expired.values())} events), {len(after_call)} after their call began",
            f"  reconciled            {len(reconciled)} messages: {found} found at the provider "
            f"(not sent again), {sum(reconciled.values()) - found} not found (sent again)",
            f"  creates at Twilio     {len(sends)} ({len(twilio.lists)} lookups)",
            f"  lost                  {len(lost)}",
            f"  duplicates at Twilio  {len(twice)} messages, {extra_sends} extra sends",
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
    # A worker that died between Twilio and its commit left a claim that was looked for
    # at Twilio, found there and adopted, not sent again.
    assert twice == {}, f"{len(twice)} messages created twice at Twilio: {list(twice)[:10]}"
    assert outside_window == {}
    assert not_reconciled == [], f"recovered after the call, never looked for: {not_reconciled}"
    # Nothing sent early: the all-clear messages are hours away and untouched.
    assert all_clear == {"pending": MESSAGES}


def phones_of(db: Database, ids: list[int]) -> dict[str, int]:
    """Each due message's patient's number: one treatment, one due text per patient."""
    rows = db.column(
        "SELECT p.phone || ' ' || m.id FROM messages m JOIN treatments t ON t.id = m.treatment_id "
        "JOIN patients p ON p.id = t.patient_id WHERE m.id = ANY(:ids)",
        ids=ids,
    )
    pairs = [str(row).split(" ") for row in rows]
    phones = {phone: int(message_id) for phone, message_id in pairs}
    assert len(phones) == len(ids)
    return phones


def begun_when_recovered(db: Database) -> set[int]:
    """Messages whose claim expired after their provider call began."""
    rows = db.column(
        "SELECT message_id FROM message_events WHERE kind = 'lease_expired' AND detail LIKE :d",
        d=BEGUN,
    )
    return {int(str(i)) for i in rows}


def found_at_provider(db: Database) -> int:
    return int(
        str(
            db.scalar(
                "SELECT count(*) FROM message_events WHERE kind = 'reconciled' "
                "AND detail LIKE 'found at the provider%'"
            )
        )
    )
