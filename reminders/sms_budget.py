"""Checks each policy's SMS texts against the segment budget, at their longest.

Texts are rendered with the longest values a clinic's settings can produce: a
60-character clinic name, the longest phone number, the longest times ("12:59 AM
(new time) tomorrow", a day further with a restriction over a day) and durations ("23
hours and 59 minutes"), for each restriction length the policy supports and each
message its windows make. A text that fits here fits for every clinic and patient
at those lengths. A clinic's own name, phone and length are checked the same way
(`clinic_sms_problems`). Patient names, where a clinic shows them, are left out of
any text they would take over the budget (see planning), so they are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from reminders.durations import describe_duration, format_duration
from reminders.planning import WindowEnd, window_ends
from reminders.policies import Policy, Problem, Step
from reminders.sms_encoding import SEGMENT_BUDGET, SmsCost, describe_char, sms_cost
from reminders.templates import render
from reminders.wording import Stretch, avoid_sentence, keep_avoiding_sentence, listed

LONGEST_CLINIC_NAME = "C" * 60  # the longest name clinic settings accept
LONGEST_PHONE = "+44 20 7183 8750"
# The longest a time reads: a repeated hour in a zone with only numeric abbreviations.
_CLOCK = "12:59 AM (new time)"


@dataclass(frozen=True)
class SmsReport:
    step_id: str  # the message: "avoid", "window_end:posture", "all_clear"
    restriction: timedelta
    template: SmsCost  # the text as written
    longest: SmsCost  # rendered with the longest values


def sms_reports(
    policy: Policy,
    *,
    restrictions: tuple[timedelta, ...] | None = None,
    clinic_name: str = LONGEST_CLINIC_NAME,
    clinic_phone: str = LONGEST_PHONE,
) -> list[SmsReport]:
    """Every text the policy can send, at its longest, for each restriction length
    (by default the shortest and longest the policy supports)."""
    lengths = restrictions or tuple(dict.fromkeys((policy.shortest, policy.longest)))
    reports = []
    for restriction in lengths:
        groups = _groups(policy, restriction)
        for step in policy.steps:
            for step_id, values in _instances(step, policy, groups, clinic_name, clinic_phone):
                reports.append(
                    SmsReport(
                        step_id,
                        restriction,
                        sms_cost(step.sms),
                        sms_cost(render(step.sms, values)),
                    )
                )
    return reports


def sms_problems(policy: Policy) -> list[Problem]:
    """Characters that force UCS-2 in the texts or the windows' words, and texts over budget."""
    problems = []
    for index, step in enumerate(policy.steps):
        problems += [
            Problem(str(policy.path), f"steps[{index}].sms", f"{describe_char(ch)} forces UCS-2")
            for ch in sms_cost(step.sms).non_gsm
        ]
    for index, window in enumerate(policy.windows):
        for field in ("avoid", "resume"):
            words = " ".join(getattr(window, field))
            problems += [
                Problem(
                    str(policy.path),
                    f"windows[{index}].{field}",
                    f"{describe_char(ch)} forces UCS-2",
                )
                for ch in sms_cost(words).non_gsm
            ]
    steps = {step.id: index for index, step in enumerate(policy.steps)}
    for report in sms_reports(policy):
        if report.longest.segments > SEGMENT_BUDGET:
            index = steps[report.step_id.partition(":")[0]]
            problems.append(
                Problem(
                    str(policy.path),
                    f"steps[{index}].sms",
                    f"{report.step_id} at {format_duration(report.restriction)}: "
                    f"{report.longest.segments} segments at its longest "
                    f"({report.longest.describe()}); the budget is {SEGMENT_BUDGET}",
                )
            )
    return problems


def clinic_sms_problems(
    policy: Policy, *, name: str, phone: str, restriction: timedelta
) -> list[tuple[str, str]]:
    """What in a clinic's settings breaks the policy's texts, as (setting, message)."""
    problems = [
        (field, f"{describe_char(ch)} forces UCS-2: every text would cost twice or more")
        for field, value in (("name", name), ("phone", phone))
        for ch in sms_cost(value).non_gsm
    ]
    if problems:
        return problems
    over = [
        report
        for report in sms_reports(
            policy, restrictions=(restriction,), clinic_name=name, clinic_phone=phone
        )
        if report.longest.segments > SEGMENT_BUDGET
    ]
    if not over:
        return []
    worst = max(over, key=lambda r: r.longest.units)
    spare = SEGMENT_BUDGET * 153 - worst.longest.units
    return [
        (
            "name",
            f"with this name ({len(name)} characters) and a {format_duration(restriction)} "
            f"restriction, the {worst.step_id} text takes {worst.longest.segments} segments "
            f"at its longest ({worst.longest.describe()}); the budget is {SEGMENT_BUDGET}: "
            f"shorten the name to {max(len(name) + spare, 1)} characters or fewer",
        )
    ]


# Any instant serves: the budget reads the windows' lengths, not their times.
_SOME_TREATMENT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _Group:
    """Windows that end together, by their length."""

    length: timedelta
    ends: WindowEnd

    @property
    def id(self) -> str:
        return self.ends.id

    @property
    def avoid(self) -> tuple[str, ...]:
        return self.ends.avoid

    @property
    def resume(self) -> tuple[str, ...]:
        return self.ends.resume


def _groups(policy: Policy, restriction: timedelta) -> list[_Group]:
    return [
        _Group(ends.end - _SOME_TREATMENT, ends)
        for ends in window_ends(policy, _SOME_TREATMENT, restriction)
    ]


def _instances(
    step: Step, policy: Policy, groups: list[_Group], name: str, phone: str
) -> list[tuple[str, dict[str, str]]]:
    if step.at_window_ends:
        return [
            (f"{step.id}:{group.id}", _values(policy, groups, group, name, phone))
            for group in groups[:-1]
        ]
    if step.when == "ended":
        # Everything has ended: all the windows' words, none still to avoid.
        last = groups[-1]
        every = WindowEnd(last.ends.end, tuple(w for g in groups for w in g.ends.windows))
        return [(step.id, _values(policy, groups, _Group(last.length, every), name, phone))]
    own = groups[-1] if step.offset.from_restriction_end else None
    return [(step.id, _values(policy, groups, own, name, phone))]


def _values(
    policy: Policy, groups: list[_Group], own: _Group | None, name: str, phone: str
) -> dict[str, str]:
    """The longest words each variable can take for a message sent at `own`'s end (or at
    the treatment), a minute late, so every duration reads in hours and minutes."""
    span = groups[-1].length

    def stretch(group: _Group) -> Stretch:
        return Stretch(
            group.avoid,
            describe_duration(group.length - timedelta(minutes=1)),
            _clock(group.length),
        )

    later = [g for g in groups if own is not None and g.length > own.length]
    return {
        "clinic_name": name,
        "clinic_phone": phone,
        "treatment": max(policy.generic_name, policy.product_name, key=len),
        "patient_name": "",
        "greeting": "",
        "salutation": "Hello,",
        "restriction": describe_duration(span),
        "remaining": _longest_words(span),
        "until": _clock(span),
        "treatment_time": _clock(timedelta(days=2)),
        "avoid_windows": avoid_sentence([stretch(g) for g in groups]),
        "avoid_list": "",
        "resumed": listed(own.resume) if own else "",
        "still_avoid": keep_avoiding_sentence([stretch(g) for g in later]),
        "still_list": "",
        "next_message": "",
    }


@lru_cache(maxsize=64)
def _longest_words(length: timedelta) -> str:
    """The longest way any time left under `length` reads, to the minute ("23 hours and 59
    minutes"; past a day, "1 day, 23 hours and 59 minutes" may be longer than the length
    less a minute)."""
    minutes = int(length.total_seconds()) // 60
    return max((describe_duration(timedelta(minutes=m)) for m in range(minutes)), key=len)


def _clock(ahead: timedelta) -> str:
    """The longest way a time this far ahead reads: within a day it is today or tomorrow."""
    return f"{_CLOCK} tomorrow" if ahead <= timedelta(days=1) else f"{_CLOCK} on Wed 30 Dec"
