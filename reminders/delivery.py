"""What a send means for the patient beyond the message itself: consent and
opt-outs checked at send time, an opt-out recorded, a fallback to email.

Called by the dispatcher inside the transaction that settles the message, so
the outcome and its consequences commit together.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from reminders.clinics import clinic_settings_of
from reminders.db import plans, repo
from reminders.db.claims import ClaimedMessage
from reminders.db.models import Message
from reminders.domain import ChannelKind, EventKind, PatientProfile
from reminders.planning import plan_treatment
from reminders.policies import PolicySet


def sms_block_reason(message: ClaimedMessage) -> str | None:
    """Why this text must not go now, if it must not."""
    if not message.sms_consent:
        return "no consent to texts on record"
    if message.opted_out:
        return "the patient opted out of texts (STOP)"
    return None


def record_opt_out(session: Session, message: Message, *, source: str, now: datetime) -> list[int]:
    """Remember the opt-out and cancel every other text to that phone from the clinic."""
    phone = message.treatment.patient.phone
    if not phone:
        return []
    repo.record_opt_out(session, clinic_id=message.clinic_id, phone=phone, source=source, now=now)
    return repo.cancel_unsent_sms(
        session,
        clinic_id=message.clinic_id,
        phone=phone,
        reason=f"patient opted out of texts ({source})",
        now=now,
    )


def email_fallback(
    session: Session, message: Message, *, policies: PolicySet, now: datetime, why: str
) -> int | None:
    """Plan the same step by email, if the clinic allows it and the patient has an address.

    The step is planned again as of now, so an expired step is not revived
    and the email's text is the email text of the same policy step.
    """
    treatment = message.treatment
    patient = treatment.patient
    policy = policies.get(treatment.treatment_type)
    if message.channel != ChannelKind.SMS.value:
        return None  # email is the fallback: a refused email has nowhere else to go
    if not (treatment.clinic.email_fallback and patient.email and policy):
        return None
    profile = PatientProfile(
        name=patient.name,
        has_phone=False,
        has_email=True,
        preferred_channel=ChannelKind.EMAIL,
        timezone=ZoneInfo(patient.timezone) if patient.timezone else None,
    )
    plan = plan_treatment(
        treatment_at=treatment.performed_at,
        policy=policy,
        clinic=clinic_settings_of(treatment.clinic).profile(),
        patient=profile,
        now=now,
    )
    step = next((s for s in plan.steps if s.step_id == message.step_id), None)
    if step is None or step.skipped:
        return None
    [stored] = plans.insert(
        session.connection(),
        [
            plans.NewMessage(
                treatment.clinic_id,
                treatment.id,
                step,
                plan.policy_version,
                EventKind.PLANNED,
                note=f"email instead of text message {message.id}: {why}",
            )
        ],
        now,
    )
    return stored.id
