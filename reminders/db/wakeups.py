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

- in other processes, on a SQLite file (one machine): a datagram to the worker's
  socket, named after the database file in Linux's abstract socket namespace (no file
  to leave behind, nothing to clean up after a kill). One worker per database file
  takes the name; another on the same file polls. Elsewhere than Linux, workers in
  other processes poll.

A lost wake costs only latency, never a message: the poll stays as the safety net.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import sys
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
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
    """The bell this engine rings after each commit that planned messages (and, on a
    SQLite file, the datagram to a worker in another process)."""
    bell = Bell()
    database = sqlite_file(engine)
    doorbell = socket_address(database) if database is not None else None

    def rolled_back(connection: Connection) -> None:
        # A connection the database dropped is invalidated and cannot even show its
        # info: raising here would turn the caller's retry of a lost connection into a
        # failure. Its record is thrown away and reconnected, mark and all.
        if not connection.invalidated:
            connection.info.pop(_PLANNED, None)

    def checked_in(dbapi_connection: Any, record: Any) -> None:
        # The pool takes a connection back after its transaction ended; one that
        # rolled back lost its mark above, one the database dropped has no connection.
        planned = record is not None and record.info.pop(_PLANNED, False)
        if planned and dbapi_connection is not None:
            bell.ring()
            if doorbell is not None:
                ring_socket(doorbell)

    event.listen(engine, "rollback", rolled_back)
    event.listen(engine, "checkin", checked_in)
    return bell


def planned(connection: Connection) -> None:
    """Mark this transaction as having planned messages: wake the workers at its commit."""
    connection.info[_PLANNED] = True
    if connection.dialect.name == "postgresql":
        connection.execute(_NOTIFY)


def sqlite_file(engine: Engine) -> Path | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database).resolve()


def socket_address(database: Path) -> str | None:
    """The abstract socket name of the worker for this database file (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    digest = hashlib.sha256(str(database).encode()).hexdigest()[:32]
    return f"\0reminders-wake-{digest}"


def ring_socket(address: str) -> None:
    # No worker listening, or its queue full (it has wakes enough): nothing to do.
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender, suppress(OSError):
        sender.setblocking(False)
        sender.sendto(b"!", address)


class Listener:
    """A thread that waits for wake-ups from other processes and calls `on_wake`; if its
    connection is lost it reconnects (and wakes once, for what it may have missed)."""

    name = "wake-listener"

    def __init__(self, on_wake: Callable[[], None]) -> None:
        self.on_wake = on_wake
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait_listening(self, timeout: float) -> bool:
        """Until the listener is in place (tests, and a clean start-up)."""
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
        """Listen until stopping; raise when the connection is lost."""
        raise NotImplementedError

    def _listening_now(self) -> None:
        self._listening.set()
        self.on_wake()  # whatever was planned while nobody listened


class PostgresListener(Listener):
    """LISTEN on a connection of its own; a notification about this schema wakes."""

    def __init__(self, engine: Engine, on_wake: Callable[[], None]) -> None:
        super().__init__(on_wake)
        self.engine = engine
        self.backend_pid: int | None = None  # the server process of its connection

    def _listen(self) -> None:
        pooled = self.engine.raw_connection()
        # Its own connection for as long as it listens, outside the pool's count.
        pooled.detach()
        connection = pooled.dbapi_connection
        assert connection is not None
        try:
            connection.rollback()  # a pre-ping may have left a transaction open
            connection.autocommit = True
            cursor = connection.cursor()
            cursor.execute("SELECT current_schema()")
            row = cursor.fetchone()
            assert row is not None
            schema = row[0]
            cursor.execute(f"LISTEN {CHANNEL}")
            self.backend_pid = connection.info.backend_pid
            self._listening_now()
            while not self._stopping.is_set():
                for notification in connection.notifies(timeout=LISTEN_TIMEOUT):
                    if notification.payload == schema:
                        self.on_wake()
                    if self._stopping.is_set():
                        break
        finally:
            # Detached: closed here, not reset by the pool (a reset of a connection the
            # database dropped is logged as an error for nothing).
            with suppress(Exception):
                connection.close()


class SocketListener(Listener):
    """The datagram socket of the one worker of a SQLite file; any datagram wakes."""

    def __init__(self, address: str, on_wake: Callable[[], None]) -> None:
        super().__init__(on_wake)
        self.address = address

    def _listen(self) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
            try:
                receiver.bind(self.address)
            except OSError:
                log.info("another worker takes this database's wake-ups; this one polls")
                return
            receiver.settimeout(LISTEN_TIMEOUT)
            self._listening_now()
            while not self._stopping.is_set():
                try:
                    receiver.recv(64)
                except TimeoutError:
                    continue
                self._drain(receiver)
                self.on_wake()

    @staticmethod
    def _drain(receiver: socket.socket) -> None:
        """Wakes that came together are one pass."""
        receiver.setblocking(False)
        try:
            while True:
                receiver.recv(64)
        except BlockingIOError:
            pass
        finally:
            receiver.settimeout(LISTEN_TIMEOUT)


def listener_for(engine: Engine, on_wake: Callable[[], None]) -> Listener | None:
    """What tells a worker on this database about other processes' new messages."""
    if engine.dialect.name == "postgresql":
        return PostgresListener(engine, on_wake)
    database = sqlite_file(engine)
    address = socket_address(database) if database is not None else None
    return SocketListener(address, on_wake) if address is not None else None
