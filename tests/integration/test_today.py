"""The desk's day, read from a real database: who is in their restriction, who was
cleared today, and which messages go next; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reminders.bootstrap import App
from reminders.clock import FixedClock
from reminders.db.models import Treatment
from tests.conftest import NOW, clinic_settings
from tests.support import log

# NOW is 14:00 in New York; the clinic's restriction is four hours.


def logged_at(app: App, clock: FixedClock, at: datetime, **kwargs: object) -> Treatment:
    clock.set(at)
    treatment = log(app, at=at, **kwargs)
    clock.set(NOW)
    return treatment


def test_the_day_sorts_treatments_by_their_windows(app: App, clock: FixedClock) -> None:
    # 13:00 local, four hours: in its restriction until 17:00 local (22:00 UTC).
    recent = logged_at(app, clock, NOW - timedelta(hours=1), name="Ann Recent")
    # 08:00 local: cleared at 12:00 local today.
    morning = logged_at(app, clock, NOW - timedelta(hours=6), name="Bo Morning")
    # Yesterday: cleared yesterday, on neither list.
    logged_at(app, clock, NOW - timedelta(days=1), name="Cy Yesterday")
    # Noon, with a day's restriction: lying flat ends at 16:00, exercise tomorrow noon.
    long = logged_at(
        app,
        clock,
        NOW - timedelta(hours=2),
        name="Di Long",
        restriction=timedelta(days=1),
        restriction_reason="asked by the injector",
    )
    cancelled = logged_at(app, clock, NOW - timedelta(minutes=30), name="Ed Cancelled")
    app.service.cancel(app.clinic.id, cancelled.id, reason="logged twice", error=True)

    day = app.service.today(app.clinic.id)

    assert day.day_start == datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
    assert [line.treatment_id for line in day.in_restriction] == [recent.id, long.id]
    assert [line.treatment_id for line in day.cleared_today] == [morning.id]
    first, second = day.in_restriction
    assert first.patient_name == "Ann Recent"
    assert first.restriction_end == NOW + timedelta(hours=3)
    assert ("exercise", NOW + timedelta(hours=3)) in first.avoiding
    assert ("lying flat", NOW + timedelta(hours=3)) in first.avoiding
    assert second.restriction_end == NOW + timedelta(hours=22)
    assert ("lying flat", NOW + timedelta(hours=2)) in second.avoiding
    assert ("exercise", NOW + timedelta(hours=22)) in second.avoiding
    assert day.cleared_today[0].avoiding == ()


def test_due_next_lists_pending_messages_soonest_first(app: App, clock: FixedClock) -> None:
    early = logged_at(app, clock, NOW - timedelta(hours=3), name="Fay Early")
    late = logged_at(app, clock, NOW - timedelta(hours=1), name="Gus Late")

    due = app.service.today(app.clinic.id).due_next

    assert due, "pending messages were planned"
    assert [d.due_at for d in due] == sorted(d.due_at for d in due)
    # The earlier treatment's all-clear (at 15:00 local) goes before the later one's.
    all_clears = [d.treatment_id for d in due if d.step_id == "all_clear"]
    assert all_clears == [early.id, late.id]
    assert due[0].patient_name in {"Fay Early", "Gus Late"}


def test_another_clinics_treatments_are_not_on_the_board(app: App, clock: FixedClock) -> None:
    logged_at(app, clock, NOW - timedelta(hours=1))
    other = app.service.sync_clinic(clinic_settings(slug="other", name="Other Clinic"))

    day = app.service.today(other.id)

    assert day.in_restriction == ()
    assert day.due_next == ()
