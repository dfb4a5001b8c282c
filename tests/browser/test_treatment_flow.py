"""The desk's whole flow in Chromium, on SQLite and on PostgreSQL: log a treatment after
seeing its preview, watch the first text delivered, correct the time, cancel."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from reminders.db.repo import TreatmentQuery
from reminders.domain import MessageState, TreatmentStatus
from tests.browser.conftest import Site
from tests.browser.pages import fill_patient

pytestmark = pytest.mark.browser


def test_log_watch_delivery_correct_and_cancel(signed_in_page: Page, site: Site) -> None:
    page = signed_in_page
    page.get_by_role("link", name="Log a treatment").click()
    fill_patient(page)
    preview = page.locator("#preview")
    # Before saving: each text, its time in the clinic's zone, its full wording.
    expect(preview).to_contain_text("avoid")
    expect(preview).to_contain_text("all_clear")
    expect(preview).to_contain_text("please avoid exercise")
    expect(preview).to_contain_text(" ES")  # EST or EDT: the clinic's zone, as the CLI shows it
    assert site.app.service.find_treatments(site.app.clinic.id, TreatmentQuery(limit=10)) == []

    page.get_by_role("button", name="Save and send").click()
    page.wait_for_url(f"{site.url}/treatments/*")
    treatment_id = int(page.url.rsplit("/", 1)[1])
    first = page.locator("#first-message")
    expect(first).to_contain_text("delivered ✓")
    expect(first).not_to_have_attribute("hx-trigger", "every 1s")  # the polling stopped

    # Correct the time to an hour earlier: the dry run shows what the patient is told.
    page.get_by_role("link", name="Correct the time or restriction").click()
    performed = page.get_by_label("Performed at")
    earlier = datetime.fromisoformat(performed.input_value()) - timedelta(hours=1)
    performed.fill(earlier.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Check what the patient will be told").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm the correction")
    told = page.locator(".told")
    expect(told).to_contain_text("Harbor Skin Clinic")
    assert site.app.service.treatment(site.app.clinic.id, treatment_id).correction_note is None
    page.get_by_role("button", name="Confirm the correction").click()
    page.wait_for_url(f"{site.url}/treatments/{treatment_id}?saved=corrected")
    expect(page.get_by_role("status")).to_have_text("The correction is saved.")
    expect(page.locator(".facts").first).to_contain_text(earlier.strftime("%Y-%m-%d %H:%M"))
    expect(page.locator(".facts").first).to_contain_text("Last correction")

    # Cancel as logged in error: the withdrawal text is shown before confirming.
    page.get_by_role("link", name="Cancel this treatment").click()
    page.get_by_label("Why it is cancelled").fill("wrong patient")
    page.get_by_label("Logged in error").check()
    page.get_by_role("button", name="Check what happens").click()
    expect(page.locator(".told .message-text")).to_contain_text("disregard")
    stored = site.app.service.treatment(site.app.clinic.id, treatment_id)
    assert stored.status == TreatmentStatus.ACTIVE.value
    page.get_by_role("button", name="Confirm the cancellation").click()
    page.wait_for_url(f"{site.url}/treatments/{treatment_id}?saved=cancelled")
    expect(page.locator(".facts").first).to_contain_text("cancelled: wrong patient")
    stored = site.app.service.treatment(site.app.clinic.id, treatment_id)
    assert stored.status == TreatmentStatus.CANCELLED.value
    states = {m.step_id: m.state for m in stored.messages}
    assert states["all_clear"] == MessageState.CANCELLED.value
