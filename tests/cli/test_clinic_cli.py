"""`reminders clinic show|update|disable|enable|history`, on both databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from tests.cli.support import FROZEN, describe, invoke, refused, run

B = ("--clinic", "b")
LOG_B = ("log", "Ann Lee", "--treatment", "botox", "--phone", "3125550198", "--sms-consent", *B)


def add_clinic_b() -> None:
    run(
        "clinic", "add", "--slug", "b", "--name", "B Clinic", "--phone", "+13125550143",
        "--timezone", "America/Chicago",
    )  # fmt: skip


def shown(slug: str = "b") -> dict[str, Any]:
    document: dict[str, Any] = json.loads(run("clinic", "show", slug, "--json"))
    return document


def history(slug: str = "b") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(run("clinic", "history", slug, "--json"))["items"]
    return items


def messages(*args: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(run("list", "--json", *args))["items"]
    return items


def test_show_gives_every_setting_the_status_and_the_counts(any_database: str) -> None:
    add_clinic_b()
    run("apikey", "create", "--clinic", "b", "--label", "emr")

    clinic = shown()

    assert clinic["slug"] == "b"
    assert clinic["name"] == "B Clinic"
    assert clinic["timezone"] == "America/Chicago"
    assert clinic["restriction"] == "4h"
    assert clinic["quiet_hours"] == "21:00-08:00"
    assert clinic["on_call_phone"] is None
    assert clinic["status"] == "active"
    assert clinic["api_keys"] == 1
    assert clinic["staff"] == 0
    assert clinic["created_at"]
    assert clinic["updated_at"]


def test_show_as_a_table_and_an_unknown_clinic(any_database: str) -> None:
    add_clinic_b()

    table = run("clinic", "show", "b")

    for value in ("B Clinic", "America/Chicago", "active", "status"):
        assert value in table
    assert refused("clinic", "show", "nowhere") == "error: clinic: no clinic 'nowhere'"


def test_update_changes_the_settings_and_records_who_and_what(any_database: str) -> None:
    add_clinic_b()

    output = run(
        "clinic", "update", "b", "--name", "B Skin", "--restriction", "6h",
        "--on-call-phone", "+13125550111",
    )  # fmt: skip

    clinic = shown()
    assert (clinic["name"], clinic["restriction"]) == ("B Skin", "6h")
    assert clinic["on_call_phone"] == "+13125550111"
    assert "keep the messages planned for them" in output
    records = {item["field"]: item for item in history()}
    assert set(records) == {"name", "restriction", "on_call_phone"}
    assert (records["name"]["old_value"], records["name"]["new_value"]) == ("B Clinic", "B Skin")
    assert records["on_call_phone"]["old_value"] is None
    assert all(item["changed_by"].startswith("cli:") for item in records.values())


@pytest.mark.parametrize(
    ("option", "value", "refusal"),
    [
        ("--timezone", "Mars/Olympus", "error: timezone: Value error, unknown time zone"),
        ("--phone", "12", "error: phone: Value error, must be an international number"),
        ("--restriction", "90d", "error: restriction: "),
        ("--quiet-hours", "late", "error: quiet_hours: Value error, 'late' is not a span"),
        ("--on-call-email", "not-an-address", "error: on_call_email: Value error, is not a"),
        ("--name", "", "error: name: String should have at least 1 character"),
        ("--messaging-service-sid", "MG1", "error: messaging_service_sid: String should match"),
        ("--time-format", "13h", "error: time_format: Input should be '12h' or '24h'"),
    ],
)
def test_a_refused_value_names_its_field_and_changes_nothing(
    any_database: str, option: str, value: str, refusal: str
) -> None:
    add_clinic_b()
    before = shown()

    line = refused("clinic", "update", "b", "--name", "B Skin", option, value)

    assert line.startswith(refusal), line
    assert shown() == before
    assert history() == []


def test_a_restriction_the_policies_do_not_support_is_refused(any_database: str) -> None:
    add_clinic_b()

    line = refused("clinic", "update", "b", "--restriction", "45m")

    assert line.startswith("error: restriction: 45m is outside what the answers cited")
    assert shown()["restriction"] == "4h"


def test_a_dry_run_shows_the_change_and_makes_none(any_database: str) -> None:
    add_clinic_b()
    before = shown()

    output = json.loads(run("clinic", "update", "b", "--timezone", "Europe/London", "--dry-run",
                            "--json"))  # fmt: skip

    assert output == {
        "changes": [{"field": "timezone", "old": "America/Chicago", "new": "Europe/London"}],
        "dry_run": True,
    }
    assert shown() == before
    assert history() == []


def test_an_empty_value_clears_an_optional_setting(any_database: str) -> None:
    add_clinic_b()

    run("clinic", "update", "b", "--quiet-hours", "")

    assert shown()["quiet_hours"] is None
    assert [(i["field"], i["old_value"], i["new_value"]) for i in history()] == [
        ("quiet_hours", "21:00-08:00", None)
    ]


def test_the_clinic_of_the_settings_file_is_changed_in_the_file(any_database: str) -> None:
    line = refused("clinic", "update", "default", "--name", "Elsewhere")

    assert line.startswith("error: clinic: 'default' is set in the settings file")


def test_an_unchanged_value_records_nothing(any_database: str) -> None:
    add_clinic_b()

    output = run("clinic", "update", "b", "--name", "B Clinic")

    assert "Nothing to change" in output
    assert history() == []


def test_a_disabled_clinic_logs_nothing_and_its_planned_messages_still_go(
    any_database: str,
) -> None:
    add_clinic_b()
    with freeze_time(FROZEN):
        run(*LOG_B)
    pending = [m for m in messages(*B) if m["state"] == "pending"]
    with freeze_time(FROZEN):
        output = run("clinic", "disable", "b", "--reason", "clinic closed")
        refusal = refused(*LOG_B)

    assert pending
    assert "will still be sent" in output
    assert refusal == (
        "error: clinic: 'b' is disabled (clinic closed): no treatments can be logged for it"
    )
    assert [m for m in messages(*B) if m["state"] == "pending"] == pending
    clinic = shown()
    assert (clinic["status"], clinic["disabled_reason"]) == ("disabled", "clinic closed")
    listed = json.loads(run("clinic", "list", "--json"))["items"]
    assert [(c["slug"], c["status"]) for c in listed] == [("b", "disabled"), ("default", "active")]
    assert "Clinic 'b' is disabled: clinic closed" in run("clinic", "list")
    assert [i["field"] for i in history()] == ["disabled_at", "disabled_reason"]


def test_disable_with_cancel_pending_cancels_them_with_the_reason(any_database: str) -> None:
    add_clinic_b()
    with freeze_time(FROZEN):
        run(*LOG_B)
        output = run("clinic", "disable", "b", "--reason", "closed", "--cancel-pending")
    timeline = json.loads(run("show", "1", "--json", *B))

    states = {m["state"] for m in timeline["messages"]}
    assert "pending" not in states
    assert "cancelled" in states
    assert "message(s) not yet sent were cancelled" in output
    cancelled = [m for m in timeline["messages"] if m["state"] == "cancelled"]
    assert cancelled
    for message in cancelled:
        assert message["events"][-1]["detail"] == "clinic disabled: closed"


def test_a_disabled_clinic_imports_nothing(any_database: str, tmp_path: Path) -> None:
    add_clinic_b()
    day = tmp_path / "day.csv"
    day.write_text(
        "external_id,patient,phone,sms_consent,treatment,performed_at\n"
        "e1,Ann Lee,3125550198,yes,botox,2026-11-27 13:00\n"
    )
    run("clinic", "disable", "b", "--reason", "closed")

    with freeze_time(FROZEN):
        line = refused("import", str(day), *B)

    assert line == "error: clinic: 'b' is disabled (closed): no treatments can be logged for it"
    assert messages(*B) == []


def test_enable_lets_it_log_again_and_is_recorded(any_database: str) -> None:
    add_clinic_b()
    with freeze_time(FROZEN):
        run("clinic", "disable", "b", "--reason", "audit")
        run("clinic", "enable", "b")
        result = invoke(*LOG_B)

    assert result.exit_code == 0, describe(result)
    assert shown()["status"] == "active"
    assert [(i["field"], i["new_value"]) for i in history()][2:] == [
        ("disabled_at", None),
        ("disabled_reason", None),
    ]
    assert refused("clinic", "enable", "b") == "error: clinic: 'b' is not disabled"


def test_history_as_a_table(any_database: str) -> None:
    add_clinic_b()
    assert "No changes recorded." in run("clinic", "history", "b")

    run("clinic", "update", "b", "--default-channel", "email")
    table = run("clinic", "history", "b")

    for value in ("default_channel", "sms", "email", "cli:"):
        assert value in table


def test_the_sms_budget_and_test_mode_are_changed_and_recorded(any_database: str) -> None:
    add_clinic_b()

    run("clinic", "update", "b", "--sms-monthly-segments", "500")
    # Test mode needs somewhere to send each channel the clinic may use.
    assert refused("clinic", "update", "b", "--test-mode", "--test-phone", "+13125550100") == (
        "error: test_email: test mode is on and the clinic emails: set test_email"
    )
    run(
        "clinic", "update", "b", "--test-mode", "--test-phone", "+13125550100",
        "--test-email", "desk@b.example",
    )  # fmt: skip
    run("clinic", "update", "b", "--sms-monthly-segments", "0")  # no budget again

    settings = shown()
    assert (settings["sms_monthly_segments"], settings["test_mode"]) == (None, True)
    assert (settings["test_phone"], settings["test_email"]) == ("+13125550100", "desk@b.example")
    changes = [(i["field"], i["new_value"]) for i in history()]
    assert changes[0] == ("sms_monthly_segments", "500")
    assert set(changes[1:4]) == {
        ("test_mode", "true"),
        ("test_phone", "+13125550100"),
        ("test_email", "desk@b.example"),
    }
    assert changes[4:] == [("sms_monthly_segments", None)]
