"""The SMS budget and test mode at the command line: set when a clinic is added, shown in
`clinic list`, this month's use in `budget show`, and staff letting held texts go."""

from __future__ import annotations

import json

from freezegun import freeze_time

from tests.cli.support import FROZEN, refused, run

NORTH = (
    "clinic",
    "add",
    "--slug",
    "north",
    "--name",
    "North Clinic",
    "--phone",
    "+13125550143",
    "--timezone",
    "America/Chicago",
)


def test_a_clinic_added_with_a_budget_and_test_mode_lists_them(any_database: str) -> None:
    with freeze_time(FROZEN):
        run(
            *NORTH,
            "--sms-monthly-segments",
            "500",
            "--test-mode",
            "--test-phone",
            "+1 312 555 0123",
            "--test-email",
            "desk@north.example",
        )
        listed = json.loads(run("clinic", "list", "--json"))
        table = run("clinic", "list")
    [north] = [c for c in listed["items"] if c["slug"] == "north"]
    assert north["sms_monthly_segments"] == 500
    assert (north["test_mode"], north["test_phone"], north["test_email"]) == (
        True,
        "+13125550123",
        "desk@north.example",
    )
    assert "500 segments/month" in table
    assert "ON: to +13125550123, desk@north.example" in table


def test_test_mode_without_a_test_number_is_refused_naming_the_field(any_database: str) -> None:
    with freeze_time(FROZEN):
        line = refused(*NORTH, "--test-mode", "--test-email", "desk@north.example")
    assert line.startswith("error: test_phone: test mode is on")


def test_budget_show_and_allow_record_who_let_texts_go_over_it(any_database: str) -> None:
    with freeze_time(FROZEN):
        run(*NORTH, "--sms-monthly-segments", "100")
        assert run("budget", "show", "--clinic", "north").strip() == (
            "Clinic 'north', 2026-11: 0 of 100 SMS segments used (budget 100); "
            "0 text(s) held over the budget."
        )
        allowed = run("budget", "allow", "--clinic", "north", "--segments", "20", "--by", "Dr Lee")
        shown = json.loads(run("budget", "show", "--clinic", "north", "--json"))
    assert "0 of 120 SMS segments used (budget 100 + 20 allowed by Dr Lee)" in allowed
    assert (shown["allowed"], shown["allowed_by"], shown["month"]) == (20, "Dr Lee", "2026-11")


def test_allowing_more_for_a_clinic_without_a_budget_is_refused(any_database: str) -> None:
    with freeze_time(FROZEN):
        line = refused("budget", "allow", "--segments", "20", "--by", "Dr Lee")
    assert line == "error: clinic: clinic 'default' has no SMS budget"
