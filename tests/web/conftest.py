"""A signed-in test client on the web pages, over SQLite with the clock pinned at NOW
(Friday 27 November 2026, 14:00 in New York); a second clinic's staff for tenancy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from reminders.accounts import Accounts
from reminders.api.app import create_app
from reminders.bootstrap import App, build_app
from reminders.clock import FixedClock
from reminders.staff import StaffAccounts
from tests.api import TestClient
from tests.conftest import clinic_settings, make_settings

USERNAME = "ann@example.org"
OTHER = "bo@example.org"
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(tmp_path: Path, migrated_sqlite_url: str, clock: FixedClock) -> Iterator[App]:
    application = build_app(make_settings(tmp_path, migrated_sqlite_url), clock=clock)
    yield application
    application.close()


@pytest.fixture
def staff_accounts(app: App) -> StaffAccounts:
    return StaffAccounts(sessions=app.sessions, clock=app.clock, settings=app.settings.web)


def signed_in(app: App, username: str) -> TestClient:
    client = TestClient(create_app(app), follow_redirects=False)
    form = client.get("/sign-in")
    token = CSRF.search(form.text)
    assert token is not None
    done = client.post(
        "/sign-in",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert done.status_code == 303, done.text
    return client


def csrf(client: TestClient, path: str = "/today") -> str:
    """The session's CSRF token, as a page carries it."""
    found = CSRF.search(client.get(path).text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def client(app: App, staff_accounts: StaffAccounts) -> Iterator[TestClient]:
    """Signed in as Ann Lee at the app's clinic (Harbor Skin Clinic)."""
    staff_accounts.add(app.clinic.slug, USERNAME, display_name="Ann Lee", password=PASSWORD)
    with signed_in(app, USERNAME) as test_client:
        yield test_client


@pytest.fixture
def other_client(app: App, staff_accounts: StaffAccounts) -> Iterator[TestClient]:
    """Signed in as Bo at another clinic on the same database."""
    Accounts(sessions=app.sessions, clock=app.clock).add_clinic(
        clinic_settings(slug="b", name="B Clinic", phone="+13125550143", timezone="America/Chicago")
    )
    staff_accounts.add("b", OTHER, display_name="Bo", password=PASSWORD)
    with signed_in(app, OTHER) as test_client:
        yield test_client
