"""Pure planning: treatment + policy + clinic + patient + now -> planned messages.

No I/O and no clock: `now` is passed in. Offsets are elapsed time from the
treatment instant, so a DST change moves the local clock reading, never the
interval. Every step that will not be sent, or not at its natural time, says why.

A policy's windows each last their own length (the treatment's restriction, or a
fixed length from the answers): the first message lists them all, a message goes
at each earlier window end (what may be done again, what still applies), and the
all-clear when the last one ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from reminders.clock import as_utc
from reminders.domain import ChannelKind, ClinicProfile, PatientProfile
from reminders.durations import describe_duration
from reminders.localtime import format_clock, format_clock_relative, in_span, next_wall_time
from reminders.policies import Policy, Step, Window
from reminders.sms_encoding import SEGMENT_BUDGET, sms_cost
from reminders.templates import render
from reminders.wording import Stretch, avoid_block, avoid_sentence, keep_avoiding_sentence, listed


@dataclass(frozen=True)
class WindowEnd:
    """The windows that end at one instant."""

    end: datetime
    windows: tuple[Window, ...]

    @property
    def id(self) -> str:
        return "+".join(w.id for w in self.windows)

    @property
    def avoid(self) -> tuple[str, ...]:
        return tuple(item for w in self.windows for item in w.avoid)

    @property
    def resume(self) -> tuple[str, ...]:
        return tuple(item for w in self.windows for item in w.resume)


@dataclass(frozen=True)
class PlannedStep:
    step_id: str  # the policy step's id; `window_end:posture` for one sent at a window's end
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
    restriction_end: datetime  # when the last window ends
    restriction: timedelta  # the treatment's restriction length
    policy_version: str
    zone: ZoneInfo
    windows: tuple[WindowEnd, ...]  # soonest first
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


def window_ends(
    policy: Policy, treatment_at: datetime, restriction: timedelta
) -> tuple[WindowEnd, ...]:
    """The policy's windows for a treatment, grouped by when they end, soonest first."""
    by_end: dict[datetime, list[Window]] = {}
    for window in policy.windows:
        by_end.setdefault(treatment_at + window.resolve(restriction), []).append(window)
    return tuple(WindowEnd(end, tuple(windows)) for end, windows in sorted(by_end.items()))


@dataclass(frozen=True)
class _Timing:
    step_id: str
    natural: datetime
    not_before: datetime | None
    span: timedelta  # from the treatment until the last window ends
    ends: tuple[WindowEnd, ...] | None = None  # the treatment's window ends, when known


def plan_treatment(
    *,
    treatment_at: datetime,
    policy: Policy,
    clinic: ClinicProfile,
    patient: PatientProfile,
    now: datetime,
    restriction: timedelta | None = None,
) -> Plan:
    """Plan every step of a policy for one treatment, as seen at `now`.

    `restriction` is the treatment's own length (a patient's override); the
    clinic's when not given.
    """
    # Aware datetimes in a local zone add as wall-clock time; UTC adds elapsed time.
    treatment_at, now = as_utc(treatment_at), as_utc(now)
    restriction = restriction or clinic.restriction
    zone = patient.timezone or clinic.timezone
    ends = window_ends(policy, treatment_at, restriction)
    restriction_end = ends[-1].end
    channel = choose_channel(clinic, patient)
    steps = tuple(
        _plan_step(
            step, timing, policy, clinic, patient, treatment_at, restriction, now, zone, channel
        )
        for step in policy.steps
        if step.planned
        for timing in _timings(step, treatment_at, ends)
    )
    return Plan(treatment_at, restriction_end, restriction, policy.version, zone, ends, steps)


def plan_step_now(
    step: Step,
    *,
    treatment_at: datetime,
    policy: Policy,
    clinic: ClinicProfile,
    patient: PatientProfile,
    now: datetime,
    restriction: timedelta,
) -> PlannedStep:
    """One step planned to go now (a correction), with the same rules as a planned step:
    held through the quiet hours if it may wait, skipped if it would not be worth it."""
    treatment_at, now = as_utc(treatment_at), as_utc(now)
    span = window_ends(policy, treatment_at, restriction)[-1].end - treatment_at
    return _plan_step(
        step,
        _Timing(step.id, now, None, span),
        policy,
        clinic,
        patient,
        treatment_at,
        restriction,
        now,
        patient.timezone or clinic.timezone,
        choose_channel(clinic, patient),
    )


def _timings(step: Step, treatment_at: datetime, ends: tuple[WindowEnd, ...]) -> list[_Timing]:
    last = ends[-1].end
    span = last - treatment_at
    if step.at_window_ends:
        return [
            _Timing(
                f"{step.id}:{group.id}", group.end, group.end if _waits(step) else None, span, ends
            )
            for group in ends[:-1]
        ]
    natural = treatment_at + step.offset.resolve(span)
    return [_Timing(step.id, natural, last if _waits(step) else None, span, ends)]


def _waits(step: Step) -> bool:
    return step.not_before_restriction_end


def _plan_step(
    step: Step,
    timing: _Timing,
    policy: Policy,
    clinic: ClinicProfile,
    patient: PatientProfile,
    treatment_at: datetime,
    restriction: timedelta,
    now: datetime,
    zone: ZoneInfo,
    channel: ChannelKind,
) -> PlannedStep:
    natural, not_before = timing.natural, timing.not_before
    span = timing.span
    due = max(natural, now, not_before or natural)
    notes = []
    if due > natural:
        notes.append(f"logged {describe_duration(due - natural)} after it was due: sent now")
    skip = _late_skip(step, natural, now, zone, clinic)
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
    expires = _expiry(step, treatment_at, span, useful_from)
    if not skip:
        skip = unhelpful_reason(step, due, expires, zone, clinic)
    subject, body = render_step(
        step,
        policy,
        clinic,
        step_id=timing.step_id,
        channel=channel,
        patient_name=patient.name,
        treatment_at=treatment_at,
        restriction=restriction,
        at=due,
        zone=zone,
        ends=timing.ends,
    )
    return PlannedStep(
        step_id=timing.step_id,
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
    step_id: str,
    channel: ChannelKind,
    patient_name: str,
    treatment_at: datetime,
    restriction: timedelta,
    at: datetime,
    zone: ZoneInfo,
    ends: tuple[WindowEnd, ...] | None = None,
) -> tuple[str | None, str]:
    """A step's subject (email only) and text, true for a message that goes at `at`.

    `restriction` is the treatment's own length, as planned, which the clinic's
    setting may have moved on from since. A text that a patient's name (where the
    clinic shows names) would take over the segment budget goes without it.
    """
    values = _variables(
        step, step_id, policy, clinic, patient_name, treatment_at, restriction, at, zone
    )
    values.known_ends = ends
    if channel is not ChannelKind.SMS:
        return render(step.email_subject, values).strip(), render(step.email_body, values).strip()
    body = render(step.sms, values).strip()
    if patient_name and clinic.show_patient_name and sms_cost(body).segments > SEGMENT_BUDGET:
        return render_step(
            step,
            policy,
            clinic,
            step_id=step_id,
            channel=channel,
            patient_name="",
            treatment_at=treatment_at,
            restriction=restriction,
            at=at,
            zone=zone,
            ends=ends,
        )
    return None, body


def _expiry(
    step: Step, treatment_at: datetime, span: timedelta, useful_from: datetime
) -> datetime | None:
    if step.expires_at is not None:
        return treatment_at + step.expires_at.resolve(span)
    if step.expires_after is not None:
        return useful_from + step.expires_after
    return None


def _late_skip(
    step: Step,
    natural: datetime,
    now: datetime,
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
    step: Step,
    step_id: str,
    policy: Policy,
    clinic: ClinicProfile,
    patient_name: str,
    treatment_at: datetime,
    restriction: timedelta,
    due: datetime,
    zone: ZoneInfo,
) -> _Values:
    name = patient_name if clinic.show_patient_name else ""
    values = _Values(
        _Context(step, step_id, policy, clinic, treatment_at, restriction, due, zone),
        {
            "clinic_name": clinic.name,
            "clinic_phone": clinic.phone_display,
            "treatment": policy.product_name if clinic.show_product_name else policy.generic_name,
            "patient_name": name,
            "greeting": f"Hi {name}, " if name else "",
            "salutation": f"Dear {name}," if name else "Hello,",
        },
    )
    return values


@dataclass(frozen=True)
class _Context:
    step: Step
    step_id: str
    policy: Policy
    clinic: ClinicProfile
    treatment_at: datetime
    restriction: timedelta
    due: datetime
    zone: ZoneInfo


class _Values(dict[str, str]):
    """A template's variables, each worked out only if the template names it: a text
    uses a few, and the windows' sentences and lists cost more than the rest."""

    def __init__(self, context: _Context, simple: dict[str, str]) -> None:
        super().__init__(simple)
        self.context = context
        self.known_ends: tuple[WindowEnd, ...] | None = None

    def __missing__(self, key: str) -> str:
        compute = _COMPUTED.get(key)
        if compute is None:
            raise KeyError(key)
        value = compute(self)
        self[key] = value
        return value

    @property
    def ends(self) -> tuple[WindowEnd, ...]:
        if self.known_ends is None:
            c = self.context
            self.known_ends = window_ends(c.policy, c.treatment_at, c.restriction)
        return self.known_ends

    def clock(self, instant: datetime) -> str:
        c = self.context
        return format_clock_relative(instant, c.due, c.zone, clock_24h=c.clinic.clock_24h)

    def stretches(self, groups: list[WindowEnd]) -> list[Stretch]:
        due = self.context.due
        return [Stretch(g.avoid, describe_duration(g.end - due), self.clock(g.end)) for g in groups]

    def own(self) -> WindowEnd | None:
        c = self.context
        return _own_end(c.step, c.step_id, self.ends)

    def active(self) -> list[WindowEnd]:
        return [g for g in self.ends if g.end > self.context.due]

    def later(self) -> list[WindowEnd]:
        own = self.own()
        return [g for g in self.ends if own is not None and g.end > own.end]


def _resumed(v: _Values) -> str:
    own = v.own()
    return listed(own.resume) if own else ""


def _next(v: _Values) -> str:
    c = v.context
    return _next_message(c.policy, c.clinic, v.ends, c.due, c.zone)


_COMPUTED: dict[str, Callable[[_Values], str]] = {
    "restriction": lambda v: describe_duration(v.context.restriction),
    "remaining": lambda v: describe_duration(max(v.ends[-1].end - v.context.due, timedelta(0))),
    "until": lambda v: v.clock(v.ends[-1].end),
    "treatment_time": lambda v: v.clock(v.context.treatment_at),
    "avoid_windows": lambda v: avoid_sentence(v.stretches(v.active())),
    "avoid_list": lambda v: avoid_block(v.stretches(v.active())),
    "resumed": _resumed,
    "still_avoid": lambda v: keep_avoiding_sentence(v.stretches(v.later())),
    "still_list": lambda v: avoid_block(v.stretches(v.later()), keep=True),
    "next_message": _next,
}


def _own_end(step: Step, step_id: str, ends: tuple[WindowEnd, ...]) -> WindowEnd | None:
    """The window end a step is sent at: its own for a window-end step, the last for the
    all-clear; none for a step at a fixed offset."""
    if step.at_window_ends:
        group_id = step_id.partition(":")[2]
        return next((g for g in ends if g.id == group_id), None)
    if step.when == "ended":  # a correction: every window has ended
        return WindowEnd(ends[-1].end, tuple(w for g in ends for w in g.windows))
    if step.offset.from_restriction_end:
        return ends[-1]
    return None


def _next_message(
    policy: Policy,
    clinic: ClinicProfile,
    ends: tuple[WindowEnd, ...],
    at: datetime,
    zone: ZoneInfo,
) -> str:
    """When the patient will hear from us next: at the next window end, or once the quiet
    hours it falls in are over. Empty when no window ends after `at`."""
    upcoming = [g.end for g in ends if g.end > at]
    if not upcoming:
        return ""
    when = upcoming[0]
    waits = any(
        s.may_wait for s in policy.steps if s.at_window_ends or s.offset.from_restriction_end
    )
    if waits and clinic.quiet_hours:
        when = after_quiet_hours(when, clinic, zone)
    clock = format_clock_relative(when, at, zone, clock_24h=clinic.clock_24h)
    return f"We will write again at {clock}."
