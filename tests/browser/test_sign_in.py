"""Signing in and out in Chromium: the form, wrong passwords, lock-out, the keyboard, the
back button after signing out, and a forged form post."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import NAME, PASSWORD, USERNAME, Site, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def database_url(migrated_sqlite_url: str) -> str:
    """SQLite only: signing in on PostgreSQL is tests/web_sessions' (both databases) and
    test_treatment_flow's in Chromium."""
    return migrated_sqlite_url


REFUSED = "The username or password is not right, or the account is locked for now."


def test_signing_in_opens_today_with_the_clinic_and_the_persons_name(
    page: Page, site: Site, staff: int
) -> None:
    sign_in(page, site)
    assert page.url == f"{site.url}/today"
    expect(page.get_by_role("heading", level=1)).to_have_text("Today at Harbor Skin Clinic")
    expect(page.get_by_role("banner")).to_contain_text(f"Signed in as {NAME}")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(
        ["Today", "Log a treatment", "Replies"]
    )


def test_a_page_asked_for_before_signing_in_is_shown_after_it(
    page: Page, site: Site, staff: int
) -> None:
    page.goto(f"{site.url}/today?day=2026-11-27")
    assert page.url == f"{site.url}/sign-in?next=%2Ftoday%3Fday%3D2026-11-27"
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/today?day=2026-11-27")


def test_a_wrong_password_is_refused_with_a_message(page: Page, site: Site, staff: int) -> None:
    sign_in(page, site, password="not the password")
    assert page.url == f"{site.url}/sign-in"
    expect(page.get_by_role("alert")).to_contain_text(REFUSED)
    expect(page.get_by_label("Username")).to_have_value(USERNAME)
    expect(page.get_by_label("Password")).to_have_value("")


def test_an_unknown_username_gets_the_same_message(page: Page, site: Site, staff: int) -> None:
    sign_in(page, site, username="nobody@example.org")
    expect(page.get_by_role("alert")).to_contain_text(REFUSED)


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(
    page: Page, site: Site, staff: int
) -> None:
    for _ in range(5):
        sign_in(page, site, password="not the password")
    sign_in(page, site)  # the right password, now refused
    expect(page.get_by_role("alert")).to_contain_text(REFUSED)
    assert page.url == f"{site.url}/sign-in"
    site.clock.advance(timedelta(minutes=15))
    sign_in(page, site)
    assert page.url == f"{site.url}/today"


def test_signing_out_ends_the_session_and_back_does_not_show_the_page(
    signed_in_page: Page, site: Site
) -> None:
    page = signed_in_page
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{site.url}/sign-in")
    page.go_back()
    page.wait_for_load_state()
    # `Cache-Control: no-store`: the browser asks again, and is sent to sign in.
    assert page.url.startswith(f"{site.url}/sign-in")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_text(f"Signed in as {NAME}")).to_have_count(0)


def test_a_form_post_without_the_csrf_token_is_refused(signed_in_page: Page, site: Site) -> None:
    # The session's own cookie, as a forged cross-site form would carry it (SameSite
    # aside): without the page's token the post is refused and the session lives on.
    forged = signed_in_page.request.post(f"{site.url}/sign-out", form={"other": "x"})
    assert forged.status == 403
    assert "This form has expired" in forged.text()
    signed_in_page.goto(f"{site.url}/today")
    assert signed_in_page.url == f"{site.url}/today"


def test_a_raw_post_with_the_cookie_and_a_wrong_token_is_refused(site: Site, staff: int) -> None:
    client = site.client()
    refused = client.post("/sign-out", data={"csrf_token": "guessed"})
    assert refused.status_code == 403
    assert client.get("/today").status_code == 200


def test_signing_in_with_the_keyboard_alone(page: Page, site: Site, staff: int) -> None:
    page.goto(f"{site.url}/sign-in")
    # The username field has the focus on arrival; Tab to the password, Enter to send.
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type(USERNAME)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/today")


def test_the_skip_link_is_the_first_stop_and_moves_to_the_main_content(
    signed_in_page: Page,
) -> None:
    page = signed_in_page
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def test_the_page_loads_htmx_and_its_styles_under_its_content_security_policy(
    signed_in_page: Page,
) -> None:
    page = signed_in_page
    assert page.evaluate("typeof window.htmx") == "object"
    background = page.locator(".site-header").evaluate(
        "element => getComputedStyle(element).backgroundColor"
    )
    assert background == "rgb(20, 61, 102)"


def test_a_page_asked_for_by_htmx_without_a_session_is_sent_to_sign_in(site: Site) -> None:
    answer = httpx.get(f"{site.url}/today", headers={"HX-Request": "true"})
    assert answer.status_code == 401
    assert answer.headers["HX-Redirect"] == "/sign-in"
