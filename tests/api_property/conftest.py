"""Fixtures for the fuzzing tests, and their figures in the terminal summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.terminal import TerminalReporter

from reminders.accounts import Accounts
from reminders.bootstrap import App
from reminders.settings import ApiSettings, Settings
from tests.api_property.figures import FIGURES
from tests.conftest import make_settings


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Overrides conftest's `settings` (which `app` uses): the fuzzer must never meet a 429."""
    settings = make_settings(tmp_path, database_url)
    # Nor wait for a delivery no worker will make.
    settings.api = ApiSettings(
        rate_per_minute=1_000_000, rate_burst=1_000_000, max_wait_seconds=0.05
    )
    return settings


@pytest.fixture
def database(database_url: str) -> str:
    return "postgres" if database_url.startswith("postgresql") else "sqlite"


@pytest.fixture
def auth_headers(app: App) -> dict[str, str]:
    key = Accounts(sessions=app.sessions, clock=app.clock).create_key("default", label="fuzz")
    return {"Authorization": f"Bearer {key.key}"}


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    if FIGURES.cases:
        terminalreporter.write_sep("-", "API fuzzing")
        for line in FIGURES.lines():
            terminalreporter.write_line(line)
