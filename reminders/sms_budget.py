"""Checks each policy's SMS texts against the segment budget, at their longest.

Texts are rendered with the longest values a deployment can realistically
produce, so a text that fits here fits for every clinic and patient.
"""

from __future__ import annotations

from dataclasses import dataclass

from reminders.durations import describe_duration
from reminders.policies import MAX_RESTRICTION, Policy, Problem
from reminders.sms_encoding import SmsCost, describe_char, sms_cost
from reminders.templates import render

# Two segments: 306 GSM-7 characters. Every text costs what two cost, no more.
SEGMENT_BUDGET = 2
LONGEST_NAME = "Maria Fernanda Castellanos-Rodriguez"


def longest_values(policy: Policy) -> dict[str, str]:
    clock = "12:59 PM EST on Wed 30 Dec"
    return {
        "clinic_name": "C" * 60,  # the longest name clinic settings accept
        "clinic_phone": "+44 20 7183 8750",
        "treatment": max(policy.generic_name, policy.product_name, key=len),
        "patient_name": LONGEST_NAME,
        "greeting": f"Hi {LONGEST_NAME}, ",
        "salutation": f"Dear {LONGEST_NAME},",
        "restriction": describe_duration(MAX_RESTRICTION),
        "remaining": describe_duration(MAX_RESTRICTION - MAX_RESTRICTION / 10_000),
        "until": clock,
        "treatment_time": clock,
    }


@dataclass(frozen=True)
class SmsReport:
    step_id: str
    template: SmsCost  # the text as written
    longest: SmsCost  # rendered with the longest values


def sms_reports(policy: Policy) -> list[SmsReport]:
    values = longest_values(policy)
    return [
        SmsReport(step.id, sms_cost(step.sms), sms_cost(render(step.sms, values)))
        for step in policy.steps
    ]


def sms_problems(policy: Policy) -> list[Problem]:
    problems = []
    for index, report in enumerate(sms_reports(policy)):
        key = f"steps[{index}].sms"
        for ch in report.template.non_gsm:
            problems.append(
                Problem(str(policy.path), key, f"{describe_char(ch)} forces UCS-2 encoding")
            )
        if report.longest.segments > SEGMENT_BUDGET:
            problems.append(
                Problem(
                    str(policy.path),
                    key,
                    f"{report.longest.segments} segments at its longest "
                    f"({report.longest.describe()}); the budget is {SEGMENT_BUDGET}",
                )
            )
    return problems
