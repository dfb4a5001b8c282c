"""`failures`, `show` and `acknowledge` at the desk: who to call, and channels waiting on
their settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from freezegun import freeze_time
from typer.testing import CliRunner

from reminders.bootstrap import App, build_app
from reminders.cli import app as cli
from reminders.db import repo
from reminders.inbound import ProviderReports
from reminders.settings import load_settings
from tests.cli.support import FROZEN, run
from tests.support import log

PHONE = "+12125550199"


@pytest.fixture
def service_app(env: dict[str, str], tmp_path: Path) -> Iterator[App]:
    """The application the commands build, in this process, on the frozen wall clock."""
    with freeze_time(FROZEN):
        application = build_app(load_settings())
        yield application
        application.close()


def stop_texts(application: App) -> None:
    """The patient texts STOP to the clinic's sender."""
    ProviderReports(
        sessions=application.sessions,
        clock=application.clock,
        reroutes=application.reroutes,
        triage=application.triage,
    ).inbound_text(from_phone=PHONE, to_sender="+12125550100", body="STOP", provider_id="SM1")


def test_a_patient_who_stops_texts_without_an_email_is_listed_until_acknowledged(
    service_app: App,
) -> None:
    with freeze_time(FROZEN):
        treatment = log(service_app, phone=PHONE, at=None)
        stop_texts(service_app)

        output = run("failures")
        assert "needs a call" in output
        assert "Jane Doe" in output
        assert PHONE in output
        assert "the patient opted out of texts (STOP)" in output
        assert "no email address on record: the patient will miss avoid" in output
        assert "all_clear" in output

        shown = run("show", str(treatment.id))
        assert "NEEDS A CALL (alert 1)" in shown

        result = CliRunner().invoke(cli, ["acknowledge", "1", "--by", "Front desk"])
        assert result.exit_code == 0, result.output
        assert "Alert 1 acknowledged by Front desk." in result.output

        assert "Nobody to call" in run("failures")
        assert "needed a call (alert 1, acknowledged by Front desk" in run(
            "show", str(treatment.id)
        )


def test_acknowledging_an_unknown_alert_or_without_a_name_is_a_clear_error(
    service_app: App,
) -> None:
    with freeze_time(FROZEN):
        unknown = CliRunner().invoke(cli, ["acknowledge", "7", "--by", "Front desk"])
        assert unknown.exit_code == 2
        assert "error: alert 7 not found" in unknown.output
        log(service_app, phone=PHONE, at=None)
        stop_texts(service_app)
        blank = CliRunner().invoke(cli, ["acknowledge", "1", "--by", "  "])
        assert blank.exit_code == 2
        assert "by: is required" in blank.output


def test_a_channel_waiting_on_its_settings_is_shown_first(service_app: App) -> None:
    with freeze_time(FROZEN):
        with service_app.sessions.begin() as session:
            repo.set_channel_problem(
                session,
                channel="sms",
                problem="Twilio 401 error 20003: credentials refused: waiting for the sms "
                "settings to be fixed",
                now=service_app.clock.now(),
                retry_at=None,
            )
        output = run("failures")
    assert "SMS channel waiting since 2026-11-27 14:00 EST" in output
    assert "Nobody to call" not in output
    assert "credentials refused" in output
    assert "attempts unspent" in output
