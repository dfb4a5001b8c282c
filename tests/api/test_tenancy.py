"""A key sees only its own clinic: another clinic's ids answer as ids that do not exist."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from reminders.bootstrap import App
from tests.api import TestClient, as_read_back, treatment_body

MISSING_ID = 999_999


@pytest.fixture
def b_treatment(client_b: TestClient) -> dict[str, Any]:
    """A treatment of clinic B's, for a patient with the same phone as A's Jane Doe."""
    response = client_b.post(
        "/v1/treatments",
        json=treatment_body(patient={"name": "Bea B"}, performed_at="2026-11-27T13:00:00"),
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


REQUESTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/treatments/{id}", None),
    ("PATCH", "/v1/treatments/{id}", {"performed_at": "2026-11-27T12:00:00"}),
    ("POST", "/v1/treatments/{id}/cancel", None),
    ("POST", "/v1/treatments/{id}/cancel", {"reason": "not yours"}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    REQUESTS,
    ids=["get", "patch", "cancel", "cancel_with_reason"],
)
def test_another_clinics_treatment_is_404_like_a_missing_one(
    client_a: TestClient,
    b_treatment: dict[str, Any],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    missing = client_a.request(method, path.format(id=MISSING_ID), json=body)

    response = client_a.request(method, path.format(id=b_treatment["id"]), json=body)

    assert response.status_code == 404
    assert response.content == missing.content
    assert response.headers["content-type"] == missing.headers["content-type"]


@pytest.fixture
def b_reply(app: App, client_b: TestClient) -> int:
    """A flagged reply of clinic B's (its own row, though both clinics share the sender)."""
    app.reports.inbound_text(
        from_phone="+12125550199", to_sender="+12125550100", body="swelling", provider_id="SM1"
    )
    [reply] = client_b.get("/v1/replies").json()["items"]
    assert reply["body"] == "swelling"
    return int(reply["id"])


REPLY_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("/v1/replies/{id}/acknowledge", {"by": "Mallory"}),
    ("/v1/replies/{id}/confirm-opt-out", {"by": "Mallory"}),
]


@pytest.mark.parametrize(("path", "body"), REPLY_REQUESTS, ids=["acknowledge", "confirm_opt_out"])
def test_another_clinics_reply_is_404_like_a_missing_one_and_unchanged(
    client_a: TestClient, client_b: TestClient, b_reply: int, path: str, body: dict[str, Any]
) -> None:
    before = client_b.get("/v1/replies").json()
    missing = client_a.post(path.format(id=MISSING_ID), json=body)

    response = client_a.post(path.format(id=b_reply), json=body)

    assert response.status_code == 404
    assert response.content == missing.content
    assert client_b.get("/v1/replies").json() == before


def test_listing_replies_never_shows_another_clinics(
    client_a: TestClient, client_b: TestClient, b_reply: int
) -> None:
    mine = client_a.get("/v1/replies").json()["items"]
    assert b_reply not in [r["id"] for r in mine]
    assert [r["id"] for r in client_b.get("/v1/replies").json()["items"]] == [b_reply]


def test_other_clinics_data_is_unchanged_after_a_foreign_clinic_tries(
    client_a: TestClient,
    client_b: TestClient,
    b_treatment: dict[str, Any],
    row_counts: Callable[[], dict[str, int]],
) -> None:
    path = f"/v1/treatments/{b_treatment['id']}"
    before = client_b.get(path).json()
    counts = row_counts()

    client_a.get(path)
    client_a.patch(path, json={"performed_at": "2026-11-27T12:00:00"})
    client_a.post(f"{path}/cancel", json={"reason": "not yours"})
    client_a.post(f"{path}/email-instead", json={"email": "mallory@example.com"})

    assert client_b.get(path).json() == before
    assert before == as_read_back(b_treatment)
    assert row_counts() == counts


def test_listing_never_shows_another_clinics_treatments(
    client_a: TestClient, client_b: TestClient, b_treatment: dict[str, Any]
) -> None:
    mine = client_a.post("/v1/treatments", json=treatment_body()).json()

    everything = client_a.get("/v1/treatments", params={"limit": 100}).json()
    by_phone = client_a.get("/v1/treatments", params={"phone": "+12125550199"}).json()

    assert [t["id"] for t in everything["items"]] == [mine["id"]]
    assert [t["id"] for t in by_phone["items"]] == [mine["id"]]
    assert [t["id"] for t in client_b.get("/v1/treatments").json()["items"]] == [b_treatment["id"]]


def test_same_phone_in_two_clinics_makes_two_patients(
    client_a: TestClient, client_b: TestClient, b_treatment: dict[str, Any]
) -> None:
    mine = client_a.post("/v1/treatments", json=treatment_body(patient={"name": "Jane A"})).json()

    assert mine["patient"]["id"] != b_treatment["patient"]["id"]
    theirs = client_b.get(f"/v1/treatments/{b_treatment['id']}").json()
    assert theirs["patient"]["name"] == "Bea B"


def test_each_clinic_reads_naive_times_in_its_own_zone(
    client_a: TestClient, client_b: TestClient
) -> None:
    body = treatment_body(performed_at="2026-11-27T12:00:00")

    a = client_a.post("/v1/treatments", json=body).json()
    b = client_b.post("/v1/treatments", json=body).json()

    assert a["performed_at"] == "2026-11-27T17:00:00Z"
    assert b["performed_at"] == "2026-11-27T18:00:00Z"
    assert b["performed_at_local"] == "2026-11-27T12:00:00-06:00"


def test_the_audit_export_holds_only_the_callers_clinic(
    client_a: TestClient, client_b: TestClient, b_treatment: dict[str, Any]
) -> None:
    mine = client_a.post("/v1/treatments", json=treatment_body()).json()
    for client, treatment in ((client_a, mine), (client_b, b_treatment)):
        cancelled = client.post(f"/v1/treatments/{treatment['id']}/cancel", json=None)
        assert cancelled.status_code == 200, cancelled.text
    day = {"from": "2026-11-27", "to": "2026-11-27", "format": "jsonl"}

    theirs = [json.loads(line) for line in client_b.get("/v1/audit", params=day).text.splitlines()]
    ours = [json.loads(line) for line in client_a.get("/v1/audit", params=day).text.splitlines()]

    assert theirs
    assert ours
    assert {row["treatment_id"] for row in theirs} == {str(b_treatment["id"])}
    assert {row["treatment_id"] for row in ours} == {str(mine["id"])}
