"""Fixtures for the web page over FastAPI's test client, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI

from reminders.api.app import create_app
from reminders.bootstrap import App
from reminders.staff import StaffAccounts
from tests.api import TestClient

USERNAME = "ann@example.org"
PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(page: httpx.Response) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


@pytest.fixture
def staff_accounts(app: App) -> StaffAccounts:
    return StaffAccounts(sessions=app.sessions, clock=app.clock, settings=app.settings.web)


@pytest.fixture
def ann(staff_accounts: StaffAccounts) -> int:
    return staff_accounts.add("default", USERNAME, display_name="Ann Lee", password=PASSWORD)


@pytest.fixture
def api(app: App) -> FastAPI:
    return create_app(app)


@pytest.fixture
def client(api: FastAPI) -> Iterator[TestClient]:
    with TestClient(api, follow_redirects=False) as test_client:
        yield test_client


SignIn = Callable[..., httpx.Response]


@pytest.fixture
def sign_in(client: TestClient) -> SignIn:
    """Open the sign-in form and send it; returns the answer to the post."""

    def post(username: str = USERNAME, password: str = PASSWORD, **fields: str) -> httpx.Response:
        token = csrf_token(client.get("/sign-in"))
        data = {"username": username, "password": password, "csrf_token": token, **fields}
        return client.post("/sign-in", data=data)

    return post


@pytest.fixture
def signed_in(client: TestClient, sign_in: SignIn, ann: int) -> TestClient:
    assert sign_in().status_code == 303
    return client
