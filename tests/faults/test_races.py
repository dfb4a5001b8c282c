"""Races between processes on PostgreSQL: cancel against dispatch, and SIGTERM mid-burst."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from reminders.service import CancelResult
from tests.e2e.helpers import Processes, database, outbox_ids, squash, wait_for
from tests.faults.conftest import (
    FaultDatabases,
    Report,
    describe_all,
    due_avoid_ids,
    duplicates,
    event_counts,
    load_app,
    reminders_env,
    unsettled_count,
)

SEED = int(os.environ.get("REMINDERS_TEST_FAULT_SEED", "20261127"))
RACE_TREATMENTS = 400
CANCEL_THREADS = 4
CANCEL_PAUSE = (0.0, 0.02)  # seconds between one thread's cancels
BURST_MESSAGES = 1000
BURST_BATCH = 500


class Doomed:
    """The treatments still to cancel, handed out to the cancelling threads."""

    def __init__(self, treatments: list[int], avoid_of: dict[int, int], rng: random.Random):
        self._left = {avoid_of[t]: t for t in treatments}  # avoid message id -> treatment
        self._order = sorted(self._left)
        rng.shuffle(self._order)
        self._lock = threading.Lock()

    def take(self, outbox: Path | None) -> int | None:
        """A random one, or with `outbox`, the first after the latest message sent."""
        sends = outbox_ids(outbox) if outbox else []
        latest = sends[-1] if sends else 0
        with self._lock:
            if not self._left:
                return None
            ahead = [i for i in self._left if outbox and i > latest]
            message = min(ahead) if ahead else next(i for i in self._order if i in self._left)
            return self._left.pop(message)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(150)
def test_cancel_racing_two_workers_never_sends_after_the_cancel_was_acknowledged(
    fault_databases: FaultDatabases, processes: Processes, tmp_path: Path, figures: Report
) -> None:
    target = fault_databases.copy("race", RACE_TREATMENTS)
    data_dir = tmp_path / "data"
    outbox = data_dir / "outbox.log"
    env = reminders_env(data_dir, target.url, REMINDERS_WORKER__POLL_INTERVAL="0.2")
    rng = random.Random(SEED)

    with database(target.url) as db:
        with db.engine.connect() as connection:
            avoid_of = {
                int(treatment): int(message)
                for treatment, message in connection.execute(
                    sa.text("SELECT treatment_id, id FROM messages WHERE step_id = 'avoid'")
                )
            }
        due = due_avoid_ids(db)
        assert sorted(avoid_of.values()) == due
        assert len(due) == RACE_TREATMENTS
        doomed = rng.sample(sorted(avoid_of), RACE_TREATMENTS // 2)
        pool_of_doomed = Doomed(doomed, avoid_of, rng)
        seeds = [rng.random() for _ in range(CANCEL_THREADS)]
        app = load_app(env)
        results: dict[int, CancelResult] = {}
        lock = threading.Lock()

        def cancel_some(chaser: bool, seed: float) -> None:
            # Half the threads cancel doomed treatments in random order; the other half
            # chase the send front: the next doomed message after the latest one sent,
            # which is about to be claimed, started or sent by a worker.
            pause = random.Random(seed)
            while True:
                time.sleep(pause.uniform(*CANCEL_PAUSE))
                treatment_id = pool_of_doomed.take(outbox if chaser else None)
                if treatment_id is None:
                    return
                result = app.service.cancel(app.clinic.id, treatment_id, reason="race test")
                with lock:
                    results[treatment_id] = result

        try:
            started = time.monotonic()
            workers = [
                processes.serve(env=env, cwd=tmp_path, name=f"worker{n}", command="worker")
                for n in (1, 2)
            ]
            wait_for(
                lambda: len(outbox_ids(outbox)) > 0,
                timeout=30,
                interval=0.005,
                what="the burst to start",
                diagnose=lambda: describe_all(workers),
            )
            sent_when_cancels_began = len(outbox_ids(outbox))
            with ThreadPoolExecutor(CANCEL_THREADS) as pool:
                list(pool.map(cancel_some, [n % 2 == 0 for n in range(CANCEL_THREADS)], seeds))
            cancels_took = time.monotonic() - started
            sent_when_cancels_ended = len(outbox_ids(outbox))
        finally:
            app.close()

        def drained() -> bool:
            for worker in workers:
                assert worker.running(), f"a worker exited\n{worker.describe()}"
            return unsettled_count(db, due) == 0

        wait_for(
            drained,
            timeout=60,
            interval=0.1,
            what="every avoid message settled",
            diagnose=lambda: describe_all(workers),
        )
        drain = time.monotonic() - started
        for worker in workers:
            assert worker.terminate(timeout=10) == 0, worker.describe()

        sends = outbox_ids(outbox)
        at_provider = Counter(sends)
        states = {m.id: m.state for m in db.messages()}
        claimed = event_counts(db, "claimed")

    acknowledged = {i for r in results.values() for i in r.cancelled}
    in_flight = {i for r in results.values() for i in r.in_flight}
    doomed_avoid = {avoid_of[t] for t in doomed}
    avoid_cancelled = acknowledged & doomed_avoid
    cancelled_while_claimed = {i for i in avoid_cancelled if claimed[i] > 0}
    sent_before_cancel = doomed_avoid - acknowledged - in_flight
    sent_after_cancel = sorted(i for i in acknowledged if at_provider[i] > 0)
    figures(
        f"{RACE_TREATMENTS} treatments, {len(doomed)} cancels: {len(avoid_cancelled)} avoid "
        f"messages stopped ({len(cancelled_while_claimed)} already claimed), "
        f"{len(in_flight)} in flight, {len(sent_before_cancel)} already sent; sent after an "
        f"acknowledged cancel {len(sent_after_cancel)}, duplicates {len(duplicates(sends))}",
        [
            "",
            f"cancel against dispatch: 2 workers on PostgreSQL, {CANCEL_THREADS} cancelling "
            f"threads, seed {SEED}",
            f"  sent when cancels began/ended   {sent_when_cancels_began}/{sent_when_cancels_ended}"
            f" (cancels done {cancels_took:.1f} s after the workers started)",
            f"  avoid messages cancelled        {len(avoid_cancelled)}, of which "
            f"{len(cancelled_while_claimed)} were claimed by a worker first",
            f"  reported in flight              {len(in_flight)}",
            f"  sent before the cancel          {len(sent_before_cancel)}",
            f"  sent after an acknowledged one  {len(sent_after_cancel)}",
            f"  sends at the provider           {len(sends)}, duplicates {len(duplicates(sends))}",
            f"  time to drain                   {drain:.1f} s",
        ],
    )
    assert sorted(results) == sorted(doomed)
    # The heart of it: a message a cancel reported as stopped never reaches the provider.
    assert sent_after_cancel == [], f"sent after the cancel was acknowledged: {sent_after_cancel}"
    assert {i: states[i] for i in acknowledged} == dict.fromkeys(acknowledged, "cancelled")
    # In flight at the cancel: handed to the provider, so sent, once.
    assert {i: (states[i], at_provider[i]) for i in in_flight} == dict.fromkeys(
        in_flight, ("sent", 1)
    )
    assert acknowledged & in_flight == set()
    # Each cancelled treatment's avoid message was stopped, in flight, or already sent.
    assert {i: states[i] for i in sent_before_cancel} == dict.fromkeys(sent_before_cancel, "sent")
    # Everything else went out exactly once, and the provider saw nothing else.
    assert duplicates(sends) == {}
    assert set(sends) == {i for i in due if states[i] == "sent"}
    assert {states[i] for i in due} <= {"sent", "cancelled"}
    assert {states[avoid_of[t]] for t in set(avoid_of) - set(doomed)} == {"sent"}


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(150)
def test_sigterm_mid_burst_on_postgresql_hands_claims_back_and_a_restart_sends_the_rest_once(
    fault_databases: FaultDatabases, processes: Processes, tmp_path: Path, figures: Report
) -> None:
    target = fault_databases.copy("sigterm", BURST_MESSAGES)
    data_dir = tmp_path / "data"
    outbox = data_dir / "outbox.log"
    env = reminders_env(
        data_dir,
        target.url,
        REMINDERS_WORKER__POLL_INTERVAL="0.2",
        # One claim takes half the burst: stopping mid-burst means handing claims back.
        REMINDERS_WORKER__BATCH_SIZE=str(BURST_BATCH),
    )

    with database(target.url) as db:
        due = due_avoid_ids(db)
        assert len(due) == BURST_MESSAGES

        worker = processes.serve(env=env, cwd=tmp_path, name="worker", command="worker")
        wait_for(
            lambda: len(outbox_ids(outbox)) >= 20,
            timeout=30,
            interval=0.005,
            what="the burst to start",
            diagnose=worker.describe,
        )
        signalled = time.monotonic()
        code = worker.terminate(timeout=15)
        exit_took = time.monotonic() - signalled
        assert code == 0, worker.describe()

        sent_before = outbox_ids(outbox)
        messages = {m.id: m for m in db.messages()}
        released = event_counts(db, "released")
        still_sending = [m.id for m in messages.values() if m.state == "sending"]
        recorded_sent = {m.id for m in messages.values() if m.state == "sent"}
        left = [messages[i] for i in due if messages[i].state != "sent"]
        dirty = [
            m.id
            for m in left
            if m.state != "pending"
            or m.claim_token
            or m.claimed_by
            or m.lease_until is not None
            or m.handed_at is not None
            or m.attempts != 0
        ]

        restarted_at = time.monotonic()
        restarted = processes.serve(env=env, cwd=tmp_path, name="restarted", command="worker")

        def drained() -> bool:
            assert restarted.running(), restarted.describe()
            return unsettled_count(db, due) == 0

        wait_for(
            drained,
            timeout=60,
            interval=0.05,
            what="the restarted worker to send the rest",
            diagnose=restarted.describe,
        )
        restart_drain = time.monotonic() - restarted_at
        assert restarted.terminate(timeout=10) == 0, restarted.describe()
        sent = outbox_ids(outbox)
        final = {m.id: m for m in db.messages()}

    figures(
        f"SIGTERM after {len(sent_before)} of {BURST_MESSAGES} sent: exit {code} in "
        f"{exit_took:.2f} s, {len(still_sending)} left sending, {len(released)} claims handed "
        f"back; restart sent the rest in {restart_drain:.1f} s, duplicates "
        f"{len(duplicates(sent))}, lost {len(set(due) - set(sent))}",
        [
            "",
            f"SIGTERM mid-burst: 1 worker on PostgreSQL, batch {BURST_BATCH}",
            f"  sent before SIGTERM     {len(sent_before)} (recorded sent: {len(recorded_sent)})",
            f"  exit code, time         {code}, {exit_took:.2f} s after SIGTERM",
            f"  handed back (released)  {len(released)}; left pending {len(left)}",
            f"  restart drained in      {restart_drain:.1f} s",
            f"  duplicates, lost        {len(duplicates(sent))}, {len(set(due) - set(sent))}",
        ],
    )
    assert still_sending == []
    assert duplicates(sent_before) == {}
    # What reached the provider is exactly what is recorded as sent.
    assert set(sent_before) == recorded_sent
    assert left, f"all {BURST_MESSAGES} were sent: SIGTERM did not cut the burst"
    assert released, "SIGTERM came between claims: nothing was handed back"
    assert dirty == [], f"not handed back cleanly: {dirty[:10]}"
    assert "stopping on signal" in squash(worker.stderr())
    assert duplicates(sent) == {}
    assert sorted(sent) == sorted(due)
    assert sent[: len(sent_before)] == sent_before
    assert {i: final[i].state for i in due} == dict.fromkeys(due, "sent")
    assert [m.id for m in final.values() if m.state == "sending"] == []
    for process in (worker, restarted):
        assert "Traceback" not in process.stderr(), process.describe()
