"""New messages wake the worker at once: after the commit in this process, and through
PostgreSQL's NOTIFY from any process; never for a write that rolled back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from apscheduler.events import EVENT_JOB_EXECUTED

from reminders.bootstrap import App, build_app
from reminders.db import wakeups
from reminders.db.models import Treatment
from reminders.settings import Settings
from reminders.worker import Worker
from tests.conftest import make_settings
from tests.support import RecordingChannel, log

# Far longer than any test waits: a message that arrives did not come from the poll.
POLL_SECONDS = 60.0
ARRIVAL_TIMEOUT = 5.0


def counter(bell: wakeups.Bell) -> Callable[[], int]:
    rings: list[int] = []
    bell.subscribe(lambda: rings.append(1))
    return lambda: len(rings)


def test_a_commit_that_plans_messages_rings_the_bell_once(app: App) -> None:
    rings = counter(app.bell)
    log(app)
    assert rings() == 1


def test_a_transaction_that_rolls_back_does_not_ring(app: App) -> None:
    rings = counter(app.bell)

    def plan_then_fail() -> None:
        with app.sessions.begin() as session:
            wakeups.planned(session.connection())
            raise RuntimeError("the write failed after planning")

    with pytest.raises(RuntimeError):
        plan_then_fail()
    assert rings() == 0
    # The connection goes back to the pool without its mark: its next commit is quiet.
    with app.sessions.begin() as session:
        session.execute(sa.text("SELECT 1"))
    assert rings() == 0


def test_a_connection_the_database_dropped_rolls_back_without_an_error(app: App) -> None:
    """The rollback hook must not turn a lost connection, which callers retry, into an error."""
    rings = counter(app.bell)
    with app.engine.connect() as connection:
        wakeups.planned(connection)
        connection.invalidate()
        connection.rollback()
    assert rings() == 0


def test_a_commit_that_plans_nothing_does_not_ring(app: App) -> None:
    log(app)
    rings = counter(app.bell)
    with app.sessions.begin() as session:
        session.execute(sa.text("UPDATE treatments SET updated_at = updated_at"))
    assert rings() == 0


def test_a_failed_intake_does_not_ring(app: App) -> None:
    rings = counter(app.bell)
    with pytest.raises(Exception, match="treatment"):
        log(app, treatment="no-such-treatment")
    assert rings() == 0


# -- a running worker, on the real clock --------------------------------------------


def start_worker(application: App, channel: RecordingChannel) -> Worker:
    """A worker whose poll is a minute away, once its first pass (at start) is over."""
    worker = application.worker(channel.registry(), worker_id="woken")
    worker.poll_interval = POLL_SECONDS
    first_pass = threading.Event()
    worker._scheduler.add_listener(
        lambda event: first_pass.set() if event.job_id == "poll" else None, EVENT_JOB_EXECUTED
    )
    worker.start()
    assert first_pass.wait(10), "the worker's first pass never ran"
    if worker._listener is not None:
        assert worker._listener.wait_listening(10), "the listener never started"
    return worker


@pytest.fixture
def live_app(settings: Settings) -> Iterator[App]:
    application = build_app(settings)  # the real clock
    yield application
    application.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = ARRIVAL_TIMEOUT) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.002)
    raise AssertionError(f"{what}: not within {timeout} s")


def first_text(treatment: Treatment) -> int:
    return next(m.id for m in treatment.messages if m.step_id == "avoid")


def test_a_logged_treatment_is_sent_without_waiting_for_the_poll(
    live_app: App, channel: RecordingChannel
) -> None:
    worker = start_worker(live_app, channel)
    try:
        treatment = log(live_app)
        wait_for(lambda: channel.sent_ids() == [first_text(treatment)], "the first text")
    finally:
        worker.stop()


@pytest.fixture
def postgres_settings(tmp_path: Path, postgres_schema_url: str) -> Settings:
    return make_settings(tmp_path, postgres_schema_url)


def test_another_process_wakes_the_worker(settings: Settings, channel: RecordingChannel) -> None:
    """PostgreSQL's NOTIFY, or the SQLite file's socket."""
    worker_app = build_app(settings)
    other = build_app(settings)  # its own engine and bell: as another process
    worker = start_worker(worker_app, channel)
    try:
        treatment = log(other)
        wait_for(lambda: channel.sent_ids() == [first_text(treatment)], "a text planned elsewhere")
    finally:
        worker.stop()
        other.close()
        worker_app.close()


def test_a_second_worker_on_one_sqlite_file_polls(
    sqlite_url: str, tmp_path: Path, channel: RecordingChannel
) -> None:
    settings = make_settings(tmp_path, sqlite_url)
    first_app, second_app = build_app(settings), build_app(settings)
    first = start_worker(first_app, channel)
    second = second_app.worker(channel.registry(), worker_id="second")
    try:
        second.start()
        assert second._listener is not None
        assert not second._listener.wait_listening(2 * wakeups.LISTEN_TIMEOUT)
        treatment = log(second_app)
        wait_for(lambda: channel.sent_ids() == [first_text(treatment)], "the first worker's send")
    finally:
        second.stop()
        first.stop()
        second_app.close()
        first_app.close()


@pytest.mark.postgres
def test_the_listener_reconnects_after_losing_its_connection(
    postgres_settings: Settings, channel: RecordingChannel
) -> None:
    worker_app = build_app(postgres_settings)
    other = build_app(postgres_settings)
    worker = start_worker(worker_app, channel)
    listener = worker._listener
    assert listener is not None
    assert listener.backend_pid is not None
    try:
        killed = listener.backend_pid
        with other.engine.begin() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
        wait_for(
            lambda: listener.backend_pid != killed and listener.wait_listening(0),
            "the listener back on a new connection",
        )
        treatment = log(other)
        wait_for(lambda: channel.sent_ids() == [first_text(treatment)], "a text after reconnecting")
    finally:
        worker.stop()
        other.close()
        worker_app.close()
