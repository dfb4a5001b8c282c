"""The day's page through a test client: its lists, and acknowledging an alert."""

from __future__ import annotations

from reminders.bootstrap import App
from tests.api import TestClient
from tests.support import RecordingChannel, dispatcher
from tests.web.conftest import csrf
from tests.web.test_treatment_pages import logged


def stop_texts(app: App) -> None:
    app.reports.inbound_text(
        from_phone="+12125550199", to_sender="+12125550100", body="STOP", provider_id="SM1"
    )


def test_the_lists_alone_are_served_for_the_pages_refresh(client: TestClient) -> None:
    treatment_id = logged(client)
    lists = client.get("/today/lists")
    assert lists.status_code == 200
    assert "<html" not in lists.text
    assert f'<a href="/treatments/{treatment_id}">Jane Doe</a>' in lists.text
    assert "until 2026-11-27 18:00 EST" in lists.text
    assert "<td>2026-11-27 18:00 EST</td>" in lists.text  # the all-clear, due next


def test_an_alert_is_acknowledged_in_the_signed_in_persons_name(
    client: TestClient, app: App
) -> None:
    treatment_id = logged(client)
    dispatcher(app, RecordingChannel()).dispatch_due()
    stop_texts(app)
    assert "the patient opted out of texts (STOP)" in client.get("/today").text
    [alert] = app.service.needs_call(app.clinic.id)
    done = client.post(f"/alerts/{alert.id}/acknowledge", data={"csrf_token": csrf(client)})
    assert (done.status_code, done.headers["location"]) == (303, "/today")
    assert app.service.needs_call(app.clinic.id) == []
    [acknowledged] = app.service.treatment(app.clinic.id, treatment_id).alerts
    assert acknowledged.acknowledged_by == "Ann Lee"


def test_acknowledging_needs_the_pages_token_and_the_clinics_own_alert(
    client: TestClient, other_client: TestClient, app: App
) -> None:
    logged(client)
    dispatcher(app, RecordingChannel()).dispatch_due()
    stop_texts(app)
    [alert] = app.service.needs_call(app.clinic.id)
    assert client.post(f"/alerts/{alert.id}/acknowledge").status_code == 403
    foreign = other_client.post(
        f"/alerts/{alert.id}/acknowledge", data={"csrf_token": csrf(other_client)}
    )
    assert foreign.status_code == 404
    assert [a.id for a in app.service.needs_call(app.clinic.id)] == [alert.id]
