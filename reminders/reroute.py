"""When a channel can no longer reach a patient: what is left of their aftercare moves to
another channel, or the desk is told to call.

Texts stop being possible when the patient opts out (STOP, or Twilio's 21610),
when the number cannot take texts (invalid, not a mobile), or when no consent
to texts is on record at send time. Then every text still to go for that
phone (or that patient) is cancelled, and each of those steps, and the one
that failed, is planned again by email as of now where the clinic allows it
and the patient has an address. A step nothing can carry any more is put to
staff as "needs a call", naming what the patient will miss.

Everything here runs inside the transaction that records the cause, so the
cause and its consequences commit together.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from reminders.clinics import ClinicProfiles
from reminders.db import plans, repo
from reminders.db.models import Message, Treatment
from reminders.domain import AlertKind, ChannelKind, EventKind, PatientProfile, TreatmentStatus
from reminders.durations import parse_duration
from reminders.localtime import format_staff
from reminders.planning import PlannedStep, plan_treatment
from reminders.policies import PolicySet


@dataclass(frozen=True)
class Rerouted:
    emailed: list[int]  # the new email messages
    missed: list[int]  # messages whose step nothing can carry now (staff alerted)


@dataclass(frozen=True)
class Reroutes:
    """What rerouting needs from the running service."""

    policies: PolicySet
    profiles: ClinicProfiles


def stop_texts(
    session: Session,
    context: Reroutes,
    *,
    clinic_id: int,
    phone: str | None = None,
    patient_id: int | None = None,
    why: str,
    now: datetime,
    also: Sequence[int] = (),
) -> Rerouted:
    """Texts to this phone (every patient on it) or to this one patient stop: their unsent
    texts are cancelled, and those steps and the messages `also` named move to email."""
    cancelled = repo.cancel_unsent_texts(
        session,
        clinic_id=clinic_id,
        phone=phone,
        patient_id=patient_id,
        reason=f"texts stopped: {why}",
        now=now,
    )
    return reroute(session, context, [*also, *cancelled], why=why, now=now)


def reroute(
    session: Session, context: Reroutes, message_ids: Sequence[int], *, why: str, now: datetime
) -> Rerouted:
    """Plan each message's step again by email as of now, where it is still worth sending;
    staff are alerted to steps nothing can carry (no address, email not allowed, or the
    message was an email already)."""
    messages = repo.messages_with_treatments(session, ids=message_ids)
    live = repo.live_steps(
        session,
        treatment_ids=sorted({m.treatment_id for m in messages}),
        channel=ChannelKind.EMAIL.value,
    )
    new: list[plans.NewMessage] = []
    missed: dict[int, list[Message]] = defaultdict(list)
    for message in messages:
        treatment = message.treatment
        key = (treatment.id, message.step_id)
        if treatment.status != TreatmentStatus.ACTIVE.value or key in live:
            continue  # cancelled by staff, or its email is already planned
        step = _by_email(context, message, now)
        if step is None:
            missed[treatment.id].append(message)
        elif not step.skipped:
            live.add(key)
            new.append(
                plans.NewMessage(
                    treatment.clinic_id,
                    treatment.id,
                    step,
                    _policy_version(context, treatment),
                    EventKind.PLANNED,
                    note=f"email instead of text message {message.id}: {why}",
                )
            )
    stored = plans.insert(session.connection(), new, now)
    for treatment_messages in missed.values():
        _alert(session, treatment_messages, why=why, now=now)
    return Rerouted([s.id for s in stored], [m.id for ms in missed.values() for m in ms])


def _by_email(context: Reroutes, message: Message, now: datetime) -> PlannedStep | None:
    """The step planned by email as of now; None when email cannot carry it."""
    treatment = message.treatment
    patient = treatment.patient
    policy = context.policies.get(treatment.treatment_type)
    if message.channel != ChannelKind.SMS.value:
        return None  # email is the fallback: a refused email has nowhere else to go
    if not (treatment.clinic.email_fallback and patient.email and policy):
        return None
    clinic = dataclasses.replace(
        context.profiles.of(treatment.clinic), restriction=parse_duration(treatment.restriction)
    )
    plan = plan_treatment(
        treatment_at=treatment.performed_at,
        policy=policy,
        clinic=clinic,
        patient=PatientProfile(
            name=patient.name,
            has_phone=False,
            has_email=True,
            preferred_channel=ChannelKind.EMAIL,
            timezone=ZoneInfo(patient.timezone) if patient.timezone else None,
        ),
        now=now,
    )
    return next((s for s in plan.steps if s.step_id == message.step_id), None)


def _unreachable(message: Message) -> str:
    treatment = message.treatment
    if message.channel == ChannelKind.EMAIL.value:
        return "the email did not go either"
    if not treatment.patient.email:
        return "no email address on record"
    if not treatment.clinic.email_fallback:
        return "the clinic does not email instead of texting"
    return "no policy to write the email from"


def _policy_version(context: Reroutes, treatment: Treatment) -> str:
    policy = context.policies.get(treatment.treatment_type)
    return policy.version if policy else treatment.policy_version


def _alert(session: Session, messages: Sequence[Message], *, why: str, now: datetime) -> None:
    treatment = messages[0].treatment
    patient = treatment.patient
    zone = ZoneInfo(patient.timezone or treatment.clinic.timezone)
    steps = ", ".join(
        f"{m.step_id} (due {format_staff(m.due_at, zone)})"
        for m in sorted(messages, key=lambda m: m.due_at)
    )
    reach = _unreachable(messages[0])
    repo.raise_alert(
        session,
        clinic_id=treatment.clinic_id,
        treatment_id=treatment.id,
        kind=AlertKind.NEEDS_CALL,
        detail=f"{why}; {reach}: the patient will miss {steps}",
        now=now,
    )
