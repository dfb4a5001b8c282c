"""The SMS budget's alert over the API: listed with the patients to call, acknowledged the
same way; a held text's history says why it waits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reminders.bootstrap import App
from reminders.db import usage
from tests.api import TestClient
from tests.support import RecordingChannel, dispatcher


def test_texts_held_over_the_budget_are_an_alert_staff_acknowledge(
    app: App, client_a: TestClient, log_a: Callable[..., dict[str, Any]]
) -> None:
    app.service.sync_clinic(app.settings.clinic.model_copy(update={"sms_monthly_segments": 50}))
    with app.sessions.begin() as session:
        usage.add_segments(
            session, clinic_id=app.clinic.id, month="2026-11", segments=50, now=app.clock.now()
        )
    treatment = log_a()
    channel = RecordingChannel()
    dispatcher(app, channel).dispatch_due()
    assert channel.sent == []

    [alert] = client_a.get("/v1/alerts").json()["items"]
    assert alert["kind"] == "sms_budget"
    assert alert["treatment_id"] is None
    assert alert["detail"].startswith(
        "SMS budget used up (50 of 50 segments used in 2026-11): 1 text(s) held"
    )
    shown = client_a.get(f"/v1/treatments/{treatment['id']}").json()
    [avoid] = [m for m in shown["messages"] if m["step_id"] == "avoid"]
    assert avoid["state"] == "pending"
    held = [e for e in avoid["events"] if e["kind"] == "held"]
    assert len(held) == 1
    assert "over the clinic's SMS budget" in held[0]["detail"]

    done = client_a.post(f"/v1/alerts/{alert['id']}/acknowledge", json={"by": "Front desk"})
    assert done.status_code == 200, done.text
    assert client_a.get("/v1/alerts").json()["items"] == []
