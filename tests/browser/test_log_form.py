"""The log form in Chromium (SQLite): the live preview, field errors, the keyboard alone,
and a tablet's width."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from reminders.db.repo import TreatmentQuery
from tests.browser.conftest import Site
from tests.browser.pages import PHONE, fill_patient, log_treatment

pytestmark = pytest.mark.browser


@pytest.fixture
def database_url(migrated_sqlite_url: str) -> str:
    """SQLite only: the flow on both databases is test_treatment_flow's."""
    return migrated_sqlite_url


def stored(site: Site) -> int:
    return len(site.app.service.find_treatments(site.app.clinic.id, TreatmentQuery(limit=10)))


def test_the_preview_shows_each_text_and_its_time_before_saving(
    signed_in_page: Page, site: Site
) -> None:
    page = signed_in_page
    page.goto(f"{site.url}/treatments/new")
    fill_patient(page)
    page.get_by_label("Restriction length (optional)").fill("6h")
    page.get_by_label("Why this restriction (with a length)").fill("heavy training")
    preview = page.locator("#preview")
    # Beyond the 4 h posture window, a 6 h restriction adds the message that ends it.
    expect(preview).to_contain_text("window_end:posture")
    expect(preview).to_contain_text("you can lie flat and bend over again")
    steps = preview.locator(".step")
    expect(steps.first).to_contain_text("text")
    expect(preview.locator(".step__head").last).to_contain_text(" ES")
    assert stored(site) == 0


def test_a_bad_phone_is_shown_at_its_field_in_the_preview_and_on_saving(
    signed_in_page: Page, site: Site
) -> None:
    page = signed_in_page
    page.goto(f"{site.url}/treatments/new")
    fill_patient(page, phone="+1 555")
    preview_error = page.locator("#preview").get_by_role("link")
    expect(preview_error).to_contain_text("Mobile phone: '+1 555' is not a valid phone number")
    page.get_by_role("button", name="Save and send").click()
    phone = page.get_by_label("Mobile phone")
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#phone-error")).to_contain_text("is not a valid phone number")
    assert "phone-error" in (phone.get_attribute("aria-describedby") or "")
    expect(page.get_by_label("Patient's name")).to_have_value("Jane Doe")
    assert stored(site) == 0


def test_the_first_text_is_shown_delivered_once_the_worker_sends_it(
    signed_in_page: Page, site: Site
) -> None:
    log_treatment(signed_in_page, site)
    expect(signed_in_page.locator("#first-message")).to_contain_text("First text: delivered ✓")


def test_logging_a_treatment_with_the_keyboard_alone(signed_in_page: Page, site: Site) -> None:
    page = signed_in_page
    page.goto(f"{site.url}/treatments/new")
    keys = page.keyboard
    expect(page.get_by_label("Patient's name")).to_be_focused()
    keys.type("Kim Park")
    keys.press("Tab")
    expect(page.get_by_label("Mobile phone")).to_be_focused()
    keys.type(PHONE)
    keys.press("Tab")
    expect(page.get_by_label("The patient agrees to receive texts")).to_be_focused()
    keys.press("Space")
    expect(page.locator("#preview")).to_contain_text("all_clear")
    keys.press("Enter")  # Enter in the form sends it
    page.wait_for_url(f"{site.url}/treatments/*")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Kim Park")
    assert stored(site) == 1


@pytest.mark.parametrize(
    "path", ["/today", "/treatments/new", "/treatments/1", "/treatments/1/cancel"]
)
def test_nothing_is_wider_than_a_tablet_held_upright(
    signed_in_page: Page, site: Site, path: str
) -> None:
    page = signed_in_page
    log_treatment(page, site)
    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto(f"{site.url}{path}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
