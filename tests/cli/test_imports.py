"""What each command imports: start-up time is mostly imports, so a command must not load
what it does not use. Read from `python -X importtime`, in a process of its own."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONFIG_DIR

_IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", re.MULTILINE)
# The database, the settings and the API's models (pydantic): none of it to print help.
NOT_FOR_HELP = (
    "alembic",
    "apscheduler",
    "email_validator",
    "fastapi",
    "phonenumbers",
    "pydantic",
    "pydantic_settings",
    "sqlalchemy",
    "starlette",
    "twilio",
    "uvicorn",
    "reminders.api",
    "reminders.bootstrap",
    "reminders.db",
    "reminders.settings",
    # Typer's Rich help layout (Rich's Markdown and traceback modules): help is Click's.
    "typer.rich_utils",
)
# Migrations, the worker's scheduler, the providers' SDKs and the API: none of it to log,
# list or show on a current database with the console channel.
NOT_FOR_DESK = (
    "alembic",
    "apscheduler",
    "fastapi",
    "smtplib",
    "starlette",
    "twilio",
    "uvicorn",
    "reminders.api",
    "reminders.channels.smtp_email",
    "reminders.channels.twilio_sms",
    "reminders.db.migrate",
    "reminders.dispatch",
    "reminders.worker",
)
LOG = ("log", "Ann Lee", "--treatment", "botox", "--phone", "2125550123", "--sms-consent")


def imported(args: tuple[str, ...], data_dir: Path) -> set[str]:
    """Every module `reminders ARGS` imports, after checking that it succeeded."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reminders", *args],
        env={
            "PATH": "/usr/bin:/bin",
            "REMINDERS_DATA_DIR": str(data_dir),
            "REMINDERS_CONFIG_DIR": str(CONFIG_DIR),
            "COLUMNS": "200",
        },
        cwd=data_dir.parent,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return set(_IMPORTED.findall(done.stderr))


def loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(f"{p}.") for p in packages))


def test_help_imports_neither_the_database_nor_the_settings(tmp_path: Path) -> None:
    modules = imported(("--help",), tmp_path / "data")
    assert "reminders.cli" in modules
    assert loaded(modules, NOT_FOR_HELP) == []


def test_the_first_command_on_a_new_database_migrates_it_with_alembic(tmp_path: Path) -> None:
    modules = imported(LOG, tmp_path / "data")
    assert "reminders.db.migrate" in modules
    assert "alembic" in modules


@pytest.mark.parametrize(
    "args",
    [LOG, ("list",), ("show", "1"), ("failures",)],
    ids=["log", "list", "show", "failures"],
)
def test_desk_commands_on_a_current_database_import_only_what_they_use(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    imported(LOG, tmp_path / "data")  # creates the database and treatment 1
    modules = imported(args, tmp_path / "data")
    assert {"reminders.service", "sqlalchemy.orm"} <= modules
    assert loaded(modules, NOT_FOR_DESK) == []
