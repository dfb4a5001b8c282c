"""`reschedule` and `cancel --error` at the desk: what the patient will be told is shown
before anything is saved, and goes only with --yes (or is withheld with --no-notify)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from freezegun import freeze_time
from typer.testing import CliRunner

from reminders.bootstrap import App, build_app, default_channels
from reminders.cli import app as cli
from reminders.settings import load_settings
from tests.cli.support import FROZEN, run
from tests.support import log


@pytest.fixture
def sent(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[App, int]]:
    """A treatment at 2:00 PM whose first text went (console channel)."""
    with freeze_time(FROZEN):
        application = build_app(load_settings())
        treatment = log(application, at=None)
        application.dispatcher(default_channels(application.settings)).dispatch_due()
        yield application, treatment.id
        application.close()


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_reschedule_shows_the_correction_and_needs_yes_to_send_it(
    sent: tuple[App, int],
) -> None:
    _, treatment_id = sent
    with freeze_time(FROZEN):
        code, output = invoke("reschedule", str(treatment_id), "--at", "2026-11-27 15:00")
        assert code == 2
        assert "the patient will be told (correction, by sms)" in output
        assert "for the next 5 hours (until 7:00 PM) please avoid" in output
        assert "add --yes to send it, or --no-notify REASON" in output
        shown = run("show", str(treatment_id))
        assert "performed 2026-11-27 14:00 EST" in shown  # nothing was saved

        output = run("reschedule", str(treatment_id), "--at", "2026-11-27 15:00", "--yes")
        assert "performed 2026-11-27 15:00 EST" in output
        assert "patient told (correction)" in output
        assert "correction" in run("list")


def test_a_dry_run_shows_the_corrected_plan_and_changes_nothing(sent: tuple[App, int]) -> None:
    _, treatment_id = sent
    with freeze_time(FROZEN):
        output = run(
            "reschedule",
            str(treatment_id),
            "--restriction",
            "6h",
            "--reason",
            "marathon runner",
            "--dry-run",
        )
        assert "the corrected plan" in output
        assert "window_end:posture" in output
        assert "until 6:00 PM avoid lying flat and bending over; until 8:00 PM avoid" in output
        assert "restriction 4h" in run("show", str(treatment_id))


def test_the_desk_may_withhold_a_correction_with_a_reason(sent: tuple[App, int]) -> None:
    _, treatment_id = sent
    with freeze_time(FROZEN):
        output = run(
            "reschedule",
            str(treatment_id),
            "--at",
            "2026-11-27 13:00",
            "--no-notify",
            "called the patient",
        )
        assert "The patient will not be told (correction_looser): called the patient" in output
        assert "patient not told (correction_looser): called the patient" in output


def test_cancel_for_the_wrong_patient_withdraws_what_was_sent(sent: tuple[App, int]) -> None:
    _, treatment_id = sent
    with freeze_time(FROZEN):
        output = run("cancel", str(treatment_id), "--reason", "wrong patient", "--error", "--yes")
        assert "the patient will be told (withdrawal, by sms)" in output
        assert "please disregard the aftercare messages we sent you" in output
        assert f"Treatment {treatment_id} cancelled" in output
        assert "withdrawal" in run("show", str(treatment_id))
