"""Running a command in this process."""

from __future__ import annotations

from typer.testing import CliRunner

from reminders.cli import app

FROZEN = "2026-11-27T19:00:00Z"  # 2:00 PM in New York


def run(*args: str) -> str:
    """The command's output; it must succeed."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output
