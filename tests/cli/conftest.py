"""The command line in this process: its settings from the environment, data in a temporary
folder, the shipped configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CONFIG_DIR


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    variables = {
        "REMINDERS_DATA_DIR": str(tmp_path / "data"),
        "REMINDERS_CONFIG_DIR": str(CONFIG_DIR),
        "COLUMNS": "200",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables


@pytest.fixture
def any_database(env: dict[str, str], database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The command line on a SQLite file, then on PostgreSQL (tests/conftest.py's
    `database_url`, migrated and emptied for each test)."""
    monkeypatch.setenv("REMINDERS_DATABASE_URL", database_url)
    return database_url
