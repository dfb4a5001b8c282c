"""ReminderService against real databases: logging, preview, cancel and reschedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from reminders.bootstrap import App
from reminders.clock import FixedClock
from reminders.db.models import Clinic, Message, MessageEvent, Patient, Treatment
from reminders.domain import ChannelKind, MessageState, TreatmentStatus
from reminders.errors import ConflictError, InputError, NotFoundError
from reminders.settings import ClinicSettings
from tests.support import RecordingChannel, dispatcher, log, treatment_input

NOW = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)  # the `clock` fixture's instant
RESTRICTION = timedelta(hours=4)
ALL_CLEAR_USEFUL = timedelta(hours=12)
TABLES: tuple[type[Any], ...] = (Clinic, Patient, Treatment, Message, MessageEvent)


# -- helpers -------------------------------------------------------------------


def row_counts(app: App) -> dict[str, int]:
    with app.sessions() as session:
        return {
            model.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
            for model in TABLES
        }


def patients(app: App) -> list[Patient]:
    with app.sessions() as session:
        return list(session.scalars(sa.select(Patient).order_by(Patient.id)))


def messages_of(app: App, treatment_id: int) -> list[Message]:
    """The treatment's messages, oldest first, with their events loaded."""
    with app.sessions() as session:
        return list(
            session.scalars(
                sa.select(Message)
                .where(Message.treatment_id == treatment_id)
                .options(selectinload(Message.events))
                .order_by(Message.id)
            )
        )


def by_step(messages: list[Message], state: MessageState | None = None) -> dict[str, Message]:
    """One message per step: the newest, or the newest in `state`."""
    found: dict[str, Message] = {}
    for message in messages:
        if state is None or message.state == state.value:
            found[message.step_id] = message
    return found


def other_clinic(app: App) -> Clinic:
    return app.service.sync_clinic(
        ClinicSettings(
            slug="other-clinic",
            name="Other Skin Clinic",
            phone="+12125550144",
            timezone="America/New_York",
        )
    )


# -- log_treatment -------------------------------------------------------------


def test_log_treatment_stores_patient_phone_in_e164_from_national_input(app: App) -> None:
    treatment = log(app, name="  Jane   Doe ", phone="(212) 555-0199")
    [patient] = patients(app)
    assert patient.phone == "+12125550199"
    assert patient.name == "Jane Doe"
    assert patient.clinic_id == app.clinic.id
    assert treatment.patient_id == patient.id


def test_log_treatment_stores_the_treatment(app: App) -> None:
    treatment = log(app)
    stored = app.service.treatment(app.clinic.id, treatment.id)
    policy = app.policies.get("botox")
    assert policy is not None
    assert stored.treatment_type == "botox"
    assert stored.performed_at == NOW
    assert stored.logged_at == NOW
    assert stored.status == TreatmentStatus.ACTIVE.value
    assert stored.policy_version == policy.version
    assert stored.restriction == "4h"


def test_log_treatment_defaults_performed_at_to_now_and_accepts_an_explicit_time(
    app: App,
) -> None:
    earlier = NOW - timedelta(minutes=20)
    treatment = log(app, at=earlier)
    assert app.service.treatment(app.clinic.id, treatment.id).performed_at == earlier


def test_log_treatment_plans_one_message_per_policy_step_with_its_times(app: App) -> None:
    treatment = log(app)
    policy = app.policies.get("botox")
    assert policy is not None
    messages = messages_of(app, treatment.id)
    # At 4 hours every window ends together: no message between the two.
    assert [m.step_id for m in messages] == ["avoid", "all_clear"]
    avoid, all_clear = messages
    assert (avoid.due_at, avoid.send_after, avoid.expires_at, avoid.not_before) == (
        NOW,
        NOW,
        NOW + RESTRICTION,
        None,
    )
    clear_at = NOW + RESTRICTION
    assert (all_clear.due_at, all_clear.send_after, all_clear.expires_at) == (
        clear_at,
        clear_at,
        clear_at + ALL_CLEAR_USEFUL,
    )
    assert all_clear.not_before == clear_at
    for message in messages:
        assert message.state == MessageState.PENDING.value
        assert message.policy_version == policy.version
        assert message.channel == ChannelKind.SMS.value
        assert message.attempts == 0
        assert message.clinic_id == app.clinic.id
        assert "(212) 555-0143" in message.body


def test_log_treatment_records_a_planned_event_for_each_message(app: App) -> None:
    treatment = log(app)
    for message in messages_of(app, treatment.id):
        assert [(e.kind, e.state, e.at) for e in message.events] == [("planned", "pending", NOW)]


def test_log_treatment_with_the_same_name_and_phone_reuses_the_patient(app: App) -> None:
    first = log(app, phone="212-555-0199")
    second = log(app, phone="+1 212 555 0199", name="  jane DOE ")
    assert first.patient_id == second.patient_id
    [patient] = patients(app)
    assert patient.name == "Jane Doe"
    assert row_counts(app)["treatments"] == 2


def test_another_name_on_a_known_phone_is_another_patient_and_renames_no_one(app: App) -> None:
    # Families share phones: "P6" logged with Jane's phone must not become Jane.
    first = log(app, phone="+12125550199", name="Jane Doe")
    second = log(app, phone="+12125550199", name="P6")
    assert first.patient_id != second.patient_id
    assert app.service.treatment(app.clinic.id, first.id).patient.name == "Jane Doe"
    assert app.service.treatment(app.clinic.id, second.id).patient.name == "P6"
    assert sorted(p.name for p in patients(app)) == ["Jane Doe", "P6"]


def test_a_known_name_and_email_with_a_new_phone_is_the_same_patient(app: App) -> None:
    first = log(app, phone=None, email="jane@example.com")
    second = log(app, phone="+12125550199", email="jane@example.com")
    assert first.patient_id == second.patient_id
    [patient] = patients(app)
    assert (patient.phone, patient.email) == ("+12125550199", "jane@example.com")


def test_log_treatment_with_a_different_phone_creates_another_patient(app: App) -> None:
    first = log(app, phone="+12125550199")
    second = log(app, phone="+12125550198")
    assert first.patient_id != second.patient_id


BAD_INPUTS = [
    pytest.param({"treatment": "filler"}, "treatment", id="unknown-treatment-type"),
    pytest.param({"phone": "555-01"}, "phone", id="invalid-phone"),
    pytest.param({"phone": "not a number"}, "phone", id="unparseable-phone"),
    pytest.param({"phone": None, "email": None}, "phone", id="no-contact"),
    pytest.param({"email": "jane@"}, "email", id="invalid-email"),
    pytest.param({"name": "   "}, "name", id="blank-name"),
    pytest.param(
        {"at": NOW - timedelta(days=1, seconds=1)}, "at", id="more-than-a-day-in-the-past"
    ),
    pytest.param({"at": NOW + timedelta(days=365, seconds=1)}, "at", id="more-than-a-year-ahead"),
    pytest.param(
        {"phone": "+12125550199", "email": None, "channel": ChannelKind.EMAIL},
        "email",
        id="prefers-email-without-email",
    ),
]


@pytest.mark.parametrize(("overrides", "field"), BAD_INPUTS)
def test_log_treatment_with_bad_input_raises_input_error_naming_the_field(
    app: App, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(InputError) as raised:
        log(app, **overrides)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


@pytest.mark.parametrize(("overrides", "field"), BAD_INPUTS)
def test_log_treatment_with_bad_input_stores_nothing(
    app: App, overrides: dict[str, Any], field: str
) -> None:
    log(app, name="Existing Patient")  # rows exist, and a patient a bad request could touch
    before = row_counts(app)
    before_patients = [(p.id, p.name, p.phone, p.email) for p in patients(app)]
    with pytest.raises(InputError):
        log(app, **{"name": "Renamed Patient", **overrides})
    assert row_counts(app) == before
    assert [(p.id, p.name, p.phone, p.email) for p in patients(app)] == before_patients


def test_log_treatment_accepts_exactly_one_day_in_the_past(app: App) -> None:
    treatment = log(app, at=NOW - timedelta(days=1))
    assert treatment.performed_at == NOW - timedelta(days=1)


def test_log_treatment_accepts_exactly_one_year_ahead(app: App) -> None:
    treatment = log(app, at=NOW + timedelta(days=365))
    assert treatment.performed_at == NOW + timedelta(days=365)


def test_log_treatment_for_an_unknown_clinic_is_not_found_and_stores_nothing(app: App) -> None:
    before = row_counts(app)
    with pytest.raises(NotFoundError):
        app.service.log_treatment(app.clinic.id + 999, treatment_input())
    assert row_counts(app) == before


# -- preview -------------------------------------------------------------------


def test_preview_returns_the_plan_and_stores_nothing(app: App) -> None:
    before = row_counts(app)
    plan = app.service.preview(app.clinic.id, treatment_type="botox", performed_at=NOW)
    assert [step.step_id for step in plan.steps] == ["avoid", "all_clear"]
    assert plan.steps[1].due_at == NOW + RESTRICTION
    assert row_counts(app) == before


def test_preview_of_an_unknown_treatment_type_raises_input_error(app: App) -> None:
    with pytest.raises(InputError) as raised:
        app.service.preview(app.clinic.id, treatment_type="filler", performed_at=NOW)
    assert raised.value.field == "treatment"


# -- cancel --------------------------------------------------------------------


def test_cancel_marks_pending_messages_cancelled_with_the_reason_and_an_event(
    app: App, clock: FixedClock
) -> None:
    treatment = log(app)
    clock.advance(timedelta(minutes=5))
    cancelled = app.service.cancel(app.clinic.id, treatment.id, reason="patient declined").cancelled
    messages = messages_of(app, treatment.id)
    assert sorted(cancelled) == [m.id for m in messages]
    for message in messages:
        assert message.state == MessageState.CANCELLED.value
        assert message.reason == "patient declined"
        last = message.events[-1]
        assert (last.kind, last.state, last.detail, last.at) == (
            "cancelled",
            "cancelled",
            "patient declined",
            NOW + timedelta(minutes=5),
        )
    stored = app.service.treatment(app.clinic.id, treatment.id)
    assert stored.status == TreatmentStatus.CANCELLED.value
    assert stored.cancel_reason == "patient declined"
    assert stored.cancelled_at == NOW + timedelta(minutes=5)


def test_cancel_leaves_sent_messages_sent(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    dispatcher(app, channel).dispatch_due()
    cancelled = app.service.cancel(app.clinic.id, treatment.id, reason="patient declined").cancelled
    steps = by_step(messages_of(app, treatment.id))
    assert cancelled == [steps["all_clear"].id]
    assert steps["avoid"].state == MessageState.SENT.value
    assert steps["avoid"].reason is None
    assert steps["all_clear"].state == MessageState.CANCELLED.value


def test_nothing_is_sent_after_cancel(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    worker = dispatcher(app, channel)
    worker.dispatch_due()
    app.service.cancel(app.clinic.id, treatment.id, reason="patient declined")
    for _ in range(3):
        clock.advance(RESTRICTION)
        assert worker.dispatch_due().sent == 0
    assert channel.sent_ids() == [by_step(messages_of(app, treatment.id))["avoid"].id]


def test_cancelling_twice_is_harmless(app: App, clock: FixedClock) -> None:
    treatment = log(app)
    app.service.cancel(app.clinic.id, treatment.id, reason="first reason")
    before = messages_of(app, treatment.id)
    clock.advance(timedelta(minutes=1))
    assert app.service.cancel(app.clinic.id, treatment.id, reason="second reason").cancelled == []
    after = messages_of(app, treatment.id)
    assert [(m.state, m.reason, len(m.events)) for m in after] == [
        (m.state, m.reason, len(m.events)) for m in before
    ]
    stored = app.service.treatment(app.clinic.id, treatment.id)
    assert (stored.cancel_reason, stored.cancelled_at) == ("first reason", NOW)


def test_cancel_with_another_clinics_id_is_not_found_and_changes_nothing(app: App) -> None:
    treatment = log(app)
    other = other_clinic(app)
    with pytest.raises(NotFoundError):
        app.service.cancel(other.id, treatment.id, reason="wrong clinic")
    assert {m.state for m in messages_of(app, treatment.id)} == {MessageState.PENDING.value}
    assert app.service.treatment(app.clinic.id, treatment.id).status == "active"


def test_cancel_of_an_unknown_treatment_is_not_found(app: App) -> None:
    with pytest.raises(NotFoundError):
        app.service.cancel(app.clinic.id, 12345, reason="no such treatment")


def test_looking_up_a_treatment_with_another_clinics_id_is_not_found(app: App) -> None:
    treatment = log(app)
    other = other_clinic(app)
    with pytest.raises(NotFoundError):
        app.service.treatment(other.id, treatment.id)


def test_cancel_while_its_message_waits_in_a_claimed_batch_stops_that_message(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    first = log(app, phone="+12125550101")
    second = log(app, phone="+12125550102")
    first_avoid = by_step(messages_of(app, first.id))["avoid"].id
    second_avoid = by_step(messages_of(app, second.id))["avoid"].id

    def cancel_second(outgoing: Any) -> None:
        if outgoing.message_id == first_avoid:
            app.service.cancel(app.clinic.id, second.id, reason="patient declined")

    channel.before_send = cancel_second
    dispatcher(app, channel).dispatch_due()
    assert channel.sent_ids() == [first_avoid]
    assert by_step(messages_of(app, second.id))["avoid"].state == MessageState.CANCELLED.value
    assert second_avoid not in channel.sent_ids()


def test_cancel_during_the_provider_call_reports_the_message_as_in_flight(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    avoid_id = by_step(messages_of(app, treatment.id))["avoid"].id
    results = []

    def cancel_mid_send(outgoing: Any) -> None:
        results.append(app.service.cancel(app.clinic.id, treatment.id, reason="patient declined"))

    channel.before_send = cancel_mid_send
    dispatcher(app, channel).dispatch_due()
    (result,) = results
    steps = by_step(messages_of(app, treatment.id))
    assert result.in_flight == [avoid_id]
    assert result.cancelled == [steps["all_clear"].id]
    assert steps["avoid"].state == MessageState.SENT.value


# -- reschedule ----------------------------------------------------------------


def test_reschedule_cancels_pending_messages_with_a_replanned_reason(
    app: App, clock: FixedClock
) -> None:
    treatment = log(app)
    old_ids = [m.id for m in messages_of(app, treatment.id)]
    app.service.reschedule(app.clinic.id, treatment.id, performed_at=NOW + timedelta(hours=1))
    old = [m for m in messages_of(app, treatment.id) if m.id in old_ids]
    for message in old:
        assert message.state == MessageState.CANCELLED.value
        assert message.reason is not None
        assert message.reason.startswith("re-planned: treatment time corrected to")
        assert "2026-11-27 15:00" in message.reason  # local (New York) time of the correction
        assert message.events[-1].kind == "cancelled"


def test_reschedule_plans_new_messages_at_the_corrected_time(app: App, clock: FixedClock) -> None:
    treatment = log(app)
    corrected = NOW + timedelta(hours=1)
    stored = app.service.reschedule(app.clinic.id, treatment.id, performed_at=corrected)
    assert stored.performed_at == corrected
    pending = by_step(messages_of(app, treatment.id), MessageState.PENDING)
    assert pending["avoid"].due_at == corrected
    assert pending["avoid"].expires_at == corrected + RESTRICTION
    assert pending["all_clear"].due_at == corrected + RESTRICTION
    assert pending["all_clear"].not_before == corrected + RESTRICTION
    for message in pending.values():
        assert [(e.kind, e.state) for e in message.events] == [("replanned", "pending")]


def test_reschedule_does_not_resend_an_avoid_already_sent(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    worker = dispatcher(app, channel)
    worker.dispatch_due()
    [sent_avoid] = channel.sent_ids()
    corrected = NOW - timedelta(minutes=30)
    app.service.reschedule(app.clinic.id, treatment.id, performed_at=corrected)
    messages = messages_of(app, treatment.id)
    new_avoid = [m for m in messages if m.step_id == "avoid" and m.id != sent_avoid]
    assert len(new_avoid) == 1
    assert new_avoid[0].state == MessageState.SKIPPED.value
    assert new_avoid[0].reason == "already sent before the treatment was corrected"
    assert new_avoid[0].events[-1].kind == "skipped"
    assert next(m for m in messages if m.id == sent_avoid).state == MessageState.SENT.value
    worker.dispatch_due()  # the patient was told 6:00 PM: they hear of 5:30 PM now
    clock.advance(timedelta(hours=5))
    worker.dispatch_due()
    steps = {m.id: m.step_id for m in messages_of(app, treatment.id)}
    assert [steps[i] for i in channel.sent_ids()] == ["avoid", "correction_looser", "all_clear"]


def test_rescheduled_all_clear_is_sent_at_new_time_plus_restriction(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    worker = dispatcher(app, channel)
    worker.dispatch_due()
    corrected = NOW + timedelta(hours=1)
    app.service.reschedule(app.clinic.id, treatment.id, performed_at=corrected)
    pending = by_step(messages_of(app, treatment.id), MessageState.PENDING)
    new_all_clear = pending["all_clear"]
    assert new_all_clear.due_at == corrected + RESTRICTION
    # The patient was told 2:00 PM and it is 3:00 PM: they are told at once.
    assert worker.dispatch_due().sent_ids == [pending["correction"].id]
    clock.set(NOW + RESTRICTION)  # the old all-clear's time: it was cancelled
    assert worker.dispatch_due().sent == 0
    clock.set(corrected + RESTRICTION - timedelta(seconds=1))
    assert worker.dispatch_due().sent == 0
    clock.set(corrected + RESTRICTION)
    assert worker.dispatch_due().sent_ids == [new_all_clear.id]
    assert channel.sent_ids()[-1] == new_all_clear.id


def test_reschedule_of_a_cancelled_treatment_is_a_conflict(app: App) -> None:
    treatment = log(app)
    app.service.cancel(app.clinic.id, treatment.id, reason="patient declined")
    with pytest.raises(ConflictError, match="cancelled"):
        app.service.reschedule(app.clinic.id, treatment.id, performed_at=NOW)


def test_reschedule_to_more_than_a_day_ago_raises_and_changes_nothing(app: App) -> None:
    treatment = log(app)
    before = row_counts(app)
    with pytest.raises(InputError) as raised:
        app.service.reschedule(app.clinic.id, treatment.id, performed_at=NOW - timedelta(days=2))
    assert raised.value.field == "at"
    assert row_counts(app) == before
    assert {m.state for m in messages_of(app, treatment.id)} == {MessageState.PENDING.value}


def test_reschedule_with_another_clinics_id_is_not_found(app: App) -> None:
    treatment = log(app)
    other = other_clinic(app)
    with pytest.raises(NotFoundError):
        app.service.reschedule(other.id, treatment.id, performed_at=NOW)


def test_reschedule_while_the_avoid_is_being_sent_does_not_send_it_twice(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    avoid_id = by_step(messages_of(app, treatment.id))["avoid"].id

    def correct_time_mid_send(outgoing: Any) -> None:
        if outgoing.message_id == avoid_id:
            app.service.reschedule(
                app.clinic.id, treatment.id, performed_at=NOW - timedelta(minutes=10)
            )

    channel.before_send = correct_time_mid_send
    worker = dispatcher(app, channel)
    worker.dispatch_due()
    clock.advance(timedelta(minutes=1))
    worker.dispatch_due()
    steps = {m.id: m.step_id for m in messages_of(app, treatment.id)}
    # Sent once; being told 2:00 PM when it is now 1:50 PM, the patient hears of the change.
    assert [steps[i] for i in channel.sent_ids()] == ["avoid", "correction_looser"]


def test_a_treatment_type_is_read_whatever_its_case_and_spacing(app: App) -> None:
    treatment = log(app, treatment=" Botox ")
    assert treatment.treatment_type == "botox"
