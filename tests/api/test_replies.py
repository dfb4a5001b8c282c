"""/v1/replies: the staff inbox, flagged replies on top until acknowledged; confirming a
request in words to stop texts; and open flags in /v1/alerts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reminders.bootstrap import App
from tests.api import TestClient

PHONE = "+12125550199"


def reply(app: App, body: str, n: int) -> None:
    """The patient texts the clinic's (default) sender."""
    app.reports.inbound_text(
        from_phone=PHONE, to_sender="+12125550100", body=body, provider_id=f"SM{n:032d}"
    )


def test_flagged_replies_come_first_then_requests_to_stop_then_the_newest(
    app: App, client_a: TestClient, log_a: Callable[..., dict[str, Any]]
) -> None:
    treatment = log_a()
    for n, body in enumerate(
        ["thanks", "I have swelling", "please stop texting me", "I can't breathe", "ok"]
    ):
        reply(app, body, n)

    page = client_a.get("/v1/replies").json()

    assert [(r["body"], r["triage"], r["open"]) for r in page["items"]] == [
        ("I can't breathe", "emergency", True),
        ("I have swelling", "clinical", True),
        ("please stop texting me", "opt_out_request", True),
        ("ok", "ordinary", False),
        ("thanks", "ordinary", False),
    ]
    first = page["items"][0]
    assert (first["patient_name"], first["treatment_id"]) == ("Jane Doe", treatment["id"])
    assert (first["flags"], first["flag_labels"]) == (["trouble-breathing"], ["trouble breathing"])
    assert first["answer"].startswith("Harbor Skin Clinic: if this is an emergency, call 911")
    assert page["open_flagged"] == 2


def test_filters_flagged_and_open(app: App, client_a: TestClient) -> None:
    for n, body in enumerate(["thanks", "bruised", "unsubscribe me"]):
        reply(app, body, n)

    flagged = client_a.get("/v1/replies", params={"flagged": "true"}).json()["items"]
    waiting = client_a.get("/v1/replies", params={"open": "true"}).json()["items"]

    assert [r["body"] for r in flagged] == ["bruised"]
    assert [r["body"] for r in waiting] == ["bruised", "unsubscribe me"]


def test_an_acknowledged_flag_leaves_the_top_and_the_alerts(app: App, client_a: TestClient) -> None:
    reply(app, "thanks", 1)
    reply(app, "my eyelid is drooping", 2)
    [flagged] = client_a.get("/v1/alerts").json()["replies"]
    assert flagged["body"] == "my eyelid is drooping"

    response = client_a.post(f"/v1/replies/{flagged['id']}/acknowledge", json={"by": "Dr Lee"})
    again = client_a.post(f"/v1/replies/{flagged['id']}/acknowledge", json={"by": "Someone"})

    assert response.status_code == 200, response.text
    assert response.json()["acknowledged_by"] == "Dr Lee"
    assert again.json() == response.json()
    page = client_a.get("/v1/replies").json()
    assert [r["body"] for r in page["items"]] == ["my eyelid is drooping", "thanks"]
    assert page["open_flagged"] == 0
    assert client_a.get("/v1/alerts").json()["replies"] == []


def test_confirming_a_request_to_stop_opts_the_patient_out(
    app: App, client_a: TestClient, log_a: Callable[..., dict[str, Any]]
) -> None:
    treatment = log_a()
    reply(app, "no more texts please", 1)
    [request] = client_a.get("/v1/replies").json()["items"]

    response = client_a.post(
        f"/v1/replies/{request['id']}/confirm-opt-out", json={"by": "Front desk"}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["opt_out_confirmed_at"] is not None
    assert (body["acknowledged_by"], body["open"]) == ("Front desk", False)
    [alert] = client_a.get("/v1/alerts").json()["items"]
    assert alert["treatment_id"] == treatment["id"]
    assert "asked to stop texts; staff confirmed" in alert["detail"]


def test_acknowledging_needs_a_name(app: App, client_a: TestClient) -> None:
    reply(app, "swollen", 1)
    response = client_a.post("/v1/replies/1/acknowledge", json={"by": " "})
    assert response.status_code == 422
