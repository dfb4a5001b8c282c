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
