from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from reminders.db import migrate
from reminders.db.engine import make_engine
from reminders.db.models import Base


def test_migrations_build_exactly_the_models_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
        assert migrate.is_current(engine)
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
