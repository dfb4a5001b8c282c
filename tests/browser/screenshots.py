"""Screenshots of the web pages for the README: `python -m tests.browser.screenshots`.

Starts the site (with its worker, on the console channel) over a temporary SQLite file,
fills in a day at the clinic (a patient cleared this morning, two in their restriction,
a text that did not arrive, a patient who texted STOP and needs a call, and replies: a
drooping eyelid, sent to the on-call phone; a request in words to stop texts; a "thanks"),
and saves PNGs of the pages, at 1024 px wide, into docs/screenshots/.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import Page, expect, sync_playwright

from reminders.bootstrap import default_channels
from reminders.db.models import Clinic, Message
from reminders.domain import ChannelKind
from reminders.intake import TreatmentInput
from reminders.patients import PatientInput
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, Site, running_site, sign_in
from tests.browser.pages import fill_patient, opt_out, patient_texts

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# A Friday afternoon in New York: the day's lists have something in each.
MORNING = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)  # 09:30 EST
AFTERNOON = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)  # 15:00 EST


def set_time(site: Site, instant: datetime) -> None:
    site.clock.advance(instant - site.clock.now())


def send_due(site: Site) -> None:
    """A dispatch pass at the clock's time (the worker sleeps by the wall clock)."""
    channels = default_channels(site.app.settings)
    site.app.dispatcher(channels, worker_id="screenshots").dispatch_due()


def log(site: Site, name: str, phone: str, **extra: object) -> int:
    now = site.clock.now()
    request = TreatmentInput(
        patient=PatientInput(name=name, phone=phone, sms_consent_at=now),
        treatment_type="botox",
        **extra,  # type: ignore[arg-type]
    )
    return site.app.service.log_treatment(site.app.clinic.id, request).id


def undelivered(site: Site, treatment_id: int) -> None:
    """The carrier's report that the first text did not arrive (30005: unknown number).

    The console channel reports every text delivered at once, and a later report cannot
    undo that; so the report is written to the row, as applying one would leave it.
    """
    first = site.app.service.treatment(site.app.clinic.id, treatment_id).messages[0]
    with site.app.sessions.begin() as session:
        session.execute(
            sa.update(Message)
            .where(Message.id == first.id)
            .values(
                delivery_status="undelivered",
                delivery_error="30005",
                delivery_updated_at=site.clock.now(),
            )
        )


def on_call(site: Site, phone: str) -> None:
    with site.app.sessions.begin() as session:
        session.execute(
            sa.update(Clinic).where(Clinic.id == site.app.clinic.id).values(on_call_phone=phone)
        )


def replies(site: Site) -> None:
    """A "thanks", a drooping eyelid (its alert sent to on-call), a request to stop."""
    set_time(site, AFTERNOON - timedelta(minutes=90))
    patient_texts(site, "Thanks, all good so far!", "SM10", phone="+12125550177")
    set_time(site, AFTERNOON - timedelta(minutes=40))
    patient_texts(site, "My left eyelid is drooping a bit since lunch", "SM11", "+12125550123")
    site.app.on_call(default_channels(site.app.settings), "screenshots").send_due()
    set_time(site, AFTERNOON - timedelta(minutes=10))
    patient_texts(site, "Please stop texting me, I know what to do", "SM12", "+12125550177")


def sample_day(site: Site) -> dict[str, int]:
    on_call(site, "+12125550188")
    set_time(site, MORNING)
    ids = {"cleared": log(site, "Maria Lopez", "+12125550123")}
    set_time(site, AFTERNOON - timedelta(hours=2))
    ids["runner"] = log(
        site,
        "Kim Park",
        "+12125550177",
        restriction=timedelta(hours=6),
        restriction_reason="trains for a marathon",
    )
    ids["stop"] = log(site, "Ana Silva", "+12125550166")
    ids["wrong"] = log(site, "Tom Reed", "+12125550155")
    send_due(site)
    undelivered(site, ids["wrong"])
    opt_out(site, "+12125550166")
    replies(site)
    set_time(site, AFTERNOON)
    send_due(site)
    return ids


def shoot(page: Page, name: str) -> None:
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
    print(f"docs/screenshots/{name}.png")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_site(Path(tmp), f"sqlite:///{tmp}/reminders.db") as site,
        sync_playwright() as playwright,
    ):
        site.add_staff()
        ids = sample_day(site)
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        page.goto(f"{site.url}/sign-in")
        shoot(page, "sign-in")
        sign_in(page, site)
        shoot(page, "today")
        page.goto(f"{site.url}/replies")
        page.locator("#reply-list details").first.locator("summary").click()
        shoot(page, "replies")

        page.goto(f"{site.url}/treatments/new")
        fill_patient(page, name="Jane Doe", phone="+12125550199")
        page.get_by_label("Send messages by").select_option(ChannelKind.SMS.value)
        expect(page.locator("#preview")).to_contain_text("all_clear")
        shoot(page, "log-treatment")
        page.get_by_role("button", name="Save and send").click()
        page.wait_for_url(f"{site.url}/treatments/*")
        expect(page.locator("#first-message")).to_contain_text("delivered ✓")
        time.sleep(0.3)  # the last swap's settle
        shoot(page, "treatment")

        page.get_by_role("link", name="Correct the time or restriction").click()
        page.get_by_label("Performed at").fill("2026-11-27T14:15")
        page.get_by_role("button", name="Check what the patient will be told").click()
        shoot(page, "correct-confirm")

        page.goto(f"{site.url}/treatments/{ids['wrong']}/cancel")
        page.get_by_label("Why it is cancelled").fill("logged for the wrong patient")
        page.get_by_label("Logged in error").check()
        page.get_by_role("button", name="Check what happens").click()
        shoot(page, "cancel-confirm")

        page.goto(f"{site.url}/treatments/{ids['wrong']}")
        shoot(page, "treatment-undelivered")
        browser.close()


if __name__ == "__main__":
    main()
