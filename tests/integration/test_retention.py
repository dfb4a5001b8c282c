"""Retention: patients' phones and emails removed once their aftercare is long over,
their history kept; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from reminders.bootstrap import App
from reminders.clock import FixedClock
from reminders.db.models import InboundMessage, Message, Patient, SmsOptOut
from reminders.retention import REMOVED, Retention
from tests.conftest import NOW
from tests.support import RecordingChannel, log

KEEP = timedelta(days=30)


def retention(app: App) -> Retention:
    return Retention(sessions=app.sessions, clock=app.clock)


def settled_treatment(app: App, clock: FixedClock, days_ago: int, **kwargs: object) -> int:
    """A treatment whose messages all settled `days_ago` (cancelled then)."""
    clock.set(NOW - timedelta(days=days_ago))
    treatment = log(app, at=clock.now(), **kwargs)
    app.service.cancel(app.clinic.id, treatment.id, reason="test", notify=False)
    clock.set(NOW)
    return treatment.patient_id


def patient(app: App, patient_id: int) -> Patient:
    with app.sessions() as session:
        found = session.get(Patient, patient_id)
        assert found is not None
        return found


def test_contact_details_go_after_the_retention_and_the_history_stays(
    app: App, clock: FixedClock
) -> None:
    old = settled_treatment(app, clock, 40, name="Old Patient", email="old@example.org")
    with app.sessions.begin() as session:
        session.add(
            InboundMessage(
                clinic_id=app.clinic.id,
                patient_id=old,
                from_phone="+12125550199",
                to_sender="+12125550143",
                body="thanks",
                kind="reply",
                received_at=NOW - timedelta(days=40),
            )
        )
        session.add(
            SmsOptOut(clinic_id=app.clinic.id, phone="+12125550199", source="STOP", created_at=NOW)
        )
    with app.sessions() as session:
        messages_before = session.scalar(sa.select(sa.func.count()).select_from(Message))

    report = retention(app).run(keep=KEEP, dry_run=False)

    assert (report.patients, report.replies) == (1, 1)
    assert report.cutoff == NOW - KEEP
    scrubbed = patient(app, old)
    assert (scrubbed.phone, scrubbed.email) == (None, None)
    assert scrubbed.name == "Old Patient"
    assert scrubbed.contact_removed_at == NOW
    with app.sessions() as session:
        assert session.scalar(sa.select(InboundMessage.from_phone)) == REMOVED
        assert session.scalar(sa.select(sa.func.count()).select_from(Message)) == messages_before
        # The STOP list keeps the number, or a new treatment could text it again.
        assert session.scalar(sa.select(SmsOptOut.phone)) == "+12125550199"


def test_a_dry_run_counts_and_changes_nothing(app: App, clock: FixedClock) -> None:
    old = settled_treatment(app, clock, 40)

    report = retention(app).run(keep=KEEP, dry_run=True)

    assert (report.patients, report.dry_run) == (1, True)
    assert patient(app, old).phone == "+12125550199"
    assert patient(app, old).contact_removed_at is None


def test_patients_with_anything_recent_or_still_to_go_keep_their_details(
    app: App, clock: FixedClock
) -> None:
    recent = settled_treatment(app, clock, 20, phone="+12125550101")
    clock.set(NOW - timedelta(days=40))
    pending = log(app, at=clock.now() + timedelta(days=80), phone="+12125550102").patient_id
    clock.set(NOW)
    # An old treatment and a recent one for the same patient: the recent one counts.
    both = settled_treatment(app, clock, 90, phone="+12125550103", name="Two Visits")
    assert settled_treatment(app, clock, 5, phone="+12125550103", name="Two Visits") == both

    report = retention(app).run(keep=KEEP, dry_run=False)

    assert report.patients == 0
    for kept in (recent, pending, both):
        assert patient(app, kept).phone is not None


def test_a_second_run_finds_nothing_more(app: App, clock: FixedClock) -> None:
    settled_treatment(app, clock, 40, phone="+12125550104")
    settled_treatment(app, clock, 50, phone="+12125550105")

    assert retention(app).run(keep=KEEP, dry_run=False).patients == 2
    assert retention(app).run(keep=KEEP, dry_run=False).patients == 0


def test_a_worker_removes_them_hourly_once_the_setting_is_on(app: App, clock: FixedClock) -> None:
    assert app.chores() == []  # no retention set: contact details are kept
    old = settled_treatment(app, clock, 40)
    app.settings.retention.contact_days = 30

    [chore] = app.chores()
    worker = app.worker(RecordingChannel().registry())
    worker._add_jobs()  # what start() schedules, without starting its threads
    job = worker._scheduler.get_job("chore-0")
    assert job is not None
    assert job.trigger.interval == timedelta(hours=1)
    chore()

    assert patient(app, old).phone is None
