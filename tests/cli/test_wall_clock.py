"""The command line on the real (system) clock, as deployed; freezegun pins the wall clock."""

from __future__ import annotations

from freezegun import freeze_time
from typer.testing import CliRunner

from reminders.cli import app
from tests.cli.support import FROZEN, run


def test_preview_without_a_time_plans_from_now(env: dict[str, str]) -> None:
    with freeze_time(FROZEN):
        output = run("preview", "--treatment", "botox")
    assert "2026-11-27 14:00 EST" in output  # the avoid message, now
    assert "2026-11-27 18:00 EST" in output  # the all-clear, 4 h later
    assert "until 6:00 PM" in output


def test_log_without_a_time_is_a_treatment_now(env: dict[str, str]) -> None:
    with freeze_time(FROZEN):
        output = run(
            "log", "Jane Doe", "--treatment", "botox", "--phone", "2125550199", "--sms-consent"
        )
    assert "performed 2026-11-27 14:00 EST, logged 2026-11-27 14:00 EST" in output


def test_a_time_more_than_a_day_before_now_is_refused(env: dict[str, str]) -> None:
    with freeze_time(FROZEN):
        result = CliRunner().invoke(
            app,
            [
                "log",
                "Jane Doe",
                "--treatment",
                "botox",
                "--phone",
                "2125550199",
                "--sms-consent",
                "--at",
                "2026-11-26 13:59",
            ],
        )
    assert result.exit_code == 2
    assert "more than a day in the past" in result.output
