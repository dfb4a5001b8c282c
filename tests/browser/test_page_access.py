"""Whose pages are whose (SQLite): another clinic's staff find nothing at this clinic's
treatment, and a post without the page's CSRF token changes nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from reminders.domain import TreatmentStatus
from tests.browser.conftest import Site, sign_in
from tests.browser.pages import OTHER_USERNAME, add_other_clinic_staff, log_treatment
from tests.web.conftest import CSRF

pytestmark = pytest.mark.browser


@pytest.fixture
def database_url(migrated_sqlite_url: str) -> str:
    return migrated_sqlite_url


def status(site: Site, treatment_id: int) -> str:
    return site.app.service.treatment(site.app.clinic.id, treatment_id).status


def test_another_clinics_staff_get_404_and_cannot_cancel(
    signed_in_page: Page, site: Site, other_page: Page
) -> None:
    treatment_id = log_treatment(signed_in_page, site)
    add_other_clinic_staff(site)
    other = other_page
    sign_in(other, site, OTHER_USERNAME)
    answer = other.goto(f"{site.url}/treatments/{treatment_id}")
    assert answer is not None
    assert answer.status == 404
    expect(other.get_by_role("heading", level=1)).to_have_text("Page not found")
    token = CSRF.search(other.content())
    assert token is not None
    posted = other.request.post(
        f"{site.url}/treatments/{treatment_id}/cancel/confirm",
        form={"csrf_token": token.group(1), "reason": "not ours", "notify": "yes"},
    )
    assert posted.status == 404
    assert status(site, treatment_id) == TreatmentStatus.ACTIVE.value


def test_a_cancel_posted_without_the_csrf_token_is_refused(
    signed_in_page: Page, site: Site
) -> None:
    treatment_id = log_treatment(signed_in_page, site)
    forged = signed_in_page.request.post(
        f"{site.url}/treatments/{treatment_id}/cancel/confirm",
        form={"reason": "forged", "notify": "yes"},
    )
    assert forged.status == 403
    assert "This form has expired" in forged.text()
    assert status(site, treatment_id) == TreatmentStatus.ACTIVE.value
