"""The front desk's day: who is still in their restriction, who has been cleared, and
which messages go next.

`board` is a pure function over treatments already read (with their patients and
messages) and the instant `now`; the windows of each treatment come from its policy
and its own restriction length, as planning computes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from reminders.db.models import Message, Treatment
from reminders.domain import MessageState, TreatmentStatus
from reminders.durations import parse_duration
from reminders.localtime import start_of_local_day
from reminders.planning import WindowEnd, window_ends
from reminders.policies import Policy

# How far back a treatment may still be in its restriction: the longest a clinic's
# own sourced restriction may reasonably run. Treatments older than this are history.
LOOKBACK = timedelta(days=7)
# The messages shown as "due next": enough for a desk to glance at.
DUE_NEXT_LIMIT = 12


@dataclass(frozen=True)
class Line:
    """One treatment on the board."""

    treatment_id: int
    patient_name: str
    treatment_type: str
    performed_at: datetime
    restriction_end: datetime
    # What the patient still avoids now, and until when (soonest first); empty once cleared.
    avoiding: tuple[tuple[str, datetime], ...]


@dataclass(frozen=True)
class Due:
    """A message still to go."""

    message_id: int
    treatment_id: int
    patient_name: str
    step_id: str
    channel: str
    due_at: datetime


@dataclass(frozen=True)
class Board:
    day_start: datetime
    in_restriction: tuple[Line, ...]  # clearing soonest first
    cleared_today: tuple[Line, ...]  # cleared most recently first
    due_next: tuple[Due, ...]  # soonest first


def board(
    treatments: Sequence[Treatment],
    *,
    now: datetime,
    zone: ZoneInfo,
    policy_for: Callable[[str], Policy | None],
) -> Board:
    """Sort the clinic's recent treatments into the day's lists."""
    day_start = start_of_local_day(now, zone)
    active = [t for t in treatments if t.status == TreatmentStatus.ACTIVE.value]
    lines = [line for t in active if (line := _line(t, now, policy_for)) is not None]
    in_restriction = sorted(
        (line for line in lines if line.restriction_end > now),
        key=lambda line: (line.restriction_end, line.treatment_id),
    )
    cleared = sorted(
        (line for line in lines if day_start <= line.restriction_end <= now),
        key=lambda line: (line.restriction_end, line.treatment_id),
        reverse=True,
    )
    return Board(day_start, tuple(in_restriction), tuple(cleared), _due_next(active))


def _line(
    treatment: Treatment, now: datetime, policy_for: Callable[[str], Policy | None]
) -> Line | None:
    policy = policy_for(treatment.treatment_type)
    if policy is None:  # a policy since removed: nothing to say about its windows
        return None
    ends = window_ends(policy, treatment.performed_at, parse_duration(treatment.restriction))
    return Line(
        treatment_id=treatment.id,
        patient_name=treatment.patient.name,
        treatment_type=treatment.treatment_type,
        performed_at=treatment.performed_at,
        restriction_end=ends[-1].end,
        avoiding=_avoiding(ends, now),
    )


def _avoiding(ends: Sequence[WindowEnd], now: datetime) -> tuple[tuple[str, datetime], ...]:
    return tuple((item, end.end) for end in ends if end.end > now for item in end.avoid)


def _due_next(treatments: Sequence[Treatment]) -> tuple[Due, ...]:
    pending = [
        (message, treatment)
        for treatment in treatments
        for message in treatment.messages
        if message.state == MessageState.PENDING.value
    ]
    pending.sort(key=lambda pair: (pair[0].due_at, pair[0].id))
    return tuple(_due(message, treatment) for message, treatment in pending[:DUE_NEXT_LIMIT])


def _due(message: Message, treatment: Treatment) -> Due:
    return Due(
        message_id=message.id,
        treatment_id=treatment.id,
        patient_name=treatment.patient.name,
        step_id=message.step_id,
        channel=message.channel,
        due_at=message.due_at,
    )
