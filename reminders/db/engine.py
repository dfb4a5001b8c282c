"""Engine and sessions, with the SQLite settings several processes need."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from reminders.files import private_files, private_folder

SQLITE_BUSY_TIMEOUT_MS = 30_000
# The execution option that marks an engine's transactions as read-only.
READ_ONLY = "reminders_read_only"
# Connections kept per process: enough for every request thread of the API
# (AnyIO's default limiter runs 40 at once) without closing and reopening
# connections under load.
POOL_SIZE = 20
MAX_OVERFLOW = 20


def make_engine(
    url: str, *, pool_size: int = POOL_SIZE, max_overflow: int = MAX_OVERFLOW, **kwargs: Any
) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if "poolclass" not in kwargs:
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
        return create_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        private_folder(path.parent)
        connect_args = kwargs.pop("connect_args", {})
        connect_args["factory"] = _writer_queue(path)
        kwargs["connect_args"] = connect_args
    engine = create_engine(url, **kwargs)
    _configure_sqlite(engine)
    return engine


class _QueuedWriter(sqlite3.Connection):
    """A connection whose write transactions queue on a lock shared by the process.

    SQLite's busy handler retries a locked database after sleeping 1, 2, 5, 10...
    up to 100 ms, so threads of one process that contend for the write lock wait
    far longer than the transaction ahead of them takes. Queued on a lock, the
    next writer starts the moment the last one commits; other processes still
    wait through busy_timeout.
    """

    write_lock: threading.Lock
    holds_lock = False

    def wait_for_turn(self) -> None:
        if not self.write_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise sqlite3.OperationalError("database is locked")
        self.holds_lock = True

    def end_turn(self) -> None:
        if self.holds_lock:
            self.holds_lock = False
            self.write_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_turn()


_queues: dict[Path, type[_QueuedWriter]] = {}
_queues_lock = threading.Lock()


def _writer_queue(path: Path) -> type[_QueuedWriter]:
    """The connection class for one database file: every engine on it shares its lock."""
    key = path.resolve()
    with _queues_lock:
        if key not in _queues:
            _queues[key] = type("QueuedWriter", (_QueuedWriter,), {"write_lock": threading.Lock()})
        return _queues[key]


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling begins lazily and as DEFERRED, so two
    # processes that read then write can deadlock on the lock upgrade. We take
    # the write lock up front (BEGIN IMMEDIATE) and let busy_timeout queue us.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # The database holds patients' contacts: the owner's alone (SQLite gives its
        # journal files the database file's own mode).
        database = engine.url.database
        if database and database != ":memory:":
            private_files(Path(database), Path(f"{database}-wal"), Path(f"{database}-shm"))

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A transaction that only reads never upgrades its lock, so it cannot
        # deadlock: in WAL mode it reads a snapshot without waiting for writers.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
            return
        dbapi_connection = connection.connection.dbapi_connection
        if isinstance(dbapi_connection, _QueuedWriter):
            dbapi_connection.wait_for_turn()
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if isinstance(dbapi_connection, _QueuedWriter):
                dbapi_connection.end_turn()
            raise


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def read_only_sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions for reads alone, over the same engine and pool as `sessions`.

    On SQLite they begin a plain deferred transaction instead of taking the
    write lock. On PostgreSQL they run in autocommit: no BEGIN and ROLLBACK
    round trips, and the same view as a READ COMMITTED transaction, where each
    statement sees what was committed when it started. Anything they flush
    would not be atomic: never write through them.
    """
    engine = sessions.kw["bind"]
    assert isinstance(engine, Engine)
    if engine.dialect.name == "sqlite":
        bind = engine.execution_options(**{READ_ONLY: True})
    else:
        bind = engine.execution_options(isolation_level="AUTOCOMMIT", **{READ_ONLY: True})
    return sessionmaker(bind, expire_on_commit=False)
