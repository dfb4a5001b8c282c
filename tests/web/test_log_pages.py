"""The log form and its preview through a test client, the clock pinned at 14:00 EST."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from reminders.bootstrap import App
from reminders.db.models import Treatment
from tests.api import TestClient
from tests.web.conftest import csrf


def form(client: TestClient, **overrides: str) -> dict[str, Any]:
    values = {
        "csrf_token": csrf(client, "/treatments/new"),
        "name": "Jane Doe",
        "phone": "+12125550199",
        "sms_consent": "yes",
        "treatment_type": "botox",
        "performed_at": "2026-11-27T14:00",
    }
    values.update(overrides)
    return values


def treatments(app: App) -> int:
    with app.sessions() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Treatment)) or 0


def test_the_form_defaults_to_now_in_the_clinics_zone(client: TestClient) -> None:
    page = client.get("/treatments/new")
    assert page.status_code == 200
    assert 'name="performed_at" type="datetime-local" value="2026-11-27T14:00"' in page.text
    assert '<option value="botox" selected>Botulinum toxin injections</option>' in page.text


def test_the_preview_gives_times_in_the_clinics_zone_and_what_quiet_hours_hold(
    client: TestClient, app: App
) -> None:
    answer = client.post("/treatments/preview", data=form(client, performed_at="2026-11-27T17:00"))
    assert answer.status_code == 200
    assert "<span>2026-11-27 17:00 EST</span>" in answer.text  # the first text, at once
    # The all-clear falls at 21:00, inside quiet hours: held to the morning, and said why.
    assert "<span>2026-11-28 08:00 EST</span>" in answer.text
    assert "held from 9:00 PM to 8:00 AM by quiet hours 21:00-08:00" in answer.text
    assert "your aftercare window has ended" in answer.text
    assert treatments(app) == 0


def test_a_step_that_will_not_be_sent_is_shown_with_why(client: TestClient) -> None:
    # Logged after its restriction ended: nothing left to avoid, nothing to send.
    answer = client.post("/treatments/preview", data=form(client, performed_at="2026-11-27T08:00"))
    assert "step--skipped" in answer.text
    assert "Not sent: " in answer.text


def test_the_preview_names_the_field_to_change(client: TestClient) -> None:
    answer = client.post(
        "/treatments/preview", data=form(client, restriction="3d", restriction_reason="asked")
    )
    assert answer.status_code == 200
    assert '<a href="#restriction">Restriction length: 3d is outside what' in answer.text


def test_the_preview_needs_the_pages_token(client: TestClient) -> None:
    answer = client.post("/treatments/preview", data=form(client, csrf_token="forged"))
    assert answer.status_code == 403


def test_saving_goes_to_the_treatments_page(client: TestClient, app: App) -> None:
    answer = client.post("/treatments/new", data=form(client))
    assert answer.status_code == 303
    assert answer.headers["location"] == "/treatments/1"
    assert treatments(app) == 1
    # The audit export names who logged it: the signed-in person.
    assert app.service.treatment(app.clinic.id, 1).logged_by == "web:ann@example.org"


def test_a_problem_is_shown_at_its_field_and_nothing_is_stored(
    client: TestClient, app: App
) -> None:
    cases = {
        "email": ("email", "not-an-address"),
        "performed_at": ("performed_at", "2026-11-20T14:00"),
        "restriction_reason": ("restriction", "6h"),
        "sms_consent": ("preferred_channel", "sms"),
    }
    for shown_at, (name, value) in cases.items():
        values = form(client, **{name: value})
        if shown_at == "sms_consent":
            values.pop("sms_consent")
            values["email"] = ""
        answer = client.post("/treatments/new", data=values)
        assert answer.status_code == 422, shown_at
        assert f'id="{shown_at}-error"' in answer.text, shown_at
        assert f'aria-describedby="{shown_at}-error"' in answer.text or (
            f'{shown_at}-hint {shown_at}-error"' in answer.text
        ), shown_at
    assert treatments(app) == 0
