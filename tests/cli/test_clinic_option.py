"""`--clinic SLUG` on every command that acts for a clinic: the configured clinic without
it, an unknown slug refused as the option's error, another clinic's ids not found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from freezegun import freeze_time

from tests.cli.support import FROZEN, describe, invoke, refused, run

DAY = ("--from", "2026-11-27", "--to", "2026-11-27")
# Every command that acts for one clinic, with arguments it accepts.
COMMANDS: list[tuple[str, ...]] = [
    ("log", "Ann Lee", "--treatment", "botox", "--phone", "2125550198", "--sms-consent"),
    ("import", "day.csv"),
    ("audit", *DAY),
    ("list",),
    ("failures",),
    ("show", "1"),
    ("cancel", "1"),
    ("reschedule", "1", "--at", "2026-11-27 13:00"),
    ("email-instead", "1", "--email", "ann@example.org"),
    ("acknowledge", "1", "--by", "ann"),
    ("replies",),
    ("replies", "ack", "1"),
    ("replies", "confirm-opt-out", "1"),
    ("preview", "--treatment", "botox"),
]
# The commands about one treatment: another clinic's treatment is not found.
ON_A_TREATMENT: list[tuple[str, ...]] = [
    ("show", "1", "--json"),
    ("cancel", "1", "--dry-run"),
    ("reschedule", "1", "--restriction", "6h", "--reason", "thin skin", "--dry-run"),
    ("email-instead", "1", "--email", "ann@example.org"),
]


def add_clinic_b() -> None:
    run(
        "clinic", "add", "--slug", "b", "--name", "B Clinic", "--phone", "+13125550143",
        "--timezone", "America/Chicago",
    )  # fmt: skip


def test_every_command_for_a_clinic_takes_the_option() -> None:
    for command in COMMANDS:
        assert "--clinic" in run(*command[: 2 if command[0] == "replies" else 1], "--help")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_an_unknown_clinic_is_refused_as_the_options_error(
    any_database: str, command: tuple[str, ...]
) -> None:
    assert refused(*command, "--clinic", "nowhere") == "error: clinic: no clinic 'nowhere'"


@pytest.mark.parametrize("command", ON_A_TREATMENT, ids=lambda c: c[0])
def test_another_clinics_treatment_is_found_only_with_its_slug(
    any_database: str, command: tuple[str, ...]
) -> None:
    add_clinic_b()
    with freeze_time(FROZEN):
        run(*COMMANDS[0], "--clinic", "b")
    elsewhere = refused(*command)
    result = invoke(*command, "--clinic", "b")

    assert elsewhere == "error: treatment 1 not found"
    assert result.exit_code == 0, describe(result)


def test_log_and_list_act_for_the_clinic_named(any_database: str) -> None:
    add_clinic_b()
    with freeze_time(FROZEN):
        run(*COMMANDS[0], "--clinic", "b")

    for_b = json.loads(run("list", "--json", "--clinic", "b"))["items"]
    configured = json.loads(run("list", "--json"))["items"]
    assert for_b
    assert configured == []


def test_import_and_audit_act_for_the_clinic_named(any_database: str, tmp_path: Path) -> None:
    add_clinic_b()
    day = tmp_path / "day.csv"
    day.write_text(
        "external_id,patient,phone,sms_consent,treatment,performed_at\n"
        "e1,Ann Lee,3125550198,yes,botox,2026-11-27 13:00\n"
    )
    with freeze_time(FROZEN):
        run("import", str(day), "--clinic", "b")
        run("cancel", "1", "--clinic", "b")

    assert "+13125550198" not in run("audit", *DAY)
    assert "+13125550198" in run("audit", *DAY, "--clinic", "b")


def test_replies_take_the_clinic_before_or_after_the_subcommand(any_database: str) -> None:
    add_clinic_b()

    before = refused("replies", "--clinic", "nowhere", "ack", "1")
    after = refused("replies", "ack", "1", "--clinic", "b")

    assert before == "error: clinic: no clinic 'nowhere'"
    assert after == "error: reply 1 not found"


def test_preview_uses_the_named_clinics_settings(any_database: str) -> None:
    add_clinic_b()

    configured = json.loads(run("preview", "--treatment", "botox", "--json"))
    for_b = json.loads(run("preview", "--treatment", "botox", "--json", "--clinic", "b"))

    assert configured["timezone"] == "America/New_York"
    assert for_b["timezone"] == "America/Chicago"
    assert for_b["steps"][0]["body"].startswith("B Clinic: ")
