"""Fixtures for the HTTP API: a client per clinic (A: the app's own, B: a second one).

Every test here runs on SQLite and on PostgreSQL through the shared `app` fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from reminders.accounts import Accounts, NewKey
from reminders.api.app import create_app
from reminders.bootstrap import App
from tests.api import TestClient, bearer, treatment_body
from tests.conftest import clinic_settings

B_SLUG = "b"


@pytest.fixture
def accounts(app: App) -> Accounts:
    return Accounts(sessions=app.sessions, clock=app.clock)


@pytest.fixture
def key_a(accounts: Accounts, app: App) -> NewKey:
    return accounts.create_key(app.clinic.slug, label="clinic A")


@pytest.fixture
def clinic_b(accounts: Accounts) -> int:
    """A second clinic on the same database, in another zone, with a 6 h restriction."""
    clinic = accounts.add_clinic(
        clinic_settings(
            slug=B_SLUG,
            name="B Clinic",
            phone="+13125550143",
            timezone="America/Chicago",
            restriction="6h",
        )
    )
    return clinic.id


@pytest.fixture
def key_b(accounts: Accounts, clinic_b: int) -> NewKey:
    return accounts.create_key(B_SLUG, label="clinic B")


@pytest.fixture
def api(app: App) -> FastAPI:
    return create_app(app)


@pytest.fixture
def client(api: FastAPI) -> Iterator[TestClient]:
    """No credentials: for health, docs and authentication tests."""
    with TestClient(api) as test_client:
        yield test_client


@pytest.fixture
def client_a(api: FastAPI, key_a: NewKey) -> Iterator[TestClient]:
    with TestClient(api, headers=bearer(key_a.key)) as test_client:
        yield test_client


@pytest.fixture
def client_b(api: FastAPI, key_b: NewKey) -> Iterator[TestClient]:
    with TestClient(api, headers=bearer(key_b.key)) as test_client:
        yield test_client


@pytest.fixture
def log_a(client_a: TestClient) -> Callable[..., dict[str, Any]]:
    """POST a treatment as clinic A, expecting 201; returns the body."""

    def post(**overrides: Any) -> dict[str, Any]:
        response = client_a.post("/v1/treatments", json=treatment_body(**overrides))
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    return post
