"""Alerts over the API: patients the service can no longer reach, listed until acknowledged;
channels waiting on the deployment's settings; the text as sent beside the planned one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from reminders.bootstrap import App
from reminders.clock import FixedClock
from reminders.db import repo
from reminders.db.models import Message
from reminders.inbound import ProviderReports
from tests.api import TestClient
from tests.support import RecordingChannel, dispatcher

PHONE = "+12125550199"


def stop_texts(app: App) -> None:
    ProviderReports(
        sessions=app.sessions, clock=app.clock, reroutes=app.reroutes, triage=app.triage
    ).inbound_text(from_phone=PHONE, to_sender="+12125550100", body="STOP", provider_id="SM1")


def test_a_patient_the_service_cannot_reach_is_listed_until_acknowledged(
    app: App, client_a: TestClient, log_a: Callable[..., dict[str, Any]]
) -> None:
    treatment = log_a()
    assert client_a.get("/v1/alerts").json() == {
        "items": [],
        "replies": [],
        "channels_waiting": [],
    }
    stop_texts(app)

    [alert] = client_a.get("/v1/alerts").json()["items"]
    assert alert["kind"] == "needs_call"
    assert alert["treatment_id"] == treatment["id"]
    assert alert["acknowledged_at"] is None
    assert "the patient opted out of texts (STOP)" in alert["detail"]
    assert "no email address on record" in alert["detail"]
    assert "avoid (due 2026-11-27 14:00 EST)" in alert["detail"]
    assert "all_clear (due 2026-11-27 18:00 EST)" in alert["detail"]
    shown = client_a.get(f"/v1/treatments/{treatment['id']}").json()
    assert [a["id"] for a in shown["alerts"]] == [alert["id"]]

    done = client_a.post(f"/v1/alerts/{alert['id']}/acknowledge", json={"by": "Front desk"})
    assert done.status_code == 200, done.text
    assert done.json()["acknowledged_by"] == "Front desk"
    assert client_a.get("/v1/alerts").json()["items"] == []
    again = client_a.post(f"/v1/alerts/{alert['id']}/acknowledge", json={"by": "Someone else"})
    assert again.json()["acknowledged_by"] == "Front desk"  # the first acknowledgement stands
    shown = client_a.get(f"/v1/treatments/{treatment['id']}").json()
    assert shown["alerts"][0]["acknowledged_at"] is not None


def test_another_clinics_alert_is_404_and_unlisted(
    app: App,
    client_a: TestClient,
    client_b: TestClient,
    log_a: Callable[..., dict[str, Any]],
) -> None:
    log_a()
    stop_texts(app)
    [alert] = client_a.get("/v1/alerts").json()["items"]
    assert client_b.get("/v1/alerts").json()["items"] == []
    foreign = client_b.post(f"/v1/alerts/{alert['id']}/acknowledge", json={"by": "B desk"})
    missing = client_b.post("/v1/alerts/999999/acknowledge", json={"by": "B desk"})
    assert (foreign.status_code, foreign.content) == (missing.status_code, missing.content)
    assert foreign.status_code == 404
    assert client_a.get("/v1/alerts").json()["items"][0]["acknowledged_at"] is None


def test_acknowledging_needs_a_name(
    app: App, client_a: TestClient, log_a: Callable[..., dict[str, Any]]
) -> None:
    log_a()
    stop_texts(app)
    [alert] = client_a.get("/v1/alerts").json()["items"]
    for body in ({}, {"by": ""}, {"by": "   "}, {"by": "x" * 81}):
        response = client_a.post(f"/v1/alerts/{alert['id']}/acknowledge", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"][-1] == "by"
    assert client_a.get("/v1/alerts").json()["items"][0]["acknowledged_at"] is None


def test_a_channel_waiting_on_its_settings_is_listed(app: App, client_a: TestClient) -> None:
    with app.sessions.begin() as session:
        repo.set_channel_problem(
            session,
            channel="email",
            problem="SMTP 535: login refused: waiting for the email settings to be fixed",
            now=app.clock.now(),
            retry_at=None,
        )
    [waiting] = client_a.get("/v1/alerts").json()["channels_waiting"]
    assert waiting["channel"] == "email"
    assert waiting["problem"].startswith("SMTP 535: login refused")


def test_a_message_sent_late_shows_the_text_as_sent_beside_the_planned_one(
    app: App, clock: FixedClock, client_a: TestClient, log_a: Callable[..., dict[str, Any]]
) -> None:
    treatment = log_a()
    clock.advance(timedelta(hours=3, minutes=30))  # the worker was down until now
    dispatcher(app, RecordingChannel()).dispatch_due()
    [avoid] = [
        m
        for m in client_a.get(f"/v1/treatments/{treatment['id']}").json()["messages"]
        if m["step_id"] == "avoid"
    ]
    assert avoid["state"] == "sent"
    assert "for the next 4 hours (until 6:00 PM)" in avoid["body"]
    assert "for the next 30 minutes (until 6:00 PM)" in avoid["sent_body"]
    assert avoid["events"][-1]["kind"] == "sent"
    assert "written anew" in avoid["events"][-1]["detail"]
    with app.sessions() as session:
        stored = session.scalars(sa.select(Message).where(Message.id == avoid["id"])).one()
    assert stored.sent_body == avoid["sent_body"]
