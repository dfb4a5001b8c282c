"""`--json`: one JSON document on stdout for scripts, in the API's shapes where it has one,
with instants in ISO 8601 (UTC, and local where useful), however narrow the terminal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from freezegun import freeze_time

from reminders.accounts import Accounts
from reminders.api.presenters import treatment_public
from reminders.bootstrap import App, build_app, default_channels
from reminders.inbound import ProviderReports
from reminders.settings import load_settings
from tests.cli.support import FROZEN, describe, invoke
from tests.support import log

PHONE = "+12125550199"
UTC_NOW, LOCAL_NOW = "2026-11-27T19:00:00Z", "2026-11-27T14:00:00-05:00"


@pytest.fixture
def clinic(any_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """Jane's first text went, then she texted STOP: an alert, her all-clear cancelled.
    A terminal too narrow for any table: JSON is not wrapped."""
    monkeypatch.setenv("COLUMNS", "20")
    with freeze_time(FROZEN):
        application = build_app(load_settings())
        log(application, phone=PHONE, at=None)
        application.dispatcher(default_channels(application.settings)).dispatch_due()
        ProviderReports(
            sessions=application.sessions,
            clock=application.clock,
            reroutes=application.reroutes,
            triage=application.triage,
        ).inbound_text(from_phone=PHONE, to_sender="+12125550100", body="STOP", provider_id="SM1")
        Accounts(sessions=application.sessions, clock=application.clock).create_key(
            "default", label="front desk"
        )
        yield application
        application.close()


def document(*args: str) -> Any:
    with freeze_time(FROZEN):
        result = invoke(*args, "--json")
    assert result.exit_code == 0, describe(result)
    assert result.stderr == ""
    assert result.stdout.isascii()  # every non-ASCII character a JSON escape
    return json.loads(result.stdout)


def test_show_prints_the_treatment_as_the_api_does(clinic: App) -> None:
    shown = document("show", "1")

    treatment = clinic.service.treatment(clinic.clinic.id, 1)
    assert shown == treatment_public(treatment, clinic.clinic_zone).model_dump(mode="json")
    assert shown["performed_at"] == UTC_NOW
    assert shown["performed_at_local"] == LOCAL_NOW
    assert shown["patient"]["name"] == "Jane Doe"
    assert [(m["step_id"], m["state"]) for m in shown["messages"]] == [
        ("avoid", "sent"),
        ("all_clear", "cancelled"),
    ]
    assert shown["messages"][0]["sent_at"] == UTC_NOW
    assert [a["kind"] for a in shown["alerts"]] == ["needs_call"]


def test_list_prints_each_message_with_its_treatment_and_patient(clinic: App) -> None:
    listed = document("list")

    assert [(m["id"], m["treatment_id"], m["step_id"], m["state"]) for m in listed["items"]] == [
        (1, 1, "avoid", "sent"),
        (2, 1, "all_clear", "cancelled"),
    ]
    first = listed["items"][0]
    assert first["patient"] == {"id": 1, "name": "Jane Doe", "phone": PHONE, "email": None}
    assert (first["due_at"], first["due_at_local"]) == (UTC_NOW, LOCAL_NOW)
    assert (first["sent_at"], first["sent_at_local"]) == (UTC_NOW, LOCAL_NOW)
    assert listed["items"][1]["sent_at"] is None
    assert listed["items"][1]["reason"] == "texts stopped: the patient opted out of texts (STOP)"


def test_failures_prints_the_api_alerts_with_each_patient(clinic: App) -> None:
    failures = document("failures", "--hours", "48")

    assert set(failures) == {
        "items",
        "replies",
        "on_call",
        "channels_waiting",
        "delivery_problems",
        "delivery_problems_since",
    }
    [alert] = failures["items"]
    assert (alert["id"], alert["kind"], alert["treatment_id"]) == (1, "needs_call", 1)
    assert alert["created_at"] == UTC_NOW
    assert alert["acknowledged_at"] is None
    assert alert["detail"].startswith("the patient opted out of texts (STOP)")
    assert alert["patient"] == {"id": 1, "name": "Jane Doe", "phone": PHONE, "email": None}
    assert failures["replies"] == []
    assert failures["channels_waiting"] == []
    assert failures["delivery_problems"] == []
    assert failures["delivery_problems_since"] == "2026-11-25T19:00:00Z"


def test_clinic_list_prints_each_clinic(clinic: App) -> None:
    clinics = document("clinic", "list")

    assert [(c["id"], c["slug"], c["name"]) for c in clinics["items"]] == [
        (1, "default", "Harbor Skin Clinic")
    ]
    [default] = clinics["items"]
    assert default["timezone"] == "America/New_York"
    assert (default["restriction"], default["quiet_hours"]) == ("4h", "21:00-08:00")
    assert default["created_at"] == UTC_NOW


def test_apikey_list_prints_prefixes_and_labels_never_a_secret(clinic: App) -> None:
    keys = document("apikey", "list", "--clinic", "default")

    [key] = keys["items"]
    assert set(key) == {"prefix", "label", "created_at", "revoked_at"}
    assert key["label"] == "front desk"
    assert (key["created_at"], key["revoked_at"]) == (UTC_NOW, None)
    assert len(key["prefix"]) == 12


def test_preview_prints_the_plan_as_the_api_does(clinic: App) -> None:
    plan = document("preview", "--treatment", "botox", "--at", "2026-11-27 15:00")

    assert plan["treatment_at"] == "2026-11-27T20:00:00Z"
    assert plan["restriction_end"] == "2026-11-28T00:00:00Z"
    assert plan["restriction_end_local"] == "2026-11-27T19:00:00-05:00"
    assert plan["timezone"] == "America/New_York"
    assert [(s["step_id"], s["due_at_local"]) for s in plan["steps"]] == [
        ("avoid", "2026-11-27T15:00:00-05:00"),
        ("all_clear", "2026-11-27T19:00:00-05:00"),
    ]
    assert plan["steps"][0]["body"].startswith("Harbor Skin Clinic: for the next 4 hours")
