"""Signing in and out over HTTP: the cookie's flags, redirects, lock-out, disabled accounts,
the end of a session, and the throttle on one address."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI

from reminders.clock import FixedClock
from reminders.staff import StaffAccounts
from tests.api import TestClient
from tests.web_sessions.conftest import PASSWORD, USERNAME, SignIn, csrf_token

REFUSED = "The username or password is not right, or the account is locked for now."


def test_signing_in_sets_an_http_only_lax_cookie_with_only_a_token(
    sign_in: SignIn, ann: int
) -> None:
    answer = sign_in()
    assert answer.status_code == 303
    assert answer.headers["location"] == "/today"
    cookie = answer.headers["set-cookie"]
    name, _, rest = cookie.partition("=")
    token, *flags = rest.split("; ")
    assert name == "reminders_session"
    assert len(token) == 43
    assert sorted(flag.lower() for flag in flags) == ["httponly", "path=/", "samesite=lax"]


def test_over_https_the_cookie_is_secure(api: FastAPI, ann: int) -> None:
    with TestClient(api, base_url="https://testserver", follow_redirects=False) as client:
        form = client.get("/sign-in")
        assert "secure" in form.headers["set-cookie"].lower()
        data = {"username": USERNAME, "password": PASSWORD, "csrf_token": csrf_token(form)}
        answer = client.post("/sign-in", data=data)
    assert answer.status_code == 303
    assert "; secure" in answer.headers["set-cookie"].lower()


def test_signing_in_gives_a_new_token_not_the_forms(
    client: TestClient, sign_in: SignIn, ann: int
) -> None:
    form_token = client.get("/sign-in").cookies["reminders_session"]
    answer = sign_in()
    assert answer.cookies["reminders_session"] != form_token


def test_a_page_without_a_session_redirects_to_sign_in_and_back(client: TestClient) -> None:
    answer = client.get("/today?day=2026-11-27")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=%2Ftoday%3Fday%3D2026-11-27"


def test_the_root_redirects_to_today(client: TestClient) -> None:
    answer = client.get("/")
    assert (answer.status_code, answer.headers["location"]) == (303, "/today")


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("/today?day=1", "/today?day=1"),
        ("https://evil.example/", "/today"),
        ("//evil.example/", "/today"),
        ("/\\evil.example/", "/today"),
        ("javascript:alert(1)", "/today"),
        ("/today\r\nSet-Cookie: x=1", "/today"),
    ],
)
def test_only_a_local_path_is_followed_after_sign_in(
    sign_in: SignIn, ann: int, sent: str, kept: str
) -> None:
    answer = sign_in(next=sent)
    assert answer.status_code == 303
    assert answer.headers["location"] == kept


def test_a_wrong_password_is_refused_on_the_form(
    client: TestClient, sign_in: SignIn, ann: int
) -> None:
    answer = sign_in(password="not the password")
    assert answer.status_code == 400
    assert REFUSED in answer.text
    assert client.get("/today").status_code == 303


def test_an_unknown_username_gets_the_same_answer(sign_in: SignIn, ann: int) -> None:
    unknown = sign_in(username="nobody@example.org", password="not the password")
    wrong = sign_in(password="not the password")
    assert (unknown.status_code, wrong.status_code) == (400, 400)
    assert REFUSED in unknown.text
    assert unknown.text.replace("nobody@example.org", USERNAME) == wrong.text


def test_five_wrong_passwords_lock_the_account_until_fifteen_minutes_pass(
    sign_in: SignIn, clock: FixedClock, ann: int
) -> None:
    for _ in range(5):
        assert sign_in(password="not the password").status_code == 400
    clock.advance(timedelta(minutes=15) - timedelta(seconds=1))
    locked = sign_in()
    assert locked.status_code == 400
    assert REFUSED in locked.text
    clock.advance(timedelta(seconds=1))
    assert sign_in().status_code == 303


def test_one_address_trying_many_usernames_is_throttled(sign_in: SignIn, ann: int) -> None:
    answers = [sign_in(username=f"guess{n}@example.org").status_code for n in range(10)]
    assert answers == [400] * 10
    throttled = sign_in()  # even the right password, from this address, for now
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins from this computer" in throttled.text


def test_a_disabled_account_cannot_sign_in(
    sign_in: SignIn, staff_accounts: StaffAccounts, ann: int
) -> None:
    staff_accounts.disable(USERNAME)
    answer = sign_in()
    assert answer.status_code == 400
    assert "This account is disabled" in answer.text


def test_disabling_an_account_signs_it_out_at_once(
    signed_in: TestClient, staff_accounts: StaffAccounts
) -> None:
    assert signed_in.get("/today").status_code == 200
    staff_accounts.disable(USERNAME)
    assert signed_in.get("/today").status_code == 303


def test_a_session_ends_after_twelve_idle_hours(signed_in: TestClient, clock: FixedClock) -> None:
    clock.advance(timedelta(hours=12) - timedelta(seconds=1))
    assert signed_in.get("/today").status_code == 200
    clock.advance(timedelta(hours=12))
    assert signed_in.get("/today").status_code == 303


def test_a_session_ends_seven_days_after_sign_in(signed_in: TestClient, clock: FixedClock) -> None:
    for _ in range(15):
        clock.advance(timedelta(hours=11))
        assert signed_in.get("/today").status_code == 200
    clock.advance(timedelta(hours=3) - timedelta(seconds=1))  # 7 days less a second
    assert signed_in.get("/today").status_code == 200
    clock.advance(timedelta(seconds=1))
    assert signed_in.get("/today").status_code == 303


def test_signing_out_ends_the_session_and_clears_the_cookie(signed_in: TestClient) -> None:
    old_cookie = signed_in.cookies["reminders_session"]
    page = signed_in.get("/today")
    answer = signed_in.post("/sign-out", data={"csrf_token": csrf_token(page)})
    assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in")
    assert 'reminders_session=""' in answer.headers["set-cookie"]
    signed_in.cookies.set("reminders_session", old_cookie)
    assert signed_in.get("/today").status_code == 303


def test_the_sign_in_page_sends_a_signed_in_person_on(signed_in: TestClient) -> None:
    answer = signed_in.get("/sign-in?next=/today")
    assert (answer.status_code, answer.headers["location"]) == (303, "/today")
