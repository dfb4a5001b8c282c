"""The day's page in Chromium (SQLite): the lists, and acknowledging a needs-call alert."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import NAME, Site
from tests.browser.pages import log_treatment, opt_out

pytestmark = pytest.mark.browser


@pytest.fixture
def database_url(migrated_sqlite_url: str) -> str:
    return migrated_sqlite_url


def test_a_treatment_just_logged_is_in_its_restriction_with_its_next_message(
    signed_in_page: Page, site: Site
) -> None:
    page = signed_in_page
    treatment_id = log_treatment(page, site, name="Jane Doe")
    page.get_by_role("link", name="Today").click()
    restricted = page.locator(
        "section", has=page.get_by_role("heading", name="In their restriction")
    )
    expect(restricted.get_by_role("link", name="Jane Doe")).to_have_attribute(
        "href", f"/treatments/{treatment_id}"
    )
    expect(restricted).to_contain_text("lying flat, bending over until")
    due = page.locator("section", has=page.get_by_role("heading", name="Due next"))
    expect(due).to_contain_text("all_clear (text)")
    expect(page.locator("#today-lists")).to_have_attribute("hx-trigger", "every 30s")


def test_acknowledging_a_needs_call_alert_records_who_and_clears_it(
    signed_in_page: Page, site: Site
) -> None:
    page = signed_in_page
    treatment_id = log_treatment(page, site)
    expect(page.locator("#first-message")).to_contain_text("delivered ✓")
    opt_out(site)
    page.goto(f"{site.url}/today")
    calls = page.locator("section", has=page.get_by_role("heading", name="Needs a call"))
    expect(calls).to_contain_text("the patient opted out of texts (STOP)")
    calls.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(f"{site.url}/today")
    expect(calls).to_contain_text("Nobody to call")
    assert site.app.service.needs_call(site.app.clinic.id) == []
    [alert] = site.app.service.treatment(site.app.clinic.id, treatment_id).alerts
    assert alert.acknowledged_by == NAME
