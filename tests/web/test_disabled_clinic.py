"""A disabled clinic's front desk: the log form refuses to save, and says why."""

from __future__ import annotations

from reminders.bootstrap import App
from tests.api import TestClient
from tests.web.test_log_pages import form, treatments


def test_a_disabled_clinic_cannot_log_a_treatment_on_the_page(client: TestClient, app: App) -> None:
    values = form(client)
    app.clinic_admin.disable(app.clinic.slug, reason="moving premises", by="cli:test")

    answer = client.post("/treatments/new", data=values)

    assert answer.status_code == 409
    assert "is disabled (moving premises)" in answer.text
    assert treatments(app) == 0


def test_once_enabled_again_it_logs(client: TestClient, app: App) -> None:
    app.clinic_admin.disable(app.clinic.slug, reason="moving premises", by="cli:test")
    app.clinic_admin.enable(app.clinic.slug, by="cli:test")

    answer = client.post("/treatments/new", data=form(client))

    assert answer.status_code == 303
    assert treatments(app) == 1
