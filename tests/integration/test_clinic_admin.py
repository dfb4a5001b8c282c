"""Clinic changes as running processes see them: profile caches keyed by the row's version
see a change at once, even within one tick of the clock; the settings file's changes are
recorded at start-up."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from reminders.accounts import Accounts
from reminders.bootstrap import App, build_app
from reminders.clinics import ClinicProfiles
from reminders.clock import FixedClock
from reminders.db.models import Clinic
from tests.conftest import NOW, clinic_settings, make_settings


def add_b(app: App) -> int:
    accounts = Accounts(sessions=app.sessions, clock=app.clock)
    return accounts.add_clinic(clinic_settings(slug="b", name="B Clinic")).id


def row(app: App, clinic_id: int) -> Clinic:
    with app.sessions() as session:
        clinic = session.get(Clinic, clinic_id)
        assert clinic is not None
        return clinic


def test_the_services_profile_sees_a_change_made_at_the_same_instant(app: App) -> None:
    clinic_id = add_b(app)
    assert app.service.clinic_profile(clinic_id).name == "B Clinic"

    app.clinic_admin.update("b", {"name": "B Skin", "restriction": "6h"}, by="cli:test")

    profile = app.service.clinic_profile(clinic_id)
    assert profile.name == "B Skin"
    assert profile.restriction.total_seconds() == 6 * 3600


def test_a_workers_cache_keyed_by_the_claimed_version_sees_the_change(app: App) -> None:
    # The dispatcher keys its profiles by the clinic's updated_at read with each claim.
    clinic_id = add_b(app)
    profiles = ClinicProfiles()
    before = row(app, clinic_id)
    assert profiles.get(clinic_id, before.updated_at, lambda: before).name == "B Clinic"

    app.clinic_admin.update("b", {"timezone": "Europe/London"}, by="cli:test")
    after = row(app, clinic_id)

    assert after.updated_at > before.updated_at
    profile = profiles.get(clinic_id, after.updated_at, lambda: after)
    assert profile.timezone.key == "Europe/London"


def test_disable_and_enable_move_the_version_too(app: App) -> None:
    clinic_id = add_b(app)
    first = row(app, clinic_id).updated_at

    app.clinic_admin.disable("b", reason="closed", by="cli:test")
    disabled = row(app, clinic_id).updated_at
    app.clinic_admin.enable("b", by="cli:test")

    assert first < disabled < row(app, clinic_id).updated_at


def test_the_settings_file_changes_are_recorded_at_start_up(
    tmp_path: Path, database_url: str
) -> None:
    clock = FixedClock(NOW)
    first = build_app(make_settings(tmp_path, database_url), clock=clock)
    first.close()
    again = build_app(make_settings(tmp_path, database_url, name="Harbor Skin"), clock=clock)
    unchanged = build_app(make_settings(tmp_path, database_url, name="Harbor Skin"), clock=clock)
    try:
        records = again.clinic_admin.history("default")
        with unchanged.sessions() as session:
            names = session.scalars(select(Clinic.name)).all()
    finally:
        again.close()
        unchanged.close()

    assert [(r.field, r.old_value, r.new_value) for r in records] == [
        ("name", "Harbor Skin Clinic", "Harbor Skin")
    ]
    assert records[0].changed_by.startswith("config:")
    assert records[0].changed_by.endswith("clinic.toml")
    assert names == ["Harbor Skin"]
