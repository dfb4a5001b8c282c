"""Checks a clinic's settings against the policies it will send: a restriction length the
cited answers support (or the clinic's own source for another), and a name and phone that
keep every text in GSM-7 and within the segment budget.

Run when the clinic in `config/clinic.toml` loads and when a clinic is added: a clinic
whose texts would break is refused with the setting named, before anything is sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import phonenumbers

from reminders.durations import format_duration, parse_duration
from reminders.policies import PolicySet
from reminders.settings import ClinicSettings
from reminders.sms_budget import clinic_sms_problems
from reminders.sources import normalise
from reminders.test_mode import problems as test_mode_problems


@dataclass(frozen=True)
class ClinicProblem:
    setting: str  # "restriction", "name", ...
    message: str

    def __str__(self) -> str:
        return f"clinic.{self.setting}: {self.message}"


def check_clinic(
    settings: ClinicSettings, policies: PolicySet, sources: Path
) -> tuple[ClinicSettings, list[ClinicProblem]]:
    """The settings as stored (the clinic's own source named with its version), and every
    problem found; the settings are only to be used when there are none."""
    problems: list[ClinicProblem] = []
    version = None
    if settings.restriction_source or settings.restriction_quote:
        version, found = _source_version(settings, sources)
        problems += found
    problems += _restriction(settings, policies, sourced=version is not None)
    problems += _texts(settings, policies)
    problems += [ClinicProblem(field, message) for field, message in test_mode_problems(settings)]
    stored = settings.model_copy(update={"restriction_source": version})
    return stored, problems


def source_file(versioned: str) -> str:
    """`harbor-protocol.txt` from `harbor-protocol.txt@1a2b3c4d5e6f`."""
    return versioned.rpartition("@")[0] or versioned


def _source_version(
    settings: ClinicSettings, sources: Path
) -> tuple[str | None, list[ClinicProblem]]:
    name, quote = settings.restriction_source, settings.restriction_quote
    if not (name and quote):
        return None, [
            ClinicProblem(
                "restriction_source",
                "a clinic's own source needs both restriction_source (a file in "
                "config/sources) and restriction_quote (the sentence that sets the length)",
            )
        ]
    name = source_file(name)
    path = (sources / name).resolve()
    if path.parent != sources.resolve() or not path.is_file():
        return None, [ClinicProblem("restriction_source", f"no file {name!r} in {sources}")]
    content = path.read_bytes()
    if normalise(quote) not in normalise(content.decode("utf-8", errors="replace")):
        return None, [ClinicProblem("restriction_quote", f"not found word for word in {name}")]
    return f"{name}@{hashlib.sha256(content).hexdigest()[:12]}", []


def _restriction(
    settings: ClinicSettings, policies: PolicySet, *, sourced: bool
) -> list[ClinicProblem]:
    length = parse_duration(settings.restriction)
    problems = []
    for treatment in policies.treatments:
        policy = policies.policies[treatment]
        if policy.supports(length) or sourced:
            continue
        problems.append(
            ClinicProblem(
                "restriction",
                f"{format_duration(length)} is outside what the answers cited for "
                f"{treatment} support ({format_duration(policy.shortest)} to "
                f"{format_duration(policy.longest)}); a clinic that asks for another length "
                "names its own source (restriction_source, restriction_quote)",
            )
        )
    return problems


def _texts(settings: ClinicSettings, policies: PolicySet) -> list[ClinicProblem]:
    display = phonenumbers.format_number(
        phonenumbers.parse(settings.phone, None), phonenumbers.PhoneNumberFormat.NATIONAL
    )
    found: dict[tuple[str, str], None] = {}
    for treatment in policies.treatments:
        for setting, message in clinic_sms_problems(
            policies.policies[treatment],
            name=settings.name,
            phone=display,
            restriction=parse_duration(settings.restriction),
        ):
            found[(setting, message)] = None
    return [ClinicProblem(setting, message) for setting, message in found]
