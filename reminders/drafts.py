"""A treatment not yet logged: checked as logging checks it, and the plan it would get.

The desk's log form shows this before anything is saved, so the checks are logging's
own (`intake.check`, and the contact reachability a new patient must have): a draft
that previews cleanly is one that logs cleanly.
"""

from __future__ import annotations

from reminders import intake
from reminders.intake import TreatmentInput
from reminders.patients import reachable_profile
from reminders.planning import Plan, plan_treatment
from reminders.service import ReminderService


def preview_draft(service: ReminderService, clinic_id: int, request: TreatmentInput) -> Plan:
    """The plan `request` would get if logged now, as a new patient's; stores nothing.

    Raises the InputError (naming the field) that logging it would raise.
    """
    now = service.clock.now()
    clinic = service.clinic(clinic_id)
    checked = intake.check(service.policies, clinic, request, now)
    record = intake.PatientRecord(
        id=None,
        name="",
        phone=None,
        email=None,
        preferred_channel=None,
        timezone=None,
        sms_consent_at=None,
        updated_at=now,
    )
    record.apply(checked.contact, now)
    return plan_treatment(
        treatment_at=checked.performed_at,
        policy=checked.policy,
        clinic=service.planning_profile(clinic),
        patient=reachable_profile(record),
        now=now,
        restriction=checked.restriction.length,
    )
