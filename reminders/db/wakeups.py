"""Wake the worker the moment new messages are planned, not at its next poll.

The one writer of plans calls `planned(connection)` in the transaction that inserts
them. The wake goes out once that transaction has committed (a worker woken earlier
would not see the rows):

- in this process (`reminders serve`): the engine's pool takes the connection back
  after the commit, and a `Bell` rings there;
- in other processes, on PostgreSQL: `pg_notify` in the same transaction, which the
  server delivers at commit to every session that LISTENs (`PostgresListener`, one per
  worker). NOTIFY is per database, not per schema, so the payload is the schema: a
  worker on another schema of the same database ignores it.

SQLite has no such signal between processes: there a worker in another process
notices new work at its poll. A lost wake costs only latency, never a message: the
poll stays as the safety net.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, event, text

log = logging.getLogger(__name__)

CHANNEL = "reminders_work"
# Set on the DBAPI connection's info by `planned`, read when the pool takes it back.
_PLANNED = "reminders.planned"
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', current_schema())")
# How long a listener waits for a notification before it looks at its stop flag.
LISTEN_TIMEOUT = 1.0
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)


class Bell:
    """Listeners called, in the thread that rang, whenever new messages were committed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Add a listener; returns what removes it."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def ring(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener()
            except Exception:
                # The writer has committed: a listener's failure is not the writer's.
                log.exception("wake-up listener failed")


def install(engine: Engine) -> Bell:
    """The bell this engine rings after each commit that planned messages."""
    bell = Bell()

    def rolled_back(connection: Connection) -> None:
        connection.info.pop(_PLANNED, None)

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        # The pool takes a connection back after its transaction ended; one that
        # rolled back lost its mark above.
        if record is not None and record.info.pop(_PLANNED, False):
            bell.ring()

    event.listen(engine, "rollback", rolled_back)
    event.listen(engine, "checkin", checked_in)
    return bell


def planned(connection: Connection) -> None:
    """Mark this transaction as having planned messages: wake the workers at its commit."""
    connection.info[_PLANNED] = True
    if connection.dialect.name == "postgresql":
        connection.execute(_NOTIFY)


class PostgresListener:
    """A thread that LISTENs on a connection of its own and calls `on_wake` for every
    notification about this schema; after a lost connection it reconnects (and wakes
    once, for what it may have missed)."""

    def __init__(self, engine: Engine, on_wake: Callable[[], None]) -> None:
        self.engine = engine
        self.on_wake = on_wake
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self.backend_pid: int | None = None  # the server process of its connection, when listening
        self._thread = threading.Thread(target=self._run, name="wake-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait_listening(self, timeout: float) -> bool:
        """Until the listener's LISTEN is in place (tests, and a clean start-up)."""
        return self._listening.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=LISTEN_TIMEOUT * 5)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                self._listen()
                return
            except Exception as exc:
                if self._listening.is_set():
                    failures = 0  # it had listened: a new outage, not the same one
                self._listening.clear()
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                log.warning(
                    "wake-up listener lost its connection; the poll carries on meanwhile",
                    extra={"error": type(exc).__name__, "retry_in": delay},
                )
                self._stopping.wait(delay)

    def _listen(self) -> None:
        pooled = self.engine.raw_connection()
        # Its own connection for as long as it listens, outside the pool's count.
        pooled.detach()
        try:
            connection = pooled.dbapi_connection
            assert connection is not None
            connection.rollback()  # a pre-ping may have left a transaction open
            connection.autocommit = True
            cursor = connection.cursor()
            cursor.execute("SELECT current_schema()")
            row = cursor.fetchone()
            assert row is not None
            schema = row[0]
            cursor.execute(f"LISTEN {CHANNEL}")
            self.backend_pid = connection.info.backend_pid
            self._listening.set()
            self.on_wake()  # whatever was planned while nobody listened
            while not self._stopping.is_set():
                for notification in connection.notifies(timeout=LISTEN_TIMEOUT):
                    if notification.payload == schema:
                        self.on_wake()
                    if self._stopping.is_set():
                        break
        finally:
            pooled.close()
