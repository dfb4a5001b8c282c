"""The claim path writes send times to SQLite as text: exactly as UTCDateTime would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from reminders.db.claims import sqlite_time
from reminders.db.types import UTCDateTime

DIALECT = sqlite.dialect()
STORE = UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC),
        datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC),  # no microseconds: still six digits
        datetime(2026, 3, 8, 1, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1, 1, 1, tzinfo=UTC),
    ],
)
def test_matches_the_column_types_own_storage(at: datetime) -> None:
    assert STORE is not None
    assert sqlite_time(at) == STORE(at)
