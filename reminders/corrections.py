"""Pure: what a patient must be told when staff correct a treatment they were already sent
messages for.

A patient keeps to what they were told: each window until the end their messages
gave, or until a message said it had ended. A correction (the treatment's time, or its
restriction) moves the true ends. Where the patient now believes a window ends before
it does, or believes it has ended when it has not, they are told at once, even in the
quiet hours ("tightened"). Where they believe it lasts longer than it does, they are
told the right times, which may wait for the morning ("loosened"), or, if nothing is
left, that their window has ended ("ended"). A treatment withdrawn as logged in error
("withdrawn") tells whoever received its messages to disregard them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from reminders.planning import WindowEnd, window_ends
from reminders.policies import Policy

TIGHTENED = "tightened"
LOOSENED = "loosened"
ENDED = "ended"
WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Told:
    """What the patient holds true: each window's end as their messages gave it, and which
    windows a message told them had ended."""

    ends: dict[str, datetime]  # window id -> the end they were given
    cleared: frozenset[str]  # window ids a message said had ended


def told(
    policy: Policy,
    *,
    treatment_at: datetime,
    restriction: timedelta,
    sent_steps: Sequence[str],
) -> Told | None:
    """What the messages already sent (their step ids, in the order they went) told the
    patient of the treatment as it stands; None if nothing went."""
    if not sent_steps:
        return None
    ends = window_ends(policy, treatment_at, restriction)
    every = frozenset(w.id for g in ends for w in g.windows)
    cleared: frozenset[str] = frozenset()
    for step_id in sent_steps:
        step = policy.step(step_id)
        if step is None:
            continue
        if step.when in (TIGHTENED, LOOSENED):
            cleared = frozenset()  # the windows given again, at these times
        elif step.when == ENDED or (step.planned and step.offset.from_restriction_end):
            cleared = every  # the all-clear, or a correction saying all has ended
        elif step.at_window_ends:
            group = step_id.partition(":")[2]
            cleared |= {w.id for g in ends if g.id == group for w in g.windows}
    return Told({w.id: g.end for g in ends for w in g.windows}, cleared)


def kind_of_correction(
    told_before: Told | None, true_ends: tuple[WindowEnd, ...], now: datetime
) -> str | None:
    """Which correction the patient needs, or None: nothing went, or what they believe
    still holds (or no longer matters: every window has ended both ways)."""
    if told_before is None:
        return None
    tightened = loosened = False
    truly_active = False
    for group in true_ends:
        for window in group.windows:
            believed_end = told_before.ends.get(window.id)
            believed_active = (
                window.id not in told_before.cleared
                and believed_end is not None
                and believed_end > now
            )
            active = group.end > now
            truly_active = truly_active or active
            if active and (not believed_active or (believed_end and group.end > believed_end)):
                tightened = True
            if believed_active and (not active or (believed_end and group.end < believed_end)):
                loosened = True
    if tightened:
        return TIGHTENED
    if loosened:
        return LOOSENED if truly_active else ENDED
    return None
