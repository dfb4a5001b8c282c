"""The admin API: clinics listed, shown, changed, disabled and enabled with an admin key;
a clinic's key refused there, and a disabled clinic's keys refused everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from reminders.accounts import Accounts, NewKey
from reminders.bootstrap import App
from reminders.db.models import Message
from tests.api import TestClient, bearer, treatment_body
from tests.api.conftest import B_SLUG

CLINICS = "/v1/admin/clinics"
B = f"{CLINICS}/{B_SLUG}"


@pytest.fixture
def admin_key(accounts: Accounts) -> NewKey:
    return accounts.create_admin_key(label="ops")


@pytest.fixture
def admin(api: FastAPI, admin_key: NewKey, clinic_b: int) -> Iterator[TestClient]:
    with TestClient(api, headers=bearer(admin_key.key)) as test_client:
        yield test_client


def changes(admin: TestClient) -> list[dict[str, Any]]:
    response = admin.get(f"{B}/changes")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", CLINICS),
        ("GET", B),
        ("PATCH", B),
        ("POST", f"{B}/disable"),
        ("POST", f"{B}/enable"),
        ("GET", f"{B}/changes"),
    ],
)
def test_a_clinic_key_is_forbidden_and_no_key_unauthorised(
    client: TestClient, client_b: TestClient, method: str, path: str
) -> None:
    with_clinic_key = client_b.request(method, path, json={"reason": "x"})
    without_key = client.request(method, path, json={"reason": "x"})

    assert with_clinic_key.status_code == 403, with_clinic_key.text
    assert "admin key" in with_clinic_key.json()["detail"]
    assert without_key.status_code == 401


def test_an_admin_key_lists_and_shows_clinics(admin: TestClient) -> None:
    listed = admin.get(CLINICS)
    shown = admin.get(B)

    assert listed.status_code == 200, listed.text
    assert [c["slug"] for c in listed.json()["items"]] == ["b", "default"]
    assert shown.status_code == 200
    body = shown.json()
    assert (body["name"], body["timezone"], body["restriction"]) == (
        "B Clinic",
        "America/Chicago",
        "6h",
    )
    assert (body["status"], body["api_keys"], body["staff"]) == ("active", 0, 0)
    assert admin.get(f"{CLINICS}/nowhere").status_code == 404


def test_an_admin_key_cannot_log_treatments(admin: TestClient) -> None:
    response = admin.post("/v1/treatments", json=treatment_body())

    assert response.status_code == 403
    assert "acts for none" in response.json()["detail"]


def test_patch_changes_settings_and_records_the_admin_key(admin: TestClient) -> None:
    response = admin.patch(B, json={"name": "B Skin", "quiet_hours": None})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["clinic"]["name"], body["clinic"]["quiet_hours"]) == ("B Skin", None)
    assert body["note"] is not None  # quiet hours shape plans: existing ones are kept
    assert [(c["field"], c["changed_by"]) for c in changes(admin)] == [
        ("name", "admin-key:ops"),
        ("quiet_hours", "admin-key:ops"),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"phone": "12"}, "phone"),
        ({"restriction": "45m"}, "restriction"),
        ({"on_call_email": "nobody"}, "on_call_email"),
        ({"name": None}, "name"),
        ({"slug": "c"}, "slug"),
    ],
)
def test_patch_refuses_a_bad_value_at_its_field_and_changes_nothing(
    admin: TestClient, body: dict[str, Any], field: str
) -> None:
    before = admin.get(B).json()

    response = admin.patch(B, json={"name": "B Skin", **body})

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert admin.get(B).json() == before
    assert changes(admin) == []


def test_patch_dry_run_changes_nothing(admin: TestClient) -> None:
    before = admin.get(B).json()

    response = admin.patch(f"{B}?dry_run=true", json={"restriction": "8h"})

    assert response.status_code == 200, response.text
    assert response.json()["changes"] == [{"field": "restriction", "old": "6h", "new": "8h"}]
    assert admin.get(B).json() == before


def test_the_settings_files_clinic_is_not_changed_here(admin: TestClient) -> None:
    response = admin.patch(f"{CLINICS}/default", json={"name": "Elsewhere"})

    assert response.status_code == 409
    assert "settings file" in response.json()["detail"]


def test_a_disabled_clinics_keys_are_refused_and_its_messages_still_go(
    admin: TestClient, client_b: TestClient, app: App
) -> None:
    logged = client_b.post("/v1/treatments", json=treatment_body())
    assert logged.status_code == 201, logged.text

    disabled = admin.post(f"{B}/disable", json={"reason": "closed"})
    refused = client_b.post("/v1/treatments", json=treatment_body())
    read = client_b.get(f"/v1/treatments/{logged.json()['id']}")

    assert disabled.status_code == 200, disabled.text
    assert (disabled.json()["clinic"]["status"], disabled.json()["cancelled"]) == ("disabled", 0)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "clinic 'b' is disabled: its API keys are refused"
    assert read.status_code == 403
    assert "pending" in message_states(app)
    assert admin.post(f"{B}/disable", json={"reason": "again"}).status_code == 409


def test_disable_with_cancel_pending_and_enable_again(
    admin: TestClient, client_b: TestClient, app: App
) -> None:
    assert client_b.post("/v1/treatments", json=treatment_body()).status_code == 201

    disabled = admin.post(f"{B}/disable", json={"reason": "closed", "cancel_pending": True})
    enabled = admin.post(f"{B}/enable")

    assert disabled.json()["cancelled"] >= 1
    assert "pending" not in message_states(app)
    assert enabled.status_code == 200
    assert enabled.json()["status"] == "active"
    assert client_b.post("/v1/treatments", json=treatment_body()).status_code == 201
    assert [c["field"] for c in changes(admin)] == [
        "disabled_at",
        "disabled_reason",
        "disabled_at",
        "disabled_reason",
    ]


def test_admin_routes_are_tagged_in_the_api_docs(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()

    assert "admin" in [tag["name"] for tag in schema["tags"]]
    assert schema["paths"][f"{CLINICS}/{{slug}}"]["patch"]["tags"] == ["admin"]


def message_states(app: App) -> set[str]:
    with app.sessions() as session:
        return {message.state for message in session.query(Message)}
