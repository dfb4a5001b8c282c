"""Steps the page tests share: filling in the log form, the alert a STOP raises, a
patient's reply."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from reminders.accounts import Accounts
from tests.browser.conftest import PASSWORD, Site
from tests.conftest import clinic_settings

PHONE = "+12125550199"
SENDER = "+12125550100"  # the clinic's number, that patients reply to
OTHER_USERNAME = "bo@example.org"


def fill_patient(page: Page, *, name: str = "Jane Doe", phone: str = PHONE) -> None:
    """The log form's patient: a name, a mobile number and consent to texts."""
    page.get_by_label("Patient's name").fill(name)
    page.get_by_label("Mobile phone").fill(phone)
    page.get_by_label("The patient agrees to receive texts").check()


def log_treatment(page: Page, site: Site, **patient: str) -> int:
    """Log a treatment performed now through the form; the new treatment's id."""
    page.goto(f"{site.url}/treatments/new")
    fill_patient(page, **patient)
    expect(page.locator("#preview")).to_contain_text("all_clear")
    page.get_by_role("button", name="Save and send").click()
    page.wait_for_url(f"{site.url}/treatments/*")
    return int(page.url.rsplit("/", 1)[1])


def opt_out(site: Site, phone: str = PHONE) -> None:
    """The patient texts STOP: with texts still to go and no email, they need a call."""
    site.app.reports.inbound_text(
        from_phone=phone, to_sender=SENDER, body="STOP", provider_id="SM1"
    )


def patient_texts(site: Site, body: str, sid: str, phone: str = PHONE) -> None:
    """The patient replies `body` to the clinic's number (triaged as Twilio's webhook
    would have it triaged)."""
    site.app.reports.inbound_text(from_phone=phone, to_sender=SENDER, body=body, provider_id=sid)


def add_other_clinic_staff(site: Site) -> None:
    """A second clinic on the same database, with a staff account of its own."""
    Accounts(sessions=site.app.sessions, clock=site.app.clock).add_clinic(
        clinic_settings(slug="b", name="B Clinic", phone="+13125550143", timezone="America/Chicago")
    )
    site.add_staff(OTHER_USERNAME, clinic="b", name="Bo", password=PASSWORD)
