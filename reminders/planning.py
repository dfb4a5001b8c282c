"""Pure planning: treatment + policy + clinic + patient + now -> planned messages.

No I/O and no clock: `now` is passed in. Offsets are elapsed time from the
treatment instant, so a DST change moves the local clock reading, never the
interval. Every step that will not be sent, or not at its natural time, says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from reminders.clock import as_utc
from reminders.domain import ChannelKind, ClinicProfile, PatientProfile
from reminders.durations import describe_duration
from reminders.localtime import format_clock, format_clock_relative, in_span, next_wall_time
from reminders.policies import Policy, Step
from reminders.templates import render


@dataclass(frozen=True)
class PlannedStep:
    step_id: str
    channel: ChannelKind
    natural_at: datetime  # treatment + offset, before any adjustment
    due_at: datetime  # when it should go out
    expires_at: datetime | None  # never sent at or after this instant
    not_before: datetime | None  # never sent before this instant
    subject: str | None
    body: str
    skip_reason: str | None = None  # set: the step will not be sent
    note: str | None = None  # why due_at differs from natural_at

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None


@dataclass(frozen=True)
class Plan:
    treatment_at: datetime
    restriction_end: datetime
    policy_version: str
    zone: ZoneInfo
    steps: tuple[PlannedStep, ...]


def choose_channel(clinic: ClinicProfile, patient: PatientProfile) -> ChannelKind:
    """The patient's preference, else the clinic's default, else whatever contact exists."""
    reachable = {ChannelKind.SMS: patient.has_phone, ChannelKind.EMAIL: patient.has_email}
    for kind in (patient.preferred_channel, clinic.default_channel):
        if kind is not None and reachable[kind]:
            return kind
    for kind, ok in reachable.items():
        if ok:
            return kind
    raise ValueError("patient has neither a phone number nor an email address")


def plan_treatment(
    *,
    treatment_at: datetime,
    policy: Policy,
    clinic: ClinicProfile,
    patient: PatientProfile,
    now: datetime,
) -> Plan:
    """Plan every step of a policy for one treatment, as seen at `now`."""
    # Aware datetimes in a local zone add as wall-clock time; UTC adds elapsed time.
    treatment_at, now = as_utc(treatment_at), as_utc(now)
    zone = patient.timezone or clinic.timezone
    restriction_end = treatment_at + clinic.restriction
    channel = choose_channel(clinic, patient)
    steps = tuple(
        _plan_step(step, policy, clinic, patient, treatment_at, now, zone, channel)
        for step in policy.steps
    )
    return Plan(treatment_at, restriction_end, policy.version, zone, steps)


def _plan_step(
    step: Step,
    policy: Policy,
    clinic: ClinicProfile,
    patient: PatientProfile,
    treatment_at: datetime,
    now: datetime,
    zone: ZoneInfo,
    channel: ChannelKind,
) -> PlannedStep:
    restriction = clinic.restriction
    restriction_end = treatment_at + restriction
    natural = treatment_at + step.offset.resolve(restriction)
    not_before = restriction_end if step.not_before_restriction_end else None
    due = max(natural, now, not_before or natural)
    notes = []
    if due > natural:
        notes.append(f"logged {describe_duration(due - natural)} after it was due: sent now")
    skip = _late_skip(step, natural, now, restriction_end, zone, clinic)
    # Usefulness runs from the natural time; a quiet-hours hold extends it, a late log does not.
    useful_from = natural
    if not skip and step.may_wait and clinic.quiet_hours:
        held = after_quiet_hours(due, clinic, zone)
        if held != due:
            clock_24h = clinic.clock_24h
            notes.append(
                f"held from {format_clock(due, zone, clock_24h=clock_24h)} to "
                f"{format_clock(held, zone, clock_24h=clock_24h)} "
                f"by quiet hours {clinic.quiet_hours}"
            )
            due = useful_from = held
    expires = _expiry(step, treatment_at, restriction, useful_from)
    if not skip:
        skip = unhelpful_reason(step, due, expires, zone, clinic)
    subject, body = render_step(
        step,
        policy,
        clinic,
        channel=channel,
        patient_name=patient.name,
        treatment_at=treatment_at,
        restriction=restriction,
        at=due,
        zone=zone,
    )
    return PlannedStep(
        step_id=step.id,
        channel=channel,
        natural_at=natural,
        due_at=due,
        expires_at=expires,
        not_before=not_before,
        subject=subject,
        body=body,
        skip_reason=skip,
        note="; ".join(notes) or None,
    )


def render_step(
    step: Step,
    policy: Policy,
    clinic: ClinicProfile,
    *,
    channel: ChannelKind,
    patient_name: str,
    treatment_at: datetime,
    restriction: timedelta,
    at: datetime,
    zone: ZoneInfo,
) -> tuple[str | None, str]:
    """A step's subject (email only) and text, true for a message that goes at `at`.

    `restriction` is the treatment's own length, as planned, which the clinic's
    setting may have moved on from since.
    """
    values = _variables(policy, clinic, patient_name, treatment_at, restriction, at, zone)
    if channel is ChannelKind.SMS:
        return None, render(step.sms, values).strip()
    return render(step.email_subject, values).strip(), render(step.email_body, values).strip()


def _expiry(
    step: Step, treatment_at: datetime, restriction: timedelta, useful_from: datetime
) -> datetime | None:
    if step.expires_at is not None:
        return treatment_at + step.expires_at.resolve(restriction)
    if step.expires_after is not None:
        return useful_from + step.expires_after
    return None


def _late_skip(
    step: Step,
    natural: datetime,
    now: datetime,
    restriction_end: datetime,
    zone: ZoneInfo,
    clinic: ClinicProfile,
) -> str | None:
    """A step whose usefulness ran out before it was planned (a treatment logged late)."""
    if step.expires_after is None or now < natural + step.expires_after:
        return None
    return (
        f"no longer useful: due at {format_clock(natural, zone, clock_24h=clinic.clock_24h)}, "
        f"{describe_duration(now - natural)} before it was logged "
        f"(useful for {describe_duration(step.expires_after)})"
    )


def unhelpful_reason(
    step: Step, due: datetime, expires: datetime | None, zone: ZoneInfo, clinic: ClinicProfile
) -> str | None:
    """Why a step that would go at `due` is not worth sending: expired, or too little left."""
    if expires is None:
        return None
    if due >= expires:
        return (
            f"expired: it stopped being true at "
            f"{format_clock(expires, zone, clock_24h=clinic.clock_24h)}, before it could be sent"
        )
    if expires - due < step.min_useful:
        return (
            f"only {describe_duration(expires - due)} left when it could be sent, "
            f"under the {describe_duration(step.min_useful)} worth a message"
        )
    return None


def after_quiet_hours(due: datetime, clinic: ClinicProfile, zone: ZoneInfo) -> datetime:
    """`due`, or the end of the quiet hours it falls in (in `zone`)."""
    quiet = clinic.quiet_hours
    assert quiet is not None
    if not in_span(due.astimezone(zone).time(), quiet.start, quiet.end):
        return due
    return next_wall_time(due, quiet.end, zone)


def _variables(
    policy: Policy,
    clinic: ClinicProfile,
    patient_name: str,
    treatment_at: datetime,
    restriction: timedelta,
    due: datetime,
    zone: ZoneInfo,
) -> dict[str, str]:
    name = patient_name if clinic.show_patient_name else ""
    clock_24h = clinic.clock_24h
    restriction_end = treatment_at + restriction
    return {
        "clinic_name": clinic.name,
        "clinic_phone": clinic.phone_display,
        "treatment": policy.product_name if clinic.show_product_name else policy.generic_name,
        "patient_name": name,
        "greeting": f"Hi {name}, " if name else "",
        "salutation": f"Dear {name}," if name else "Hello,",
        "restriction": describe_duration(restriction),
        "remaining": describe_duration(max(restriction_end - due, timedelta(0))),
        "until": format_clock_relative(restriction_end, due, zone, clock_24h=clock_24h),
        "treatment_time": format_clock_relative(treatment_at, due, zone, clock_24h=clock_24h),
    }
