"""kill -9 during a burst sent through the real Twilio client: no delivery report is lost.

Twilio may report a message's status before the worker has recorded the message's SID
(here, worst case, before its 201 reaches the worker; the worker may even die
before reading the 201). The API keeps such a report, and the workers' housekeeping
applies it once a message carries the SID. At the end every sent message must show
`delivered`, no kept report may be left for a message that carries its SID, and the
only reports left are those for a send whose outcome a killed worker never recorded
and that was not adopted when its claim was looked for at Twilio.
"""

from __future__ import annotations

import os
import random
import re
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.delivery.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, CallbackTiming, FakeTwilio
from tests.e2e.helpers import Database, Processes, ServeProcess, database, wait_for
from tests.faults.conftest import (
    TERMINAL,
    FaultDatabases,
    Report,
    describe_all,
    due_avoid_ids,
    event_counts,
    is_ready,
    reminders_env,
    unsettled_count,
)

MESSAGES = 1000
WORKERS = 3
LEASE_SECONDS = 10
BATCH_SIZE = 5
KILL_FOR = 12.0  # seconds of killing, from the first message Twilio created
KILL_EVERY = (0.5, 1.5)  # seconds between kills, drawn from a seeded random
READY_TIMEOUT = 20.0  # for a restarted worker to be up
MIN_KILLS = 5
STATUSES = ("sent", "delivered")
# Mostly the worst case (every report before the 201), some after it (racing the commit).
TIMINGS: tuple[CallbackTiming, ...] = ("before_reply", "before_reply", "after_reply")
API_READY_TIMEOUT = 30.0
DRAIN_TIMEOUT = 45.0
CALLBACKS_TIMEOUT = 15.0
APPLY_TIMEOUT = 5.0  # the housekeeping runs about once a second in every worker pass
SEED = int(os.environ.get("REMINDERS_TEST_FAULT_SEED", "20261127"))

FROM_NUMBER = "+12125559998"  # outside the patients' +12125550100..+12125555099
PUBLIC_BASE_URL = "https://reminders.harbor.example"  # what the fake signs over
API_LINE = re.compile(r"API on (http://[^/\s]+)/docs")
KEPT_LINE = re.compile(r"delivery report .*\boutcome=kept\b")
APPLIED_EARLY_LINE = re.compile(r"early delivery reports .*\bapplied=(\d+)")

AVOID_MESSAGES = """
    SELECT m.id, p.phone, m.state, m.provider_id, m.delivery_status
    FROM messages m
    JOIN treatments t ON t.id = m.treatment_id
    JOIN patients p ON p.id = t.patient_id
    WHERE m.step_id = 'avoid'
    ORDER BY m.id
"""
# Kept reports whose SID a message now carries: the housekeeping has yet to apply them.
KEPT_FOR_A_MESSAGE = """
    SELECT count(*) FROM early_delivery_reports r
    WHERE EXISTS (SELECT 1 FROM messages m WHERE m.provider_id = r.provider_id)
"""
KEPT_FOR_NO_MESSAGE = """
    SELECT r.provider_id FROM early_delivery_reports r
    WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.provider_id = r.provider_id)
"""
SENT_NOT_DELIVERED = """
    SELECT count(*) FROM messages
    WHERE step_id = 'avoid' AND state = 'sent' AND delivery_status IS DISTINCT FROM 'delivered'
"""


def count(db: Database, sql: str) -> int:
    return int(str(db.scalar(sql)))


def api_base_url(api: ServeProcess) -> str:
    """Where the API listens, from its start-up line (the helper picks a free port for it)."""
    match = API_LINE.search(api.stderr())
    assert match, f"no API address in its output\n{api.describe()}"
    return match.group(1)


def answers_health(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1.0, trust_env=False).status_code == 200
    except httpx.TransportError:
        return False


def poll(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    """Like wait_for, but says whether it held in time instead of failing: the figures
    are still printed when it did not."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def log_lines(processes: list[ServeProcess], pattern: re.Pattern[str]) -> list[re.Match[str]]:
    return [
        match
        for process in processes
        for line in process.stderr().splitlines()
        if (match := pattern.search(line))
    ]


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(150)
def test_sigkill_storm_through_twilio_loses_no_delivery_report(
    fault_databases: FaultDatabases, processes: Processes, tmp_path: Path, figures: Report
) -> None:
    test_started = time.monotonic()
    target = fault_databases.copy("reports", MESSAGES)
    rng = random.Random(SEED)
    timing_creates: Counter[str] = Counter()

    with (
        FakeTwilio(callback_statuses=STATUSES, callback_timing="before_reply") as fake,
        database(target.url) as db,
    ):
        env = reminders_env(
            tmp_path / "data",
            target.url,
            REMINDERS_TWILIO__ACCOUNT_SID=ACCOUNT_SID,
            REMINDERS_TWILIO__AUTH_TOKEN=AUTH_TOKEN,
            REMINDERS_TWILIO__FROM_NUMBER=FROM_NUMBER,
            REMINDERS_TWILIO__PUBLIC_BASE_URL=PUBLIC_BASE_URL,
            REMINDERS_TWILIO__API_BASE_URL=fake.url,
            REMINDERS_TWILIO__RATE_PER_SECOND="1000",
            REMINDERS_TWILIO__TIMEOUT_SECONDS="10",
            # The fake lists a message at once: a claim recovered after its call began
            # is looked for a lease later, long past any lag.
            REMINDERS_TWILIO__LISTING_LAG_SECONDS="2",
            REMINDERS_WORKER__LEASE_SECONDS=str(LEASE_SECONDS),
            REMINDERS_WORKER__POLL_INTERVAL="0.2",
            # Small claims: more claim, send and record points for a kill to land between.
            REMINDERS_WORKER__BATCH_SIZE=str(BATCH_SIZE),
        )
        due = due_avoid_ids(db)
        assert len(due) == MESSAGES
        assert unsettled_count(db, due) == MESSAGES

        # The webhooks first: a callback the API cannot take is a lost report.
        # (ServeProcess gives every child REMINDERS_API__PORT, a free port of its own.)
        api = processes.serve(env=env, cwd=tmp_path, name="api", command="api")
        api.wait_ready(timeout=API_READY_TIMEOUT)
        api_url = api_base_url(api)
        wait_for(
            lambda: answers_health(api_url),
            timeout=API_READY_TIMEOUT,
            interval=0.05,
            what=f"the API to answer {api_url}/healthz",
            diagnose=api.describe,
        )
        fake.callback_target = api_url
        api_up = time.monotonic()

        every_worker: list[ServeProcess] = []

        def start_worker() -> ServeProcess:
            worker = processes.serve(
                env=env, cwd=tmp_path, name=f"worker{len(every_worker) + 1}", command="worker"
            )
            every_worker.append(worker)
            return worker

        def creates() -> int:
            return sum(r.status == 201 for r in fake.received)

        started = time.monotonic()
        workers = [start_worker() for _ in range(WORKERS)]
        wait_for(
            lambda: creates() > 0,
            timeout=30,
            interval=0.02,
            what="the burst to reach Twilio",
            diagnose=lambda: describe_all([api, *workers]),
        )

        kills = 0
        timing: CallbackTiming = "before_reply"
        created_before = 0
        stop_killing = time.monotonic() + KILL_FOR
        while time.monotonic() < stop_killing and unsettled_count(db, due) > 0:
            time.sleep(rng.uniform(*KILL_EVERY))
            # A worker that is up: killing one still importing tests nothing, and with a
            # start-up of a second or two on a small machine that would be most kills.
            wait_for(
                lambda: any(is_ready(w) for w in workers),
                timeout=READY_TIMEOUT,
                what="a worker up to kill",
                diagnose=lambda: describe_all(workers),
            )
            victim = rng.choice([n for n, w in enumerate(workers) if is_ready(w)])
            doomed = workers[victim]
            assert doomed.running(), f"a worker exited by itself\n{doomed.describe()}"
            doomed.popen.send_signal(signal.SIGKILL)
            assert doomed.popen.wait(timeout=10) == -signal.SIGKILL
            kills += 1
            workers[victim] = start_worker()
            # Messages created from here on get their callbacks with the next timing;
            # the count per timing is approximate (a create in flight may be either).
            now_created = creates()
            timing_creates[timing] += now_created - created_before
            created_before = now_created
            timing = rng.choice(TIMINGS)
            fake.callback_timing = timing
        last_kill = time.monotonic()
        left_after_kills = unsettled_count(db, due)
        assert kills >= MIN_KILLS, f"the burst ended after {kills} kills: too short to test"
        now_created = creates()
        timing_creates[timing] += now_created - created_before
        created_before = now_created
        timing = "before_reply"  # the worst case, for the rest and the sends after the lease
        fake.callback_timing = timing

        def drained() -> bool:
            for process in (api, *workers):
                assert process.running(), f"{process.name} exited by itself\n{process.describe()}"
            return unsettled_count(db, due) == 0

        wait_for(
            drained,
            timeout=DRAIN_TIMEOUT,
            interval=0.2,
            what=f"all {MESSAGES} due messages settled after {kills} kills",
            diagnose=lambda: describe_all([api, *workers]),
        )
        drain = time.monotonic() - started
        after_kills = time.monotonic() - last_kill

        # Every message Twilio created has its reports answered; a created message's
        # record exists before its first callback is posted.
        created = [r for r in fake.received if r.status == 201]
        timing_creates[timing] += len(created) - created_before
        assert created, "Twilio created nothing"
        callbacks = fake.wait_for_callbacks(len(created) * len(STATUSES), CALLBACKS_TIMEOUT)

        # Then the housekeeping applies what was kept: every sent message delivered.
        applied_in_time = poll(
            lambda: count(db, KEPT_FOR_A_MESSAGE) == 0 and count(db, SENT_NOT_DELIVERED) == 0,
            timeout=APPLY_TIMEOUT,
        )
        for process in (*workers, api):
            assert process.terminate(timeout=15) == 0, process.describe()

        with db.engine.connect() as connection:
            rows = [tuple(row) for row in connection.execute(sa.text(AVOID_MESSAGES))]
        assert rows, "no avoid messages"
        by_phone = {str(row[1]): int(str(row[0])) for row in rows}
        states = {int(str(row[0])): str(row[2]) for row in rows}
        provider_ids = {int(str(row[0])): row[3] for row in rows}
        delivery = {int(str(row[0])): row[4] for row in rows}
        kept_orphans = [str(i) for i in db.column(KEPT_FOR_NO_MESSAGE)]
        kept_for_messages = count(db, KEPT_FOR_A_MESSAGE)
        lease_expired = event_counts(db, "lease_expired")
        sent_events = event_counts(db, "sent")
        all_clear = Counter(
            str(s) for s in db.column("SELECT state FROM messages WHERE step_id = 'all_clear'")
        )

    sids_for: defaultdict[int, list[str]] = defaultdict(list)
    unexpected_to = sorted({str(r.to) for r in created if r.to not in by_phone})
    for r in created:
        if r.to in by_phone and r.sid is not None:
            sids_for[by_phone[r.to]].append(r.sid)
    not_terminal = {i: s for i, s in states.items() if s not in TERMINAL}
    lost = sorted(i for i in due if states[i] != "sent" or not sids_for[i])
    twice = {i: len(sids) for i, sids in sids_for.items() if len(sids) > 1}
    extra_sends = sum(n - 1 for n in twice.values())
    outside_window = {i: n for i, n in twice.items() if lease_expired[i] == 0}
    foreign_sid = sorted(
        i for i in due if states[i] == "sent" and provider_ids[i] not in sids_for[i]
    )
    not_delivered = sorted(i for i in due if states[i] == "sent" and delivery[i] != "delivered")
    refused = [c for c in callbacks if c.http_status is None or not 200 <= c.http_status < 300]
    refused_kinds = Counter(str(c.http_status or c.error) for c in refused)
    early_callbacks = [c for c in callbacks if c.at < api_up]
    recorded_sids = {p for p in provider_ids.values() if p}
    unrecorded_sids = {str(r.sid) for r in created} - recorded_sids
    orphan_ids = set(kept_orphans)
    kept = len(log_lines([api], KEPT_LINE))
    applied_early = sum(int(m.group(1)) for m in log_lines(every_worker, APPLIED_EARLY_LINE))
    wall = time.monotonic() - test_started

    figures(
        f"{MESSAGES} messages, {kills} kills, lost {len(lost)}, duplicates {len(twice)} "
        f"({extra_sends} extra sends), without final delivery status {len(not_delivered)}, "
        f"reports kept {kept} then applied {kept - len(kept_orphans)}",
        [
            "",
            f"kill -9 through Twilio: {WORKERS} workers + 1 API on PostgreSQL, lease "
            f"{LEASE_SECONDS} s, callbacks {'+'.join(STATUSES)}, seed {SEED}",
            f"  messages due              {MESSAGES}",
            f"  kills (SIGKILL)           {kills}, each of a worker that was up; "
            f"{len(every_worker)} worker processes in all",
            f"  unsettled after kills     {left_after_kills}",
            f"  creates at Twilio         {len(created)} (about {timing_creates['before_reply']}"
            f" with callbacks before the 201, {timing_creates['after_reply']} after)",
            f"  claims recovered          {len(lease_expired)} messages with lease_expired",
            f"  lost                      {len(lost)}",
            f"  duplicates                {len(twice)} messages, {extra_sends} extra sends; "
            f"outside the lease window: {len(outside_window)}",
            f"  callbacks                 {len(callbacks)} sent, {len(refused)} refused "
            f"{dict(refused_kinds)}",
            f"  reports kept by the API   {kept} ({applied_early} applied by housekeeping, "
            f"per the workers' logs)",
            f"  kept, SID on a message    {kept_for_messages} (applied in time: {applied_in_time})",
            f"  kept, SID on no message   {len(kept_orphans)} reports for {len(orphan_ids)} "
            f"SIDs; {len(unrecorded_sids)} created SIDs no message carries",
            f"  without final delivery    {len(not_delivered)}",
            f"  time to drain             {drain:.1f} s from start, {after_kills:.1f} s after "
            f"the last kill; whole test {wall:.1f} s",
        ],
    )
    assert not_terminal == {}, f"{len(not_terminal)} due messages not settled"
    assert lost == [], f"{len(lost)} messages lost, e.g. {lost[:10]}"
    assert unexpected_to == [], f"Twilio created messages for unknown numbers: {unexpected_to}"
    # Fencing: whatever reached Twilio, one outcome was recorded per message, with one of
    # the SIDs Twilio gave for that patient.
    assert {i: n for i, n in sent_events.items() if n != 1} == {}
    assert sorted(sent_events) == sorted(due)
    assert foreign_sid == [], f"messages carrying a SID not created for them: {foreign_sid[:10]}"
    assert outside_window == {}, (
        f"{len(outside_window)} messages sent more than once without a lease_expired event: "
        f"{dict(list(outside_window.items())[:10])}"
    )
    # Callbacks were only sent once the API answered: a refusal is a lost report.
    assert early_callbacks == [], f"{len(early_callbacks)} callbacks before the API was up"
    assert refused == [], f"{len(refused)} callbacks refused: {refused[:5]}"
    assert kept_for_messages == 0, f"{kept_for_messages} kept reports never applied"
    assert orphan_ids <= unrecorded_sids, "kept reports for SIDs Twilio never created"
    assert not_delivered == [], (
        f"{len(not_delivered)} sent messages without their final delivery status, e.g. "
        f"{[(i, delivery[i]) for i in not_delivered[:10]]}"
    )
    # Nothing sent early: the all-clear messages are hours away and untouched.
    assert all_clear == {"pending": MESSAGES}
