"""Policies, plan previews, health checks and the published API description."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.api import TestClient, treatment_body

# -- GET /v1/policies ----------------------------------------------------------------------


def botox(client: TestClient) -> dict[str, Any]:
    response = client.get("/v1/policies")
    assert response.status_code == 200
    policies = {p["treatment"]: p for p in response.json()}
    return policies["botox"]


def test_policies_list_botox_with_this_clinics_restriction(client_a: TestClient) -> None:
    policy = botox(client_a)

    assert policy["title"] == "Botulinum toxin injections"
    assert policy["restriction"] == "4h"
    assert policy["version"].startswith("botox@")


def test_policies_give_the_steps_and_their_texts(client_a: TestClient) -> None:
    steps = {s["id"]: s for s in botox(client_a)["steps"]}

    assert list(steps) == [
        "avoid",
        "window_end",
        "all_clear",
        "correction",
        "correction_looser",
        "correction_ended",
        "withdrawal",
    ]
    assert [s["when"] for s in steps.values()] == [
        "planned",
        "planned",
        "planned",
        "tightened",
        "loosened",
        "ended",
        "withdrawn",
    ]
    assert steps["avoid"]["offset"] == "0m"
    assert steps["avoid"]["expires"] == "restriction_end"
    assert steps["avoid"]["may_wait"] is False
    assert steps["window_end"]["offset"] == "window_end"
    assert steps["all_clear"]["offset"] == "restriction_end"
    assert steps["all_clear"]["not_before_restriction_end"] is True
    assert steps["all_clear"]["may_wait"] is True
    assert "{clinic_name}" in steps["avoid"]["sms"]
    assert steps["all_clear"]["email_subject"] == "Your aftercare window has ended"


def test_policies_give_each_window_its_length_and_the_supported_restrictions(
    client_a: TestClient,
) -> None:
    policy = botox(client_a)
    windows = {w["id"]: w for w in policy["windows"]}
    assert {name: w["length"] for name, w in windows.items()} == {
        "exertion": "restriction",
        "posture": "4h",
    }
    assert windows["posture"]["avoid"] == ["lying flat", "bending over"]
    assert all(i["citations"] for w in windows.values() for i in w["instructions"])
    supported = policy["supported_restrictions"]
    assert (supported["shortest"], supported["longest"]) == ("4h", "1d")
    assert {c["clinician"] for c in supported["citations"]} >= {
        "Sydney Plastic Surgeon",
        "Redondo Beach Dermatologic Surgeon",
    }


def test_policies_cite_the_answers_each_instruction_rests_on(client_a: TestClient) -> None:
    exertion = botox(client_a)["windows"][0]

    citations = [c for i in exertion["instructions"] for c in i["citations"]]
    assert all(i["says"] and i["citations"] for i in exertion["instructions"])
    assert all(c["heading"] and c["clinician"] for c in citations)
    assert {
        "heading": "Exercise after Botox",
        "clinician": "Beverly Hills Facial Plastic Surgeon",
        "quote": "The manufacturer recommends no exercise or lying flat for four hours",
    } in citations


def test_policies_show_the_calling_clinics_own_restriction(
    client_a: TestClient, client_b: TestClient
) -> None:
    assert botox(client_b)["restriction"] == "6h"
    assert botox(client_a)["restriction"] == "4h"


# -- POST /v1/preview ----------------------------------------------------------------------


def test_preview_of_a_night_before_dst_treatment_gives_the_plan(client_a: TestClient) -> None:
    # 00:30 EST on the day clocks go forward: 4 h later is 05:30 EDT, not 04:30.
    response = client_a.post(
        "/v1/preview", json={"treatment_type": "botox", "performed_at": "2026-03-08T00:30:00"}
    )

    assert response.status_code == 200
    plan = response.json()
    assert plan["treatment_at"] == "2026-03-08T05:30:00Z"
    assert plan["restriction_end"] == "2026-03-08T09:30:00Z"
    assert plan["restriction_end_local"] == "2026-03-08T05:30:00-04:00"
    assert plan["timezone"] == "America/New_York"
    steps = {s["step_id"]: s for s in plan["steps"]}
    assert steps["avoid"]["due_at_local"] == "2026-03-08T00:30:00-05:00"
    all_clear = steps["all_clear"]
    assert all_clear["natural_at"] == "2026-03-08T09:30:00Z"
    assert all_clear["due_at"] == "2026-03-08T12:00:00Z"
    assert all_clear["due_at_local"] == "2026-03-08T08:00:00-04:00"
    assert "quiet hours" in all_clear["note"]
    assert all(s["skip_reason"] is None for s in plan["steps"])


def test_preview_stores_nothing(
    client_a: TestClient, row_counts: Callable[[], dict[str, int]]
) -> None:
    logged = client_a.post("/v1/treatments", json=treatment_body())
    assert logged.status_code == 201
    before = row_counts()

    response = client_a.post(
        "/v1/preview", json={"treatment_type": "botox", "performed_at": "2026-03-08T00:30:00"}
    )

    assert response.status_code == 200
    assert row_counts() == before


def test_preview_by_email_gives_subjects(client_a: TestClient) -> None:
    plan = client_a.post("/v1/preview", json={"treatment_type": "botox", "channel": "email"}).json()

    assert {s["channel"] for s in plan["steps"]} == {"email"}
    assert all(s["subject"] for s in plan["steps"])


def test_preview_of_a_late_log_gives_the_skip_reason(client_a: TestClient) -> None:
    plan = client_a.post(
        "/v1/preview",
        json={
            "treatment_type": "botox",
            "performed_at": "2026-11-27T08:00:00",
            "logged_at": "2026-11-27T14:00:00",
        },
    ).json()

    avoid = next(s for s in plan["steps"] if s["step_id"] == "avoid")
    assert avoid["skip_reason"].startswith("expired")


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"treatment_type": "filler"}, ["body", "treatment_type"]),
        ({"treatment_type": "botox", "timezone": "Nowhere/City"}, ["body", "timezone"]),
        (
            {"treatment_type": "botox", "performed_at": "2026-03-08T02:30:00"},
            ["body", "performed_at"],
        ),
        ({"treatment_type": "botox", "patient": {}}, ["body", "patient"]),
    ],
    ids=["unknown_treatment", "unknown_zone", "nonexistent_local_time", "unknown_field"],
)
def test_preview_with_bad_input_is_422(
    client_a: TestClient, body: dict[str, Any], loc: list[str]
) -> None:
    response = client_a.post("/v1/preview", json=body)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


# -- health and docs -----------------------------------------------------------------------


def test_healthz_is_200_without_a_key(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_ready_on_a_migrated_database(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_openapi_document_is_served(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "reminders"
    assert "HTTPBearer" in document["components"]["securitySchemes"]


TREATMENT_ROUTES = [
    ("/v1/treatments", "post", {"401", "409", "422", "429"}),
    ("/v1/treatments", "get", {"401", "422", "429"}),
    ("/v1/treatments/{treatment_id}", "get", {"401", "404", "422", "429"}),
    ("/v1/treatments/{treatment_id}", "patch", {"401", "404", "422", "429"}),
    ("/v1/treatments/{treatment_id}/cancel", "post", {"401", "404", "422", "429"}),
]


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    TREATMENT_ROUTES,
    ids=[f"{method} {path}" for path, method, _ in TREATMENT_ROUTES],
)
def test_openapi_documents_the_error_responses_of_treatment_routes(
    client: TestClient, path: str, method: str, statuses: set[str]
) -> None:
    operation = client.get("/openapi.json").json()["paths"][path][method]

    assert statuses <= set(operation["responses"])
    assert operation["security"] == [{"HTTPBearer": []}]


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text
