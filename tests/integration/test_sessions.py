"""Read-only sessions, SQLite's write queue, and the PostgreSQL pool."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text

from reminders.accounts import Accounts
from reminders.bootstrap import App, build_app
from reminders.db.engine import make_engine, read_only_sessions
from reminders.db.models import Clinic
from tests.conftest import make_settings


@pytest.fixture
def statements(app: App) -> Iterator[list[str]]:
    """Every statement sent on the app's engine, as text."""
    sent: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(app.engine, "before_cursor_execute", before)
    yield sent
    event.remove(app.engine, "before_cursor_execute", before)


@pytest.fixture
def sqlite_app(tmp_path: Path, sqlite_url: str) -> Iterator[App]:
    application = build_app(make_settings(tmp_path, sqlite_url))
    yield application
    application.close()


def test_a_read_only_session_on_sqlite_begins_deferred_not_immediate(
    app: App, statements: list[str]
) -> None:
    if app.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's transaction modes")

    with read_only_sessions(app.sessions)() as session:
        session.scalars(select(Clinic)).all()

    assert statements[0] == "BEGIN"
    assert "BEGIN IMMEDIATE" not in statements


def test_a_write_session_on_sqlite_still_takes_the_write_lock_up_front(
    app: App, statements: list[str]
) -> None:
    if app.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's transaction modes")

    with app.sessions.begin() as session:
        session.scalars(select(Clinic)).all()

    assert statements[0] == "BEGIN IMMEDIATE"


def test_a_read_only_session_on_postgresql_runs_in_autocommit(app: App) -> None:
    if app.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's autocommit")

    with read_only_sessions(app.sessions)() as session:
        connection = session.connection()
        connection.execute(text("SELECT 1"))
        assert connection.connection.dbapi_connection.autocommit  # type: ignore[union-attr]

    with app.sessions() as session:
        connection = session.connection()
        connection.execute(text("SELECT 1"))
        assert not connection.connection.dbapi_connection.autocommit  # type: ignore[union-attr]


def test_reads_do_not_wait_for_another_processs_writer(sqlite_app: App, tmp_path: Path) -> None:
    key = Accounts(sessions=sqlite_app.sessions, clock=sqlite_app.clock).create_key(
        "default", label="desk"
    )
    # Another process holds SQLite's write lock: as a bare connection, it shares no queue.
    writer = sqlite3.connect(tmp_path / "reminders.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        found = Accounts(sessions=sqlite_app.sessions, clock=sqlite_app.clock).authenticate(key.key)
        clinic = sqlite_app.service.clinic(sqlite_app.clinic.id)
        took = time.monotonic() - started
    finally:
        writer.rollback()
        writer.close()

    assert found is not None
    assert found[0].id == clinic.id
    assert took < 1.0  # a write transaction would wait out busy_timeout (30 s)


def _fail_in_a_write(application: App) -> None:
    with application.sessions.begin() as session:
        session.execute(text("SELECT 1"))
        raise RuntimeError("the request failed")


def test_a_failed_write_hands_the_queue_on(sqlite_app: App) -> None:
    with pytest.raises(RuntimeError):
        _fail_in_a_write(sqlite_app)

    done = threading.Event()

    def write() -> None:
        with sqlite_app.sessions.begin() as other:
            other.execute(text("SELECT 1"))
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(timeout=5)
    assert done.is_set(), "the write lock of the failed transaction was never released"


def test_writers_in_threads_queue_and_all_commit(sqlite_app: App) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(20):
                with sqlite_app.sessions.begin() as session:
                    session.execute(
                        text("UPDATE clinics SET name = :name WHERE id = :id"),
                        {"name": f"Clinic {n}-{i}", "id": sqlite_app.clinic.id},
                    )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)


@pytest.mark.postgres
def test_the_postgresql_pool_is_sized_from_settings(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, postgres_schema_url)
    settings.database_pool_size = 7
    settings.database_max_overflow = 3
    application = build_app(settings)
    try:
        pool: Any = application.engine.pool
        assert (pool.size(), pool._max_overflow) == (7, 3)
    finally:
        application.close()


def test_every_engine_on_one_sqlite_file_shares_its_write_queue(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    first, second = make_engine(url), make_engine(url)
    try:
        a, b = first.raw_connection(), second.raw_connection()
        assert type(a.dbapi_connection) is type(b.dbapi_connection)
        a.close()
        b.close()
    finally:
        first.dispose()
        second.dispose()
