from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from reminders.bootstrap import build_app
from reminders.db import migrate, revisions
from reminders.db.engine import make_engine
from reminders.db.models import Base
from reminders.errors import ConfigError
from tests.conftest import make_settings


def test_migrations_build_exactly_the_models_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
        assert revisions.is_current(engine)
    finally:
        engine.dispose()


def test_upgrade_twice_is_harmless(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        migrate.upgrade(engine)
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_on_postgresql_messages_keep_room_for_in_place_updates(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        if engine.dialect.name != "postgresql":
            return
        migrate.upgrade(engine)
        with engine.connect() as connection:
            options = connection.execute(
                text(
                    "SELECT reloptions FROM pg_class WHERE relname = 'messages'"
                    " AND relnamespace = current_schema()::regnamespace"
                )
            ).scalar_one()
        assert options == ["fillfactor=80"]
    finally:
        engine.dispose()


def _at_revision(url: str, revision: str) -> None:
    """A database migrated only up to `revision`, as an older release left it."""
    from alembic import command

    engine = make_engine(url)
    try:
        config = migrate.alembic_config(url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def test_an_empty_schema_is_not_current(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        assert revisions.current_revisions(engine) == ()
        assert not revisions.is_current(engine)
        assert revisions.describe_current(engine) == "an empty schema"
    finally:
        engine.dispose()


def test_the_embedded_database_behind_the_newest_migration_is_upgraded_on_open(
    tmp_path: Path, sqlite_url: str
) -> None:
    _at_revision(sqlite_url, "0007")
    application = build_app(make_settings(tmp_path, sqlite_url))
    try:
        assert revisions.current_revisions(application.engine) == (revisions.head_revision(),)
    finally:
        application.close()


def test_a_database_behind_is_refused_when_it_may_not_be_migrated(
    tmp_path: Path, sqlite_url: str
) -> None:
    _at_revision(sqlite_url, "0007")
    with pytest.raises(ConfigError) as refused:
        build_app(make_settings(tmp_path, sqlite_url), upgrade=False)
    assert str(refused.value) == (
        f"database schema is at 0007, not the newest ({revisions.head_revision()}): "
        "run `reminders db upgrade`"
    )
