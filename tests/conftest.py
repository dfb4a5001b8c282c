"""Shared fixtures: a pinned clock, real databases (SQLite file and PostgreSQL), the app.

PostgreSQL tests use REMINDERS_TEST_POSTGRES_URL (default: the local server's
`test` database), each run in a schema of its own. When the server cannot be
reached they are skipped, unless REMINDERS_TEST_REQUIRE_POSTGRES=1 (CI), where
that is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from reminders.bootstrap import App, build_app
from reminders.clock import FixedClock
from reminders.db import migrate
from reminders.db.engine import make_engine
from reminders.db.models import IdempotencyKey, Message, MessageEvent, Patient, Treatment
from reminders.settings import ClinicSettings, Settings, WebSettings
from tests.support import RecordingChannel

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "config"
POSTGRES_URL = os.environ.get(
    "REMINDERS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("REMINDERS_TEST_REQUIRE_POSTGRES") == "1"
# A Friday afternoon in New York, clear of any DST change.
NOW = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("REMINDERS_") and not name.startswith("REMINDERS_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def clinic_settings(**overrides: object) -> ClinicSettings:
    values: dict[str, object] = {
        "name": "Harbor Skin Clinic",
        "phone": "+12125550143",
        "timezone": "America/New_York",
    }
    values.update(overrides)
    return ClinicSettings.model_validate(values)


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A fresh schema in the PostgreSQL test database, migrated once for the session."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    url_text = url.render_as_string(hide_password=False)
    engine = make_engine(url_text)
    migrate.upgrade(engine)
    engine.dispose()
    yield url_text
    with admin.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "TRUNCATE message_events, messages, treatments, patients, clinics, "
                "early_delivery_reports, channel_problems RESTART IDENTITY CASCADE"
            )
        )
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs once on a SQLite file and once on PostgreSQL."""
    if request.param == "sqlite":
        yield request.getfixturevalue("migrated_sqlite_url")
        return
    url = request.getfixturevalue("postgres_schema_url")
    _truncate_all(url)
    yield url
    _truncate_all(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file not created yet: the application migrates it on start."""
    return f"sqlite:///{tmp_path / 'reminders.db'}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once for the session, to copy: migrating a new file
    for each test would cost a quarter of a second each, minutes over the suite."""
    path = tmp_path_factory.mktemp("template") / "reminders.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def migrated_sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A SQLite file already at the newest migration, as a copy of the template."""
    target = tmp_path / "reminders.db"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite:///{target}"


# Password hashes at argon2's cheapest cost: every sign-in of the web tests would
# otherwise spend half a second of CPU. tests/integration/test_staff.py checks the default.
CHEAP_PASSWORDS = WebSettings(password_hash_memory_kib=8_192, password_hash_time_cost=1)


def make_settings(tmp_path: Path, database_url: str, **clinic: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        config_dir=CONFIG_DIR,
        database_url=database_url,
        clinic=clinic_settings(**clinic),
        web=CHEAP_PASSWORDS,
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def app(settings: Settings, clock: FixedClock) -> Iterator[App]:
    application = build_app(settings, clock=clock)
    yield application
    application.close()


@pytest.fixture
def channel() -> RecordingChannel:
    return RecordingChannel()


# The rows a request can create; "nothing stored" means none of these change.
STORED: tuple[type[Any], ...] = (Treatment, Patient, Message, MessageEvent, IdempotencyKey)


@pytest.fixture
def row_counts(app: App) -> Callable[[], dict[str, int]]:
    """Rows in every table a request may write, by table name."""

    def count() -> dict[str, int]:
        with app.sessions() as session:
            return {
                model.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(model))
                or 0
                for model in STORED
            }

    return count
