"""The web page's answers: CSRF refusals, security headers, error pages (never JSON, never
details), tenancy through the treatment page, and the API left as it was."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from reminders.accounts import Accounts
from reminders.api.app import create_app
from reminders.bootstrap import App, build_app
from reminders.clock import FixedClock
from reminders.settings import Settings, WebSettings
from reminders.staff import StaffAccounts
from reminders.web.auth import CsrfDep
from reminders.web.routing import web_router
from tests.api import TestClient
from tests.conftest import clinic_settings
from tests.support import log
from tests.web_sessions.conftest import PASSWORD, SignIn, csrf_token

PRIVATE = "patient Jane Doe +12125550199"  # what a failure's text may quote
PAGE_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def assert_page_headers(headers: httpx.Headers) -> None:
    for name, value in PAGE_HEADERS.items():
        assert headers.get(name) == value, name
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy


# -- CSRF --------------------------------------------------------------------------------


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    signed_in: TestClient,
) -> None:
    refused = signed_in.post("/sign-out", data={})
    assert refused.status_code == 403
    assert "This form has expired" in refused.text
    assert_page_headers(refused.headers)
    assert signed_in.get("/today").status_code == 200


@pytest.mark.parametrize("token", ["guessed", "", "é" * 43])
def test_a_post_with_a_wrong_csrf_token_is_refused(signed_in: TestClient, token: str) -> None:
    assert signed_in.post("/sign-out", data={"csrf_token": token}).status_code == 403
    assert signed_in.get("/today").status_code == 200


def test_the_csrf_token_may_come_as_a_header_as_htmx_sends_it(signed_in: TestClient) -> None:
    token = csrf_token(signed_in.get("/today"))
    answer = signed_in.post("/sign-out", headers={"X-CSRF-Token": token})
    assert answer.status_code == 303


def test_the_page_gives_htmx_the_csrf_token_as_a_header(signed_in: TestClient) -> None:
    page = signed_in.get("/today")
    assert f'hx-headers=\'{{"X-CSRF-Token": "{csrf_token(page)}"}}\'' in page.text


def test_another_sessions_csrf_token_is_refused(
    api: FastAPI, signed_in: TestClient, staff_accounts: StaffAccounts
) -> None:
    staff_accounts.add("default", "bob", display_name="Bob", password=PASSWORD)
    with TestClient(api, follow_redirects=False) as other:
        form = other.get("/sign-in")
        data = {"username": "bob", "password": PASSWORD, "csrf_token": csrf_token(form)}
        assert other.post("/sign-in", data=data).status_code == 303
        bobs_token = csrf_token(other.get("/today"))
    assert signed_in.post("/sign-out", data={"csrf_token": bobs_token}).status_code == 403


def test_a_sign_in_post_without_the_forms_token_is_refused(
    client: TestClient, sign_in: SignIn, ann: int
) -> None:
    client.get("/sign-in")
    data = {"username": "ann@example.org", "password": PASSWORD}
    refused = client.post("/sign-in", data=data)
    assert refused.status_code == 403
    assert "The sign-in form expired" in refused.text


def test_a_sign_in_post_from_another_site_without_the_cookie_is_refused(
    api: FastAPI, client: TestClient, ann: int
) -> None:
    token = csrf_token(client.get("/sign-in"))
    with TestClient(api, follow_redirects=False) as elsewhere:
        data = {"username": "ann@example.org", "password": PASSWORD, "csrf_token": token}
        assert elsewhere.post("/sign-in", data=data).status_code == 403


def test_a_stale_sign_in_form_is_refused_and_offered_again(
    client: TestClient, clock: FixedClock, ann: int
) -> None:
    from reminders.staff import FORM_SESSION_LIFETIME

    token = csrf_token(client.get("/sign-in"))
    clock.advance(FORM_SESSION_LIFETIME)
    data = {"username": "ann@example.org", "password": PASSWORD, "csrf_token": token}
    refused = client.post("/sign-in", data=data)
    assert refused.status_code == 403
    retry = {**data, "csrf_token": csrf_token(refused)}
    assert client.post("/sign-in", data=retry).status_code == 303


# -- headers and errors ------------------------------------------------------------------


def test_pages_and_redirects_carry_the_security_headers(
    client: TestClient, signed_in: TestClient
) -> None:
    assert_page_headers(signed_in.get("/today").headers)
    assert_page_headers(signed_in.get("/").headers)
    signed_in.cookies.clear()
    assert_page_headers(signed_in.get("/sign-in").headers)
    assert_page_headers(signed_in.get("/today").headers)


def test_static_files_are_served_with_nosniff(client: TestClient) -> None:
    for name, kind in [("web.css", "text/css"), ("htmx.min.js", "javascript")]:
        answer = client.get(f"/static/web/{name}")
        assert answer.status_code == 200
        assert kind in answer.headers["content-type"]
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_an_htmx_request_without_a_session_is_told_where_to_sign_in(client: TestClient) -> None:
    answer = client.get("/today", headers={"HX-Request": "true"})
    assert answer.status_code == 401
    assert answer.headers["HX-Redirect"] == "/sign-in"


def test_what_a_person_typed_is_escaped_on_the_page(sign_in: SignIn, ann: int) -> None:
    answer = sign_in(username='<script>alert("x")</script>', password="not the password")
    assert "<script>alert" not in answer.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in answer.text


def test_the_web_routes_are_not_in_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/treatments" in paths
    assert not {"/", "/today", "/sign-in", "/sign-out"} & set(paths)


def test_the_api_still_answers_json_errors(client: TestClient) -> None:
    answer = client.get("/v1/treatments/1")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/json"


def test_with_the_web_page_turned_off_there_are_no_pages(
    settings: Settings, clock: FixedClock
) -> None:
    settings = settings.model_copy(update={"web": WebSettings(enabled=False)})
    application = build_app(settings, clock=clock)
    try:
        with TestClient(create_app(application)) as client:
            assert client.get("/sign-in").status_code == 404
            assert client.get("/static/web/web.css").status_code == 404
    finally:
        application.close()


# -- tenancy and error pages -------------------------------------------------------------


@pytest.fixture
def treatment_page(api: FastAPI) -> FastAPI:
    """The pages, and one that fails: for the error pages."""
    router = web_router()

    @router.post("/test/fails")
    def fails(staff: CsrfDep) -> None:
        raise RuntimeError(PRIVATE)

    api.include_router(router)
    return api


@pytest.fixture
def clinic_b_staff(app: App, staff_accounts: StaffAccounts) -> str:
    Accounts(sessions=app.sessions, clock=app.clock).add_clinic(
        clinic_settings(slug="b", name="B Clinic", phone="+13125550143", timezone="America/Chicago")
    )
    staff_accounts.add("b", "bea@b.example", display_name="Bea", password=PASSWORD)
    return "bea@b.example"


def test_a_clinics_treatment_is_shown_to_its_staff(
    app: App, treatment_page: FastAPI, signed_in: TestClient
) -> None:
    treatment = log(app)
    assert signed_in.get(f"/treatments/{treatment.id}").status_code == 200


def test_another_clinics_staff_get_the_404_page_for_it(
    app: App, treatment_page: FastAPI, client: TestClient, sign_in: SignIn, clinic_b_staff: str
) -> None:
    treatment = log(app)
    assert sign_in(username=clinic_b_staff).status_code == 303
    theirs = client.get(f"/treatments/{treatment.id}")
    missing = client.get(f"/treatments/{treatment.id + 1000}")
    for answer in (theirs, missing):
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")
        assert "Page not found" in answer.text
        assert_page_headers(answer.headers)
    assert theirs.text == missing.text


def test_an_id_that_cannot_be_one_is_the_404_page(
    treatment_page: FastAPI, signed_in: TestClient
) -> None:
    answer = signed_in.get("/treatments/abc")
    assert answer.status_code == 404
    assert "Page not found" in answer.text


def test_a_failing_page_is_a_500_page_without_details_and_logged(
    treatment_page: FastAPI, signed_in: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = csrf_token(signed_in.get("/today"))
    with caplog.at_level(logging.ERROR, logger="reminders.web.errors"):
        answer = signed_in.post("/test/fails", data={"csrf_token": token})
    assert answer.status_code == 500
    assert "Something went wrong" in answer.text
    assert "Jane" not in answer.text
    assert "RuntimeError" not in answer.text
    assert_page_headers(answer.headers)
    assert [record.message.splitlines()[0] for record in caplog.records] == [
        "page failed: POST /test/fails"
    ]
    assert "Jane" not in caplog.text
