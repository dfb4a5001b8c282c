"""Fixtures for the fault-tolerance tests: real worker processes on PostgreSQL, under faults.

Each test gets a PostgreSQL database of its own, dropped when it ends. Its due
messages are made once per session through the service layer (one botox
treatment per patient, logged in this process with a pinned clock, so every
"avoid" message is due at the same instant) in a template database, and each
test starts from a fresh copy of it (`CREATE DATABASE ... TEMPLATE`), trimmed
to the number of treatments it asks for. Copying is a file copy: logging the
~15,000 treatments the tests use one by one would take minutes.

Figures (lost, duplicates, drain times) are printed, and one summary line per
test is written to the terminal as well, so it shows without `-s`.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from reminders.accounts import Accounts
from reminders.bootstrap import App, build_app
from reminders.clock import Clock, FixedClock
from reminders.db import migrate
from reminders.db.engine import make_engine
from reminders.intake import TreatmentInput
from reminders.patients import PatientInput
from reminders.settings import load_settings
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES
from tests.e2e.helpers import Database, Processes, ServeProcess, cli_env, squash

TERMINAL = frozenset({"sent", "failed", "skipped", "cancelled"})
FIRST_PHONE = 100  # patients +12125550100, +12125550101, ... (valid up to +12125559999)
MAX_TEMPLATE = 5000  # patients +12125550100 .. +12125555099
CREATE_THREADS = 6


# -- databases -------------------------------------------------------------------


def url_for(database: str) -> str:
    """The test server's URL, pointing at `database`."""
    return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)


def _checked(name: str) -> str:
    assert re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name), name
    return name


class PgAdmin:
    """Creates, copies, cuts off and drops whole databases (autocommit, as `postgres`)."""

    def __init__(self) -> None:
        self.engine = sa.create_engine(
            POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool
        )

    def close(self) -> None:
        self.engine.dispose()

    def execute(self, sql: str, **params: object) -> list[tuple[object, ...]]:
        with self.engine.connect() as connection:
            result = connection.execute(sa.text(sql), params)
            return [tuple(row) for row in result] if result.returns_rows else []

    def create(self, name: str, *, template: str | None = None) -> None:
        source = f' TEMPLATE "{_checked(template)}"' if template else ""
        self.execute(f'CREATE DATABASE "{_checked(name)}"{source}')

    def allow_connections(self, name: str, allowed: bool) -> None:
        self.execute(
            f'ALTER DATABASE "{_checked(name)}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}'
        )

    def terminate_backends(self, name: str) -> int:
        """Close every session on `name` (as a crash or a failover would); how many there were."""
        rows = self.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = :name AND pid <> pg_backend_pid()",
            name=name,
        )
        return len(rows)

    def drop(self, name: str) -> None:
        exists = self.execute("SELECT 1 FROM pg_database WHERE datname = :name", name=name)
        if exists:
            self.allow_connections(name, True)
            self.execute(f'DROP DATABASE IF EXISTS "{_checked(name)}" WITH (FORCE)')


def random_name(prefix: str) -> str:
    return f"reminders_{prefix}_{uuid.uuid4().hex[:10]}"


# -- the service layer, in this process ------------------------------------------


def reminders_env(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The environment a `reminders` child gets (see tests/e2e/helpers.cli_env)."""
    return cli_env(data_dir, {"REMINDERS_DATABASE_URL": database_url, **extra})


def load_app(env: Mapping[str, str], *, clock: Clock | None = None) -> App:
    """The application as a child with `env` would build it, in this process."""
    variables = {name: value for name, value in env.items() if name.startswith("REMINDERS_")}
    with mock.patch.dict(os.environ, variables):
        for name in list(os.environ):
            if name.startswith("REMINDERS_") and name not in variables:
                del os.environ[name]  # restored when the patch ends
        settings = load_settings()
    return build_app(settings, clock=clock)


def log_botox(
    app: App, phone_numbers: Sequence[int], *, performed_at: datetime | None = None
) -> list[int]:
    """One botox treatment per patient (+1212555NNNN, SMS consent), through the service layer,
    from a few threads; the treatment ids."""

    def log_one(n: int) -> int:
        now = app.clock.now()
        treatment = app.service.log_treatment(
            app.clinic.id,
            TreatmentInput(
                patient=PatientInput(
                    name=f"Patient {n}", phone=f"+1212555{n:04d}", sms_consent_at=now
                ),
                treatment_type="botox",
                performed_at=performed_at,
            ),
        )
        return treatment.id

    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        return list(pool.map(log_one, phone_numbers))


def create_api_key(env: Mapping[str, str]) -> str:
    app = load_app(env)
    try:
        return Accounts(sessions=app.sessions, clock=app.clock).create_key("default", label="t").key
    finally:
        app.close()


class TemplateDatabase:
    """Treatments logged once through the service layer, to be copied per test."""

    def __init__(self, admin: PgAdmin, data_dir: Path) -> None:
        self.admin = admin
        self.name = random_name("tmpl")
        self.url = url_for(self.name)
        self.data_dir = data_dir
        # Every treatment is logged "at" this instant: the avoid messages are all due at once.
        self.logged_at = datetime.now(UTC).replace(microsecond=0)
        self.treatments = 0
        self._lock = threading.Lock()
        admin.create(self.name)
        engine = make_engine(self.url, poolclass=NullPool)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()

    def ensure(self, count: int) -> None:
        """At least `count` treatments, each with a due avoid message."""
        assert count <= MAX_TEMPLATE, count
        if count <= self.treatments:
            return
        app = load_app(reminders_env(self.data_dir, self.url), clock=FixedClock(self.logged_at))
        try:
            log_botox(app, range(FIRST_PHONE + self.treatments, FIRST_PHONE + count))
        finally:
            app.close()  # no session may stay open on a template being copied
        self.treatments = count

    def copy(self, name: str, treatments: int) -> str:
        """A new database `name` holding the template's first `treatments` treatments; its URL."""
        with self._lock:
            self.ensure(treatments)
            self.admin.create(name, template=self.name)
        url = url_for(name)
        engine = make_engine(url, poolclass=NullPool)
        try:
            migrate.upgrade(engine)  # a no-op unless a migration was added since the template
        finally:
            engine.dispose()
        if treatments < self.treatments:
            _keep_first_treatments(url, treatments)
        return url


def _keep_first_treatments(url: str, count: int) -> None:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            last = connection.execute(
                sa.text("SELECT id FROM treatments ORDER BY id OFFSET :n LIMIT 1"), {"n": count - 1}
            ).scalar_one()
            for sql in (
                "DELETE FROM message_events WHERE message_id IN "
                "(SELECT id FROM messages WHERE treatment_id > :last)",
                "DELETE FROM messages WHERE treatment_id > :last",
                "DELETE FROM treatments WHERE id > :last",
                "DELETE FROM patients p WHERE NOT EXISTS "
                "(SELECT 1 FROM treatments t WHERE t.patient_id = p.id)",
            ):
                connection.execute(sa.text(sql), {"last": last})
            kept = connection.execute(sa.text("SELECT count(*) FROM treatments")).scalar_one()
        assert kept == count
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[PgAdmin]:
    admin = PgAdmin()
    try:
        admin.execute("SELECT 1")
    except sa.exc.OperationalError as exc:
        admin.close()
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    yield admin
    admin.close()


@pytest.fixture(scope="session")
def template_database(
    pg_admin: PgAdmin, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TemplateDatabase]:
    template = TemplateDatabase(pg_admin, tmp_path_factory.mktemp("template"))
    yield template
    pg_admin.drop(template.name)


@dataclass(frozen=True)
class FaultDatabase:
    name: str
    url: str


class FaultDatabases:
    """This test's databases; dropped (connections forced off) when it ends."""

    def __init__(self, admin: PgAdmin, template: TemplateDatabase) -> None:
        self.admin = admin
        self.template = template
        self.names: list[str] = []

    def copy(self, prefix: str, treatments: int) -> FaultDatabase:
        name = random_name(prefix)
        self.names.append(name)
        return FaultDatabase(name, self.template.copy(name, treatments))

    def drop(self, database: FaultDatabase) -> None:
        self.admin.drop(database.name)

    def drop_all(self) -> None:
        for name in self.names:
            self.admin.drop(name)


@pytest.fixture
def fault_databases(
    pg_admin: PgAdmin, template_database: TemplateDatabase
) -> Iterator[FaultDatabases]:
    databases = FaultDatabases(pg_admin, template_database)
    yield databases
    databases.drop_all()


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Every process the test starts; whatever still runs at the end is SIGKILLed and reaped."""
    with Processes() as started:
        yield started


# -- reading results ---------------------------------------------------------------


def due_avoid_ids(db: Database) -> list[int]:
    return [
        int(str(i))
        for i in db.column("SELECT id FROM messages WHERE step_id = 'avoid' ORDER BY id")
    ]


def unsettled_count(db: Database, ids: Sequence[int]) -> int:
    return int(
        str(
            db.scalar(
                "SELECT count(*) FROM messages "
                "WHERE id = ANY(:ids) AND state IN ('pending', 'sending')",
                ids=list(ids),
            )
        )
    )


def event_counts(db: Database, kind: str) -> Counter[int]:
    rows = db.column("SELECT message_id FROM message_events WHERE kind = :kind", kind=kind)
    return Counter(int(str(i)) for i in rows)


def duplicates(ids: Sequence[int]) -> dict[int, int]:
    return {i: n for i, n in Counter(ids).items() if n > 1}


def is_ready(process: ServeProcess) -> bool:
    return "Ctrl-C to stop" in squash(process.stderr())


def describe_all(processes: Sequence[ServeProcess]) -> str:
    return "\n".join(p.describe() for p in processes)


# -- figures -----------------------------------------------------------------------


Report = Callable[[str, Sequence[str]], None]


@pytest.fixture
def figures(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> Report:
    """`figures(summary, details)`: print them (shown with -s and in a failure's report) and
    write the one-line summary to the terminal, where it shows in normal output too."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")

    def report(summary: str, details: Sequence[str] = ()) -> None:
        for line in details:
            print(line)
        print(summary)
        if reporter is not None:
            with capsys.disabled():
                reporter.write_line(f"[faults] {request.node.name}: {summary}")

    return report
