"""Patients' replies in Chromium (SQLite): a flagged reply on top of the inbox and in the
day's needs-a-call list, acknowledged with the mouse and with the keyboard alone (the
list's refresh keeps the focus), and a request to stop texts confirmed at 768 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from reminders.db import repo
from tests.browser.conftest import Site
from tests.browser.pages import PHONE, log_treatment, patient_texts

pytestmark = pytest.mark.browser

DROOPING = "my eyelid is drooping"
FOCUSED_ID = "document.activeElement && document.activeElement.id"


@pytest.fixture
def database_url(migrated_sqlite_url: str) -> str:
    return migrated_sqlite_url


def test_a_flagged_reply_is_on_top_and_in_todays_calls_until_acknowledged(
    signed_in_page: Page, site: Site
) -> None:
    page = signed_in_page
    treatment_id = log_treatment(page, site)
    patient_texts(site, DROOPING, "SM1")
    patient_texts(site, "thanks", "SM2")
    page.goto(f"{site.url}/today")
    calls = page.locator("section", has=page.get_by_role("heading", name="Needs a call"))
    expect(calls.locator(".reply")).to_have_count(1)
    expect(calls.locator(".reply")).to_contain_text(DROOPING)
    expect(page.get_by_role("link", name="Replies 1 flagged")).to_be_visible()

    page.get_by_role("link", name="Replies").click()
    cards = page.locator("#reply-list .reply")
    expect(cards).to_have_count(2)
    top = cards.first
    expect(top).to_contain_text(DROOPING)
    expect(top).to_contain_text("Clinical flag")
    expect(top.get_by_role("link", name="Jane Doe")).to_have_attribute(
        "href", f"/treatments/{treatment_id}"
    )
    top.get_by_text("What the clinicians say").click()
    expect(top).to_contain_text("Memphis Plastic Surgeon")
    top.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(f"{site.url}/replies")
    expect(cards.filter(has_text=DROOPING)).to_contain_text("acknowledged by Ann Lee")
    expect(page.locator("#replies-count")).to_be_empty()
    page.get_by_role("link", name="Waiting for staff").click()
    expect(page.locator("#reply-list")).to_contain_text("No replies are waiting for staff.")


def test_a_request_to_stop_texts_is_confirmed_from_the_page(
    signed_in_page: Page, site: Site
) -> None:
    page = signed_in_page
    log_treatment(page, site)
    patient_texts(site, "please stop texting me", "SM1")
    page.set_viewport_size({"width": 768, "height": 1024})  # a tablet held upright
    page.goto(f"{site.url}/replies?show=open")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    request = page.locator("#reply-list .reply").first
    expect(request).to_contain_text("Asks to stop texts")
    expect(request.get_by_role("button", name="Dismiss")).to_be_visible()
    request.get_by_role("button", name="Confirm opt-out").click()
    page.wait_for_url(f"{site.url}/replies?show=open")
    expect(page.locator("#reply-list")).to_contain_text("No replies are waiting for staff.")
    with site.app.sessions() as session:
        assert repo.is_opted_out(session, clinic_id=site.app.clinic.id, phone=PHONE)
    page.get_by_role("link", name="All replies").click()
    expect(page.locator("#reply-list")).to_contain_text("opted out of texts, confirmed by Ann Lee")


def test_acknowledging_with_the_keyboard_alone_through_a_refresh(
    signed_in_page: Page, site: Site
) -> None:
    page = signed_in_page
    log_treatment(page, site)
    patient_texts(site, DROOPING, "SM1")
    [reply] = site.app.replies.open_flagged(site.app.clinic.id)
    button = f"reply-{reply.id}-acknowledge"
    page.goto(f"{site.url}/replies")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate(FOCUSED_ID) == button:
            break
    assert page.evaluate(FOCUSED_ID) == button
    # The list's 30-second refresh, now: the button is a new one, and has the focus.
    page.evaluate(f"document.getElementById('{button}').dataset.before = 'yes'")
    page.evaluate("htmx.ajax('GET', '/replies/list?show=all', '#reply-list')")
    page.wait_for_function(f"!document.getElementById('{button}').dataset.before")
    assert page.evaluate(FOCUSED_ID) == button
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/replies")
    expect(page.locator("#reply-list")).to_contain_text("acknowledged by Ann Lee")
    assert site.app.replies.open_flagged(site.app.clinic.id) == []
