"""The database goes away for ~20 s in the middle of a burst: the workers ride it out in
place, the API answers 503 with a JSON body meanwhile and recovers by itself, and every
message is sent once the database is back."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import Processes, ServeProcess, database, outbox_ids, wait_for
from tests.faults.conftest import (
    TERMINAL,
    FaultDatabases,
    PgAdmin,
    Report,
    create_api_key,
    describe_all,
    due_avoid_ids,
    duplicates,
    event_counts,
    load_app,
    log_botox,
    reminders_env,
    unsettled_count,
)

MESSAGES = 1500
LATE = 50  # treatments logged just before the cut, their avoid message due during the outage
LATE_DUE_IN = timedelta(seconds=4)
LATE_FIRST_PHONE = 9000
LEASE_SECONDS = 15  # claims taken before the cut have expired when the database returns
OUTAGE = 20.0
TERMINATE_EVERY = 5.0
API_RECOVERY = 15.0
DRAIN_TIMEOUT = 90.0
SENT_BEFORE_CUT = 150


def _api_port(api: ServeProcess) -> int:
    match = re.search(r"API on http://127\.0\.0\.1:(\d+)/", api.stderr())
    assert match, api.describe()
    return int(match.group(1))


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_database_away_20_s_mid_dispatch_workers_ride_it_out_and_the_api_answers_503(
    fault_databases: FaultDatabases,
    pg_admin: PgAdmin,
    processes: Processes,
    tmp_path: Path,
    figures: Report,
) -> None:
    target = fault_databases.copy("outage", MESSAGES)
    data_dir = tmp_path / "data"
    outbox = data_dir / "outbox.log"
    env = reminders_env(
        data_dir,
        target.url,
        REMINDERS_WORKER__LEASE_SECONDS=str(LEASE_SECONDS),
        REMINDERS_WORKER__POLL_INTERVAL="0.2",
        # The rate limit is not under test here.
        REMINDERS_API__RATE_PER_MINUTE="100000",
        REMINDERS_API__RATE_BURST="10000",
    )
    key = create_api_key(env)
    api = processes.serve(env=env, cwd=tmp_path, name="api", command="api")
    api.wait_ready()
    base_url = f"http://127.0.0.1:{_api_port(api)}"

    with (
        database(target.url) as db,
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
        ) as client,
    ):
        due = due_avoid_ids(db)
        assert len(due) == MESSAGES
        assert client.get("/v1/treatments").status_code == 200

        started = time.monotonic()
        workers = [
            processes.serve(env=env, cwd=tmp_path, name=f"worker{n}", command="worker")
            for n in (1, 2)
        ]
        pids = [w.pid for w in workers]
        for worker in workers:  # both running before the database goes away
            worker.wait_ready()
        wait_for(
            lambda: len(outbox_ids(outbox)) >= SENT_BEFORE_CUT,
            timeout=60,
            interval=0.02,
            what="dispatch to get going",
            diagnose=lambda: describe_all(workers),
        )
        # A few more, due in a few seconds: they fall due while the database is away.
        app = load_app(env)
        try:
            late_at = app.clock.now() + LATE_DUE_IN
            late_treatments = log_botox(
                app, range(LATE_FIRST_PHONE, LATE_FIRST_PHONE + LATE), performed_at=late_at
            )
        finally:
            app.close()
        late = [
            int(str(i))
            for i in db.column(
                "SELECT id FROM messages WHERE step_id = 'avoid' AND treatment_id = ANY(:t)",
                t=late_treatments,
            )
        ]
        assert len(late) == LATE
        everything = due + late

        # The cut.
        responses: list[tuple[int, str, str]] = []
        terminated = 0
        pg_admin.allow_connections(target.name, False)
        try:
            cut = time.monotonic()
            sent_before_cut = len(outbox_ids(outbox))
            terminated += pg_admin.terminate_backends(target.name)
            next_terminate = cut + TERMINATE_EVERY
            while time.monotonic() - cut < OUTAGE:
                answer = client.get("/v1/treatments")
                responses.append(
                    (answer.status_code, answer.headers.get("content-type", ""), answer.text)
                )
                if time.monotonic() >= next_terminate:
                    terminated += pg_admin.terminate_backends(target.name)
                    next_terminate += TERMINATE_EVERY
                time.sleep(1.0)
            sent_during_outage = len(outbox_ids(outbox)) - sent_before_cut
            for worker in workers:
                assert worker.running(), f"a worker died in the outage\n{worker.describe()}"
            assert api.running(), f"the API died in the outage\n{api.describe()}"
        finally:
            pg_admin.allow_connections(target.name, True)
        restored = time.monotonic()

        def api_back() -> bool:
            return client.get("/v1/treatments").status_code == 200

        api_recovery = wait_for(
            api_back,
            timeout=API_RECOVERY,
            interval=0.25,
            what="the API to answer 200 again",
            diagnose=api.describe,
        )

        def drained() -> bool:
            for worker in workers:
                assert worker.running(), f"a worker exited\n{worker.describe()}"
            return unsettled_count(db, everything) == 0

        wait_for(
            drained,
            timeout=DRAIN_TIMEOUT,
            interval=0.2,
            what="every due message settled after the outage",
            diagnose=lambda: describe_all(workers),
        )
        drain_after = time.monotonic() - restored
        drain_total = time.monotonic() - started
        same_pids = [w.pid for w in workers] == pids and all(w.running() for w in workers)
        codes = [w.terminate(timeout=15) for w in workers]

        sends = outbox_ids(outbox)
        at_provider = Counter(sends)
        states = db.states(everything)
        not_terminal = {i: s for i, s in states.items() if s not in TERMINAL}
        lost = sorted(i for i in everything if states[i] != "sent" or at_provider[i] == 0)
        twice = duplicates(sends)
        lease_expired = event_counts(db, "lease_expired")
        outside_window = {i: n for i, n in twice.items() if lease_expired[i] == 0}

    statuses = Counter(status for status, _, _ in responses)
    not_503 = [r for r in responses if r[0] != 503]
    not_json = [r for r in responses if not r[1].startswith("application/json")]
    example = responses[0][2] if responses else "-"
    figures(
        f"{len(everything)} messages, database away {OUTAGE:.0f} s, lost {len(lost)}, "
        f"duplicates {len(twice)}, API back in {api_recovery:.1f} s, drained "
        f"{drain_after:.1f} s after the database returned",
        [
            "",
            f"database away mid-dispatch: 2 workers + 1 API on PostgreSQL, lease {LEASE_SECONDS} s",
            f"  messages due          {MESSAGES} + {LATE} falling due during the outage",
            f"  sent before the cut   {sent_before_cut}; during the outage {sent_during_outage}",
            f"  sessions terminated   {terminated}",
            f"  API in the outage     {dict(statuses)}; e.g. {example[:120]}",
            f"  API 200 again after   {api_recovery:.2f} s",
            f"  worker PIDs unchanged {same_pids}",
            f"  lost                  {len(lost)}",
            f"  duplicates            {len(twice)} ({len(lease_expired)} messages had a claim "
            f"recovered after its lease); outside the lease window: {len(outside_window)}",
            f"  time to drain         {drain_after:.1f} s after the database returned, "
            f"{drain_total:.1f} s from start",
        ],
    )
    assert same_pids, "a worker process was replaced or died"
    assert codes == [0, 0], describe_all(workers)
    assert len(responses) >= 10
    assert not_503 == [], f"{len(not_503)} answers were not 503: {not_503[:3]}"
    assert not_json == [], f"{len(not_json)} answers were not JSON: {not_json[:3]}"
    for _, _, body in responses:
        assert "detail" in json.loads(body)
        assert "Traceback" not in body
    assert not_terminal == {}
    assert lost == [], f"{len(lost)} messages lost, e.g. {lost[:10]}"
    assert sorted(set(sends)) == sorted(everything)
    assert outside_window == {}, (
        f"{len(outside_window)} messages sent more than once without a lease_expired event: "
        f"{dict(list(outside_window.items())[:10])}"
    )


BLIP_MESSAGES = 2000
BLIPS = 6
BLIP_DOWN = 1.0
BLIP_UP = 1.5
DEFAULT_LEASE = 120  # config/clinic.toml and the README
BLIP_DRAIN_BOUND = 30.0  # after the last blip: a quarter of the lease


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_database_blips_mid_dispatch_leave_no_claim_of_a_live_worker_waiting_for_its_lease(
    fault_databases: FaultDatabases,
    pg_admin: PgAdmin,
    processes: Processes,
    tmp_path: Path,
    figures: Report,
) -> None:
    """The README: "a pass that cannot reach the database is logged and retried on the next
    poll". A worker that stays alive through a short outage knows it sent nothing of the
    rest of its batch: those messages must go out once the database is back, not sit in
    `sending` until the lease (2 minutes by default) lets them be taken back."""
    target = fault_databases.copy("blips", BLIP_MESSAGES)
    data_dir = tmp_path / "data"
    outbox = data_dir / "outbox.log"
    env = reminders_env(
        data_dir,
        target.url,
        REMINDERS_WORKER__LEASE_SECONDS=str(DEFAULT_LEASE),
        REMINDERS_WORKER__POLL_INTERVAL="0.2",
    )
    with database(target.url) as db:
        due = due_avoid_ids(db)
        assert len(due) == BLIP_MESSAGES
        workers = [
            processes.serve(env=env, cwd=tmp_path, name=f"worker{n}", command="worker")
            for n in (1, 2)
        ]
        pids = [w.pid for w in workers]
        for worker in workers:  # both running before the database goes away
            worker.wait_ready()
        wait_for(
            lambda: len(outbox_ids(outbox)) >= SENT_BEFORE_CUT,
            timeout=60,
            interval=0.02,
            what="dispatch to get going",
            diagnose=lambda: describe_all(workers),
        )
        sent_before = len(outbox_ids(outbox))
        for _ in range(BLIPS):
            pg_admin.allow_connections(target.name, False)
            try:
                pg_admin.terminate_backends(target.name)
                time.sleep(BLIP_DOWN)
            finally:
                pg_admin.allow_connections(target.name, True)
            time.sleep(BLIP_UP)
        last_blip = time.monotonic()
        sent_in_blips = len(outbox_ids(outbox)) - sent_before

        deadline = last_blip + BLIP_DRAIN_BOUND
        while unsettled_count(db, due) and time.monotonic() < deadline:
            for worker in workers:
                assert worker.running(), f"a worker exited\n{worker.describe()}"
            time.sleep(0.2)
        drain = time.monotonic() - last_blip
        left = unsettled_count(db, due)
        held = db.column(
            "SELECT claimed_by || ' until ' || to_char(lease_until, 'HH24:MI:SS') "
            "FROM messages WHERE state = 'sending' AND handed_at IS NULL"
        )
        holders = Counter(str(h).split(" until ")[0] for h in held)
        lease_expired = event_counts(db, "lease_expired")
        failed_passes = sum(w.stderr().count("dispatch pass failed") for w in workers)
        same_pids = [w.pid for w in workers] == pids and all(w.running() for w in workers)
        sends = outbox_ids(outbox)

    figures(
        f"{BLIP_MESSAGES} messages, {BLIPS} database blips of {BLIP_DOWN:g} s, lease "
        f"{DEFAULT_LEASE} s: {left} still unsent {drain:.1f} s after the last blip, "
        f"{len(held)} held in 'sending' unstarted by live workers, duplicates "
        f"{len(duplicates(sends))}",
        [
            "",
            f"database blips: 2 workers on PostgreSQL, lease {DEFAULT_LEASE} s, {BLIPS} x "
            f"({BLIP_DOWN:g} s away, {BLIP_UP:g} s back)",
            f"  sent before / during the blips  {sent_before} / {sent_in_blips}",
            f"  dispatch passes that failed     {failed_passes}",
            f"  unsent after the last blip      {left} ({drain:.1f} s later)",
            f"  claimed, never started, held    {len(held)} by {dict(holders)}; e.g. {held[:2]}",
            f"  claims recovered after a lease  {len(lease_expired)}",
            f"  worker PIDs unchanged           {same_pids}",
            f"  duplicates                      {len(duplicates(sends))}",
        ],
    )
    assert same_pids, "a worker process was replaced or died"
    assert held == [], (
        f"{len(held)} messages claimed but never started stay in 'sending' under live "
        f"workers' claims {drain:.0f} s after the database came back, waiting for their "
        f"{DEFAULT_LEASE} s lease: {dict(holders)}"
    )
    assert left == 0, f"{left} due messages still unsent {drain:.0f} s after the last blip"
    assert lease_expired == Counter(), "no worker died, yet claims were left to expire"
    assert sorted(set(sends)) == sorted(due)
