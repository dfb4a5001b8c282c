"""Loads and checks the reply triage policy, config/triage/replies.toml.

Like an aftercare policy, it is clinical content: each flag says whether the
clinicians' answers name it (`from_answers`), and cites them, or the page's own
notice, word for word; loading refuses a quote the source does not hold, a flag
from the answers that cites none of them, and a pattern that does not compile.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from reminders.errors import ConfigError
from reminders.policies import (
    Citation,
    Problem,
    Slug,
    Strict,
    Text,
    check_cited,
    policy_version,
    problem_from_error,
)
from reminders.sources import load_answers, load_notice, normalise
from reminders.triage import Category, Flag, FlagCitation, TriagePolicy, compile_pattern

FILE_NAME = "replies.toml"


class TriageCitation(Strict):
    """An answer (heading and clinician), or the page's notice (`notice = true`)."""

    heading: Text | None = None
    clinician: Text | None = None
    notice: bool = False
    quote: Text

    @model_validator(mode="after")
    def _one_kind(self) -> TriageCitation:
        answer = self.heading is not None and self.clinician is not None
        if self.notice == answer:
            raise ValueError("cite an answer (heading and clinician) or the notice, not both")
        return self


class FlagSpec(Strict):
    id: Slug
    category: Literal["emergency", "clinical"]
    label: Text
    # Whether the clinicians' answers name this sign; false: it rests on the page's
    # notice alone (and the reason given in `says`).
    from_answers: bool
    says: Text
    patterns: list[Text] = Field(min_length=1)
    citations: list[TriageCitation] = Field(min_length=1)


class OptOutSpec(Strict):
    says: Text
    patterns: list[Text] = Field(min_length=1)


class TriageSpec(Strict):
    source: Text
    flags: list[FlagSpec] = Field(min_length=1)
    opt_out_requests: OptOutSpec


def triage_path(config_dir: Path) -> Path:
    return config_dir / "triage" / FILE_NAME


def check_triage_file(path: Path) -> tuple[TriagePolicy | None, list[Problem]]:
    """Parse and check the triage policy; returns it only when there are no problems."""
    file = str(path)
    try:
        content = path.read_bytes()
        spec = TriageSpec.model_validate(tomllib.loads(content.decode("utf-8")))
    except OSError as exc:
        return None, [Problem(file, "(file)", f"cannot be read: {exc.strerror}")]
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return None, [Problem(file, "(file)", f"not valid TOML: {exc}")]
    except ValidationError as exc:
        return None, [problem_from_error(path, err) for err in exc.errors()]
    problems = _check(path, spec)
    if problems:
        return None, problems
    return _build(spec, policy_version("replies", content)), []


def load_triage(config_dir: Path) -> TriagePolicy:
    """The triage policy for the service; any problem stops start-up with every one named."""
    policy, problems = check_triage_file(triage_path(config_dir))
    if policy is None:
        raise ConfigError("invalid triage policy:\n" + "\n".join(f"  {p}" for p in problems))
    return policy


def _check(path: Path, spec: TriageSpec) -> list[Problem]:
    file = str(path)
    source = (path.parent / spec.source).resolve()
    if not source.is_file():
        return [Problem(file, "source", f"file {spec.source!r} not found")]
    answers, notice = load_answers(source), normalise(load_notice(source))
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, flag in enumerate(spec.flags):
        key = f"flags[{i}]"
        if flag.id in seen:
            problems.append(Problem(file, f"{key}.id", f"duplicate flag id {flag.id!r}"))
        seen.add(flag.id)
        problems += _check_patterns(file, key, flag.patterns)
        cited = [
            Citation(heading=c.heading, clinician=c.clinician, quote=c.quote)
            for c in flag.citations
            if c.heading is not None and c.clinician is not None
        ]
        if flag.from_answers and not cited:
            problems.append(
                Problem(file, f"{key}.citations", "a flag from the answers must cite one of them")
            )
        if not flag.from_answers and cited:
            problems.append(
                Problem(file, f"{key}.from_answers", "is false, yet the flag cites an answer")
            )
        problems += check_cited(file, key, cited, answers)
        problems += [
            Problem(file, f"{key}.citations[{k}].quote", "quote not found in the page's notice")
            for k, c in enumerate(flag.citations)
            if c.notice and normalise(c.quote) not in notice
        ]
    problems += _check_patterns(file, "opt_out_requests", spec.opt_out_requests.patterns)
    return problems


def _check_patterns(file: str, key: str, patterns: list[str]) -> list[Problem]:
    problems = []
    for j, pattern in enumerate(patterns):
        try:
            compile_pattern(pattern)
        except re.error as exc:
            problems.append(Problem(file, f"{key}.patterns[{j}]", f"not a valid pattern: {exc}"))
            continue
        # One that can match nothing at all would match every reply.
        if re.fullmatch(pattern, ""):
            problems.append(Problem(file, f"{key}.patterns[{j}]", "matches an empty reply"))
    return problems


def _build(spec: TriageSpec, version: str) -> TriagePolicy:
    return TriagePolicy(
        flags=tuple(
            Flag(
                id=flag.id,
                category=Category(flag.category),
                label=flag.label,
                patterns=tuple(compile_pattern(p) for p in flag.patterns),
                citations=tuple(
                    FlagCitation(quote=c.quote, heading=c.heading, clinician=c.clinician)
                    for c in flag.citations
                ),
            )
            for flag in spec.flags
        ),
        opt_out_requests=tuple(compile_pattern(p) for p in spec.opt_out_requests.patterns),
        version=version,
    )
