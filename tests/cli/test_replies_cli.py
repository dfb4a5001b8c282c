"""`reminders replies` at the desk: flagged replies on top until acknowledged; `failures`
shows them too, and says when no on-call contact is configured."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from freezegun import freeze_time

# The API's response models are built before the clock is frozen (pydantic cannot build
# one for freezegun's datetime).
from reminders.api.presenters import reply_public  # noqa: F401
from reminders.bootstrap import App, build_app
from reminders.settings import load_settings
from tests.cli.support import FROZEN, refused, run
from tests.support import log

PHONE = "+12125550199"
NO_ON_CALL = "No on-call contact is configured for Harbor Skin Clinic"


@pytest.fixture
def service_app(any_database: str, tmp_path: Path) -> Iterator[App]:
    """The application the commands build, in this process, on the frozen wall clock."""
    with freeze_time(FROZEN):
        application = build_app(load_settings())
        yield application
        application.close()


def texts(application: App, *bodies: str) -> None:
    for n, body in enumerate(bodies):
        application.reports.inbound_text(
            from_phone=PHONE, to_sender="+12125550100", body=body, provider_id=f"SM{n:032d}"
        )


def test_replies_lists_those_waiting_for_staff_flagged_first(service_app: App) -> None:
    with freeze_time(FROZEN):
        treatment = log(service_app, phone=PHONE, at=None)
        texts(service_app, "thanks", "please stop texting me", "my eyelid is drooping")

        output = run("replies")

    assert NO_ON_CALL in output
    lines = output.splitlines()
    flagged = next(i for i, line in enumerate(lines) if "drooping" in line)
    request = next(i for i, line in enumerate(lines) if "stop texting" in line)
    assert flagged < request
    assert "clinical: a drooping eyelid" in output
    assert f"Jane Doe (treatment {treatment.id})" in output
    assert "waiting for staff" in output
    assert "thanks" not in output
    assert "thanks" in run("replies", "--all")


def test_replies_ack_takes_a_flag_off_the_list_and_failures(service_app: App) -> None:
    with freeze_time(FROZEN):
        texts(service_app, "I have bruising")
        assert "flagged replies: call the patient" in run("failures")
        assert "I have bruising" in run("replies", "--flagged")

        assert run("replies", "ack", "1", "--by", "Dr Lee").strip() == (
            "Reply 1 acknowledged by Dr Lee."
        )

        assert "No replies waiting for staff." in run("replies", "--flagged")
        assert "call the patient" not in run("failures")
        assert "acknowledged by Dr Lee" in run("replies", "--all")


def test_replies_json_is_the_api_page(service_app: App) -> None:
    with freeze_time(FROZEN):
        texts(service_app, "I can't breathe")
        page = json.loads(run("replies", "--json"))
        failures = json.loads(run("failures", "--json"))

    [item] = page["items"]
    assert (item["triage"], item["flags"], page["open_flagged"]) == (
        "emergency",
        ["trouble-breathing"],
        1,
    )
    assert [r["id"] for r in failures["replies"]] == [item["id"]]
    assert failures["on_call"].startswith(NO_ON_CALL)


def test_confirming_a_request_to_stop_from_the_command_line(service_app: App) -> None:
    with freeze_time(FROZEN):
        texts(service_app, "unsubscribe me")
        output = run("replies", "confirm-opt-out", "1", "--by", "Front desk")
        assert "Reply 1: texts to this patient stopped, confirmed by Front desk." in output
        assert "No replies waiting for staff." in run("replies")


def test_an_unknown_reply_is_a_clear_error(service_app: App) -> None:
    with freeze_time(FROZEN):
        assert refused("replies", "ack", "7") == "error: reply 7 not found"


def test_clinic_list_says_when_no_on_call_contact_is_configured(service_app: App) -> None:
    with freeze_time(FROZEN):
        assert NO_ON_CALL in run("clinic", "list")


def test_a_clinic_added_with_an_on_call_contact_is_not_named_as_lacking_one(
    service_app: App,
) -> None:
    with freeze_time(FROZEN):
        run(
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
            "--on-call-phone",
            "+1 312 555 0188",
        )
        listed = run("clinic", "list")
    assert NO_ON_CALL in listed
    assert "No on-call contact is configured for North Clinic" not in listed
    assert refused(
        "clinic",
        "add",
        "--slug",
        "south",
        "--name",
        "South",
        "--phone",
        "+13125550143",
        "--timezone",
        "America/Chicago",
        "--on-call-email",
        "not-an-address",
    ).startswith("error: on_call_email: ")
