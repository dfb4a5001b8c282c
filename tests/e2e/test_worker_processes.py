"""`reminders serve` as real processes: live delivery, two workers on one database, SIGTERM."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import _truncate_all
from tests.e2e.helpers import (
    CLINIC_ZONE,
    Database,
    Processes,
    ServeProcess,
    cli_env,
    database,
    expected_all_clear_due,
    log_treatments,
    logged_id,
    outbox_ids,
    run_cli,
    shown_messages,
    sqlite_url,
    squash,
    staff_time,
    wait_for,
)

pytestmark = pytest.mark.slow

POLL_INTERVAL = "0.2"
UNSETTLED = {"pending", "sending"}


@pytest.fixture
def processes() -> Iterator[Processes]:
    with Processes() as started:
        yield started


@pytest.fixture
def postgres_url(postgres_schema_url: str) -> Iterator[str]:
    """The session's PostgreSQL schema, emptied before and after the test."""
    _truncate_all(postgres_schema_url)
    yield postgres_schema_url
    _truncate_all(postgres_schema_url)


def worker_env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    extra = {"REMINDERS_WORKER__POLL_INTERVAL": POLL_INTERVAL}
    if database_url:
        extra["REMINDERS_DATABASE_URL"] = database_url
    return cli_env(data_dir, extra)


def duplicates(ids: list[int]) -> dict[int, int]:
    return {i: n for i, n in Counter(ids).items() if n > 1}


def _performed_at(show_output: str) -> datetime:
    """The treatment time a `show` or `log` header gives, to the minute, in the clinic's zone."""
    match = re.search(r"performed (\d{4}-\d\d-\d\d \d\d:\d\d) ([A-Z]+)", show_output)
    assert match, show_output
    naive = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M")  # noqa: DTZ007
    for fold in (0, 1):
        local = naive.replace(tzinfo=CLINIC_ZONE, fold=fold)
        if local.tzname() == match.group(2):
            return local
    raise AssertionError(f"no {match.group(2)} reading of {match.group(1)}")


@pytest.mark.timeout(60)
def test_live_worker_sends_the_immediate_message_within_a_second(
    tmp_path: Path, processes: Processes
) -> None:
    data_dir = tmp_path / "data"
    env = worker_env(data_dir)
    outbox = data_dir / "outbox.log"
    serve = processes.serve(env=env, cwd=tmp_path, name="serve")
    serve.wait_ready()

    logged = run_cli(
        ["log", "Jane Doe", "--treatment", "botox", "--sms-consent", "--phone", "(212) 555-0199"],
        env=env,
        cwd=tmp_path,
    )
    returned = time.monotonic()
    assert logged.returncode == 0, logged.describe()
    avoid = next(m for m in shown_messages(logged.stdout) if m.step == "avoid")
    printed = f"--- SMS to +12125550199 (message {avoid.id})"

    wait_for(
        lambda: avoid.id in outbox_ids(outbox) and printed in serve.stdout(),
        timeout=10,
        interval=0.01,
        what=f"message {avoid.id} in the outbox and on serve's stdout",
        diagnose=serve.describe,
    )
    delay = time.monotonic() - returned
    print(f"\nimmediate message printed {delay:.3f} s after `log` returned")
    assert delay <= 1.0, f"sent {delay:.2f} s after `log` returned\n{serve.describe()}"
    assert outbox_ids(outbox) == [avoid.id]
    assert (
        "please avoid exercise, facials, rubbing the treated area, lying flat and bending over"
        in (serve.stdout())
    )

    shown = run_cli(["show", str(logged_id(logged))], env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.describe()
    messages = {m.step: m for m in shown_messages(shown.stdout)}
    assert messages["avoid"].state == "sent"
    assert messages["avoid"].sent != "-"
    assert messages["all_clear"].state == "pending"
    assert messages["all_clear"].due == staff_time(
        expected_all_clear_due(_performed_at(shown.stdout))
    )

    stopping = time.monotonic()
    assert serve.terminate(timeout=5) == 0, serve.describe()
    print(f"serve exited {time.monotonic() - stopping:.2f} s after SIGTERM")
    assert "stopping on signal" in serve.stderr()
    assert "Traceback" not in serve.stderr(), serve.describe()


LOG_JANE = ("log", "Jane Doe", "--treatment", "botox", "--sms-consent", "--phone", "2125550199")


@pytest.mark.timeout(60)
def test_log_wait_sees_the_first_text_delivered_by_serve_in_another_process(
    tmp_path: Path, processes: Processes
) -> None:
    """The worker's poll is half a minute away: the text goes because the write woke it
    (the SQLite file's socket), and `log --wait` follows it to delivered."""
    data_dir = tmp_path / "data"
    env = {**worker_env(data_dir), "REMINDERS_WORKER__POLL_INTERVAL": "30"}
    serve = processes.serve(env=env, cwd=tmp_path, name="serve")
    serve.wait_ready()
    time.sleep(0.5)  # its first pass, at start, is over: the next poll is 30 s away

    started = time.monotonic()
    logged = run_cli(
        [*LOG_JANE, "--wait", "--wait-seconds", "20"],
        env=env,
        cwd=tmp_path,
    )
    took = time.monotonic() - started
    assert logged.returncode == 0, logged.describe()
    following = logged.stdout.split("First message, followed for up to 20 s:")[1]
    last = following.strip().splitlines()[-1]
    assert squash(last).split()[1:] == ["delivered", "✓", "text", "delivered"], logged.describe()
    print(f"\n`log --wait` returned with the text delivered in {took:.2f} s")
    assert took < 10, logged.describe()
    avoid = next(m for m in shown_messages(logged.stdout) if m.step == "avoid")
    assert outbox_ids(data_dir / "outbox.log") == [avoid.id]
    assert serve.terminate(timeout=5) == 0, serve.describe()


def _unsettled(db: Database, ids: list[int], workers: Sequence[ServeProcess]) -> int:
    """How many of `ids` are still to go; fails at once if a worker died."""
    for worker in workers:
        if not worker.running():
            raise AssertionError(f"a worker exited while sending\n{worker.describe()}")
    states = db.states(ids)
    return sum(1 for state in states.values() if state in UNSETTLED)


def _two_workers_send_each_due_message_once(
    tmp_path: Path, processes: Processes, database_url: str | None
) -> None:
    data_dir = tmp_path / "data"
    env = worker_env(data_dir, database_url)
    url = database_url or sqlite_url(data_dir)
    outbox = data_dir / "outbox.log"
    avoid_ids = log_treatments(env, 500)
    assert len(set(avoid_ids)) == 500

    started = time.monotonic()
    workers = [
        processes.serve(env=env, cwd=tmp_path, name=f"worker{n}", command="worker") for n in (1, 2)
    ]
    with database(url) as db:
        wait_for(
            lambda: _unsettled(db, avoid_ids, workers) == 0,
            timeout=60,
            interval=0.1,
            what="every due message settled",
            diagnose=lambda: "\n".join(w.describe() for w in workers),
        )
        took = time.monotonic() - started
        for worker in workers:
            assert worker.terminate(timeout=10) == 0, worker.describe()

        sent = outbox_ids(outbox)
        assert duplicates(sent) == {}
        assert sorted(sent) == sorted(avoid_ids)
        messages = db.messages()
        assert {m.id: m.state for m in messages if m.id in set(avoid_ids)} == dict.fromkeys(
            avoid_ids, "sent"
        )
        assert [m.id for m in messages if m.state == "sending"] == []
        assert {m.state for m in messages if m.step_id == "all_clear"} == {"pending"}
        assert all(m.attempts == 1 for m in messages if m.state == "sent")
        per_worker = Counter(
            str(w) for w in db.column("SELECT worker FROM message_events WHERE kind = 'sent'")
        )
        sent_events = db.column("SELECT message_id FROM message_events WHERE kind = 'sent'")
        assert duplicates([int(i) for i in sent_events]) == {}
        assert sorted(int(i) for i in sent_events) == sorted(avoid_ids)

    backend = "PostgreSQL" if database_url else "SQLite"
    print(
        f"\ntwo workers on {backend} sent {len(sent)} messages in {took:.2f} s "
        f"(from process start); per worker: {dict(per_worker)}"
    )
    for worker in workers:
        assert "Traceback" not in worker.stderr(), worker.describe()


@pytest.mark.timeout(120)
def test_two_workers_on_one_sqlite_file_send_each_message_once(
    tmp_path: Path, processes: Processes
) -> None:
    _two_workers_send_each_due_message_once(tmp_path, processes, None)


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_two_workers_on_postgresql_send_each_message_once(
    postgres_url: str, tmp_path: Path, processes: Processes
) -> None:
    _two_workers_send_each_due_message_once(tmp_path, processes, postgres_url)


@pytest.mark.timeout(120)
def test_sigterm_mid_burst_leaves_no_claim_behind_and_a_restart_sends_the_rest(
    tmp_path: Path, processes: Processes
) -> None:
    data_dir = tmp_path / "data"
    env = worker_env(data_dir)
    # Claims as large as the burst, and a burst that takes the console channel
    # well over the time a signal takes to land: stopping means handing claims back.
    env["REMINDERS_WORKER__BATCH_SIZE"] = "3000"
    outbox = data_dir / "outbox.log"
    avoid_ids = log_treatments(env, 3000)

    worker = processes.serve(env=env, cwd=tmp_path, name="worker", command="worker")
    wait_for(
        lambda: len(outbox_ids(outbox)) >= 10,
        timeout=30,
        interval=0.005,
        what="the burst to start",
        diagnose=worker.describe,
    )
    assert worker.terminate(timeout=10) == 0, worker.describe()

    sent_before = outbox_ids(outbox)
    with database(sqlite_url(data_dir)) as db:
        messages = {m.id: m for m in db.messages()}
        assert [m.id for m in messages.values() if m.state == "sending"] == []
        assert duplicates(sent_before) == {}
        # Every message that reached the patient is recorded as sent, and only those.
        assert {i: messages[i].state for i in sent_before} == dict.fromkeys(sent_before, "sent")
        assert {m.id for m in messages.values() if m.state == "sent"} == set(sent_before)
        left = [messages[i] for i in avoid_ids if messages[i].state != "sent"]
        assert left, f"all {len(avoid_ids)} were sent: SIGTERM did not cut the burst"
        # Handed back cleanly: pending, no claim, the unused attempt not counted.
        assert {m.state for m in left} == {"pending"}
        assert [
            m.id
            for m in left
            if m.claim_token
            or m.claimed_by
            or m.lease_until is not None
            or m.handed_at is not None
            or m.attempts != 0
        ] == []
        print(f"\nSIGTERM after {len(sent_before)} of {len(avoid_ids)}; {len(left)} handed back")

        restarted = processes.serve(env=env, cwd=tmp_path, name="restarted", command="worker")
        wait_for(
            lambda: _unsettled(db, avoid_ids, [restarted]) == 0,
            timeout=30,
            interval=0.05,
            what="the restarted worker to send the rest",
            diagnose=restarted.describe,
        )
        assert restarted.terminate(timeout=10) == 0, restarted.describe()

        sent = outbox_ids(outbox)
        assert duplicates(sent) == {}
        assert sorted(sent) == sorted(avoid_ids)
        assert sent[: len(sent_before)] == sent_before
        final = {m.id: m for m in db.messages()}
        assert {i: final[i].state for i in avoid_ids} == dict.fromkeys(avoid_ids, "sent")
        assert [m.id for m in final.values() if m.state == "sending"] == []
    for process in (worker, restarted):
        assert "Traceback" not in process.stderr(), process.describe()
    assert "stopping on signal" in squash(worker.stderr())
