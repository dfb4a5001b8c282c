"""Corrections reach the patient: a treatment's time or restriction corrected after messages
went, and a treatment withdrawn as logged for the wrong patient, on both databases.

The clinic is in New York with a 4 h restriction and quiet hours 21:00-08:00; the pinned
clock starts at 2:00 PM. Each test sends what is due with a recording channel, corrects,
and reads what the patient is (or is not) told.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from reminders.bootstrap import App
from reminders.clock import FixedClock
from reminders.db.models import Message, MessageEvent, Treatment
from reminders.errors import InputError
from tests.conftest import NOW
from tests.support import RecordingChannel, dispatcher, log

H = timedelta(hours=1)
M = timedelta(minutes=1)
WINDOWS_4H = "exercise, facials, rubbing the treated area, lying flat and bending over"
CORRECTION = (
    "Harbor Skin Clinic: a correction to your aftercare times: {what}. "
    "Questions? Call (212) 555-0143"
)


def messages(app: App, treatment_id: int) -> list[Message]:
    with app.sessions() as session:
        return list(
            session.scalars(
                sa.select(Message).where(Message.treatment_id == treatment_id).order_by(Message.id)
            )
        )


def sent_texts(channel: RecordingChannel) -> list[str]:
    return [o.body for o in channel.sent]


def pending(app: App, treatment_id: int) -> dict[str, Message]:
    return {m.step_id: m for m in messages(app, treatment_id) if m.state == "pending"}


def row_counts(app: App) -> tuple[int, int, int]:
    with app.sessions() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
            for model in (Treatment, Message, MessageEvent)
        )


def test_moved_an_hour_earlier_the_patient_hears_the_earlier_end_then_the_all_clear_then(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    worker = dispatcher(app, channel)
    worker.dispatch_due()  # "until 6:00 PM"
    result = app.service.correct(app.clinic.id, treatment.id, performed_at=NOW - H)
    assert result.kind == "loosened"
    assert result.correction is not None
    assert result.correction.body == CORRECTION.format(
        what=f"for the next 3 hours (until 5:00 PM) please avoid {WINDOWS_4H}"
    )
    assert pending(app, treatment.id)["all_clear"].due_at == NOW + 3 * H
    worker.dispatch_due()
    assert sent_texts(channel)[-1] == result.correction.body
    clock.set(NOW + 3 * H)
    assert worker.dispatch_due().sent == 1
    assert sent_texts(channel)[-1].startswith("Harbor Skin Clinic: your aftercare window has ended")
    assert len(channel.sent) == 3


def test_moved_an_hour_later_the_patient_is_told_at_once_even_in_the_quiet_hours(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    clock.set(NOW + 6 * H + 30 * M)  # 8:30 PM
    treatment = log(app, at=clock.now())
    worker = dispatcher(app, channel)
    worker.dispatch_due()  # "until 12:30 AM tomorrow"
    clock.set(NOW + 7 * H + 30 * M)  # 9:30 PM: quiet hours
    result = app.service.correct(app.clinic.id, treatment.id, performed_at=NOW + 7 * H + 30 * M)
    assert result.kind == "tightened"
    assert result.correction is not None
    assert result.correction.due_at == clock.now()  # not held to the morning
    assert result.correction.body == CORRECTION.format(
        what=f"for the next 4 hours (until 1:30 AM tomorrow) please avoid {WINDOWS_4H}"
    )
    assert worker.dispatch_due().sent == 1
    assert sent_texts(channel)[-1] == result.correction.body


def test_a_patient_cleared_before_a_later_correction_is_told_the_window_again(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    worker = dispatcher(app, channel)
    worker.dispatch_due()
    clock.set(NOW + 4 * H)  # 6:00 PM: the all-clear goes
    worker.dispatch_due()
    assert len(channel.sent) == 2
    clock.set(NOW + 4 * H + 30 * M)  # 6:30 PM: the treatment was really at 4:00 PM
    result = app.service.correct(app.clinic.id, treatment.id, performed_at=NOW + 2 * H)
    assert result.kind == "tightened"
    assert result.correction is not None
    assert result.correction.body == CORRECTION.format(
        what=f"for the next 1 hour and 30 minutes (until 8:00 PM) please avoid {WINDOWS_4H}"
    )
    new_all_clear = pending(app, treatment.id)["all_clear"]
    assert new_all_clear.due_at == NOW + 6 * H
    worker.dispatch_due()
    clock.set(NOW + 6 * H)
    worker.dispatch_due()
    assert channel.sent_ids()[-1] == new_all_clear.id
    assert len(channel.sent) == 4


def test_a_correction_after_every_window_ended_both_ways_tells_the_patient_nothing(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    worker = dispatcher(app, channel)
    worker.dispatch_due()
    clock.set(NOW + 4 * H)
    worker.dispatch_due()
    clock.set(NOW + 7 * H)  # 9:00 PM: a 2 h later treatment would have ended at 8:00 PM
    result = app.service.correct(app.clinic.id, treatment.id, performed_at=NOW + 2 * H)
    assert (result.kind, result.correction) == (None, None)
    assert pending(app, treatment.id) == {}


def test_a_new_restriction_for_the_patient_splits_the_windows_and_is_kept_by_later_corrections(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    worker = dispatcher(app, channel)
    worker.dispatch_due()
    result = app.service.correct(
        app.clinic.id, treatment.id, restriction=6 * H, restriction_reason="marathon runner"
    )
    assert result.kind == "tightened"
    assert result.correction is not None
    assert result.correction.body == CORRECTION.format(
        what="until 6:00 PM avoid lying flat and bending over; until 8:00 PM "
        "avoid exercise, facials and rubbing the treated area"
    )
    stored = app.service.treatment(app.clinic.id, treatment.id)
    assert (stored.restriction, stored.restriction_reason) == ("6h", "marathon runner")
    assert set(pending(app, treatment.id)) == {"correction", "window_end:posture", "all_clear"}
    later = app.service.correct(app.clinic.id, treatment.id, performed_at=NOW + 30 * M)
    assert later.treatment.restriction == "6h"
    assert pending(app, treatment.id)["all_clear"].due_at == NOW + 6 * H + 30 * M


def test_a_treatment_for_the_wrong_patient_is_withdrawn_and_its_messages_disregarded(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    worker = dispatcher(app, channel)
    worker.dispatch_due()
    result = app.service.cancel(app.clinic.id, treatment.id, reason="wrong patient", error=True)
    assert result.withdrawal is not None
    assert result.notified
    assert result.withdrawal.body == (
        "Harbor Skin Clinic: please disregard the aftercare messages we sent you: they were "
        "sent to you in error. Questions? Call (212) 555-0143"
    )
    worker.dispatch_due()
    assert sent_texts(channel)[-1] == result.withdrawal.body
    clock.set(NOW + 4 * H)
    assert worker.dispatch_due().sent == 0  # the all-clear was cancelled
    stored = app.service.treatment(app.clinic.id, treatment.id)
    assert stored.correction_note is not None
    assert "patient told (withdrawal)" in stored.correction_note


def test_a_treatment_cancelled_before_anything_went_withdraws_nothing(app: App) -> None:
    treatment = log(app, at=NOW + H)
    result = app.service.cancel(app.clinic.id, treatment.id, reason="wrong patient", error=True)
    assert result.withdrawal is None
    assert not result.notified


def test_staff_may_choose_not_to_notify_with_a_reason_recorded(
    app: App, channel: RecordingChannel
) -> None:
    treatment = log(app)
    dispatcher(app, channel).dispatch_due()
    with pytest.raises(InputError) as raised:
        app.service.correct(app.clinic.id, treatment.id, performed_at=NOW - H, notify=False)
    assert raised.value.field == "not_notified_reason"
    result = app.service.correct(
        app.clinic.id,
        treatment.id,
        performed_at=NOW - H,
        notify=False,
        not_notified_reason="called the patient instead",
    )
    assert result.kind == "loosened"
    assert not result.notified
    assert "correction_looser" not in pending(app, treatment.id)
    assert result.treatment.correction_note is not None
    assert result.treatment.correction_note.endswith(
        "patient not told (correction_looser): called the patient instead"
    )


def test_a_dry_run_shows_the_correction_and_stores_nothing(
    app: App, channel: RecordingChannel
) -> None:
    treatment = log(app)
    dispatcher(app, channel).dispatch_due()
    before = row_counts(app)
    result = app.service.correct(app.clinic.id, treatment.id, performed_at=NOW + H, dry_run=True)
    assert result.dry_run
    assert result.correction is not None
    assert "(until 7:00 PM)" in result.correction.body
    assert result.plan is not None
    assert result.plan.restriction_end == NOW + 5 * H
    assert row_counts(app) == before
    stored = app.service.treatment(app.clinic.id, treatment.id)
    assert stored.performed_at == NOW
    cancel = app.service.cancel(
        app.clinic.id, treatment.id, reason="wrong patient", error=True, dry_run=True
    )
    assert cancel.withdrawal is not None
    assert row_counts(app) == before
    assert app.service.treatment(app.clinic.id, treatment.id).status == "active"


def test_a_patients_own_restriction_needs_a_reason_and_the_answers_support(app: App) -> None:
    treatment = log(app, restriction=6 * H, restriction_reason="marathon runner")
    stored = app.service.treatment(app.clinic.id, treatment.id)
    assert (stored.restriction, stored.restriction_reason) == ("6h", "marathon runner")
    assert [m.step_id for m in messages(app, treatment.id)] == [
        "avoid",
        "window_end:posture",
        "all_clear",
    ]
    with pytest.raises(InputError) as no_reason:
        log(app, restriction=6 * H)
    assert no_reason.value.field == "restriction_reason"
    with pytest.raises(InputError) as too_short:
        log(app, restriction=2 * H, restriction_reason="in a hurry")
    assert too_short.value.field == "restriction"
    assert "outside what the answers cited for botox support (4h to 1d)" in (
        too_short.value.message
    )


def test_a_correction_never_moves_a_treatment_outside_the_supported_lengths(app: App) -> None:
    treatment = log(app)
    with pytest.raises(InputError) as raised:
        app.service.correct(
            app.clinic.id, treatment.id, restriction=timedelta(days=3), restriction_reason="x"
        )
    assert raised.value.field == "restriction"
    assert app.service.treatment(app.clinic.id, treatment.id).restriction == "4h"
