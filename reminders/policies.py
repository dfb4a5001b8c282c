"""Loads and validates the aftercare policies in config/policies/*.toml.

A policy is clinical content: every instruction cites the published answers
it rests on, and loading refuses anything it cannot check.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from reminders.durations import format_duration, parse_duration
from reminders.errors import ConfigError
from reminders.sources import Answer, find_answer, load_answers, normalise
from reminders.templates import unknown_fields

RESTRICTION_END = "restriction_end"
WINDOW_END = "window_end"
PLANNED = "planned"
# A window that lasts the treatment's restriction (the clinic's length, or the patient's).
RESTRICTION = "restriction"
# The lengths any clinic's own source may set: outside, a text would read oddly or go stale.
MIN_RESTRICTION = timedelta(minutes=30)
MAX_RESTRICTION = timedelta(days=7)
_ANCHORED = re.compile(r"^restriction_end(?:\s*\+\s*(\S+))?$")

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
Text = Annotated[str, StringConstraints(min_length=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Citation(Strict):
    heading: Text
    clinician: Text
    quote: Text | None = None


class Instruction(Strict):
    says: Text
    citations: list[Citation] = Field(min_length=1)


class WindowSpec(Strict):
    id: Slug
    # "restriction" (the treatment's restriction length) or a fixed length like "4h".
    length: Text
    # As a text lists them: "please avoid {avoid}", "you can {resume} as usual".
    avoid: list[Text] = Field(min_length=1)
    resume: list[Text] = Field(min_length=1)
    instructions: list[Instruction] = Field(min_length=1)


class RestrictionSpec(Strict):
    """The restriction lengths the cited answers support; a clinic needs its own source
    for any other."""

    shortest: Text
    longest: Text
    says: Text
    citations: list[Citation] = Field(min_length=1)


class StepSpec(Strict):
    id: Slug
    # "0m", "restriction_end" (when the last window ends), or "window_end": one message
    # at each earlier window end.
    offset: Text
    expires: Text
    not_before: Literal["restriction_end", "window_end"] | None = None
    # When the step is sent: "planned" with every treatment, or only when staff
    # correct what a patient was told (see Correction).
    when: Literal["planned", "tightened", "loosened", "ended", "withdrawn"] = "planned"
    may_wait: bool = False
    min_useful: Text = "0m"
    sms: Text
    email_subject: Text
    email_body: Text
    instructions: list[Instruction] = Field(min_length=1)


class PolicySpec(Strict):
    treatment: Slug
    title: Text
    generic_name: Text
    product_name: Text
    source: Text
    restriction: RestrictionSpec
    windows: list[WindowSpec] = Field(min_length=1)
    steps: list[StepSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Anchor:
    """An instant relative to the treatment: `after` plus, if anchored, the time until the
    last window ends (the span). A window-end anchor stands for each earlier window end."""

    after: timedelta
    from_restriction_end: bool
    each_window_end: bool = False

    def resolve(self, span: timedelta) -> timedelta:
        return self.after + (span if self.from_restriction_end else timedelta(0))


@dataclass(frozen=True)
class Window:
    """Something the patient avoids, for how long, and the answers that say so."""

    id: str
    length: timedelta | None  # None: the treatment's restriction length
    avoid: tuple[str, ...]
    resume: tuple[str, ...]
    instructions: tuple[Instruction, ...]

    def resolve(self, restriction: timedelta) -> timedelta:
        return restriction if self.length is None else self.length


@dataclass(frozen=True)
class Step:
    id: str
    offset: Anchor
    # When the step stops being true: an anchor, or a span after it was due.
    expires_at: Anchor | None
    expires_after: timedelta | None
    not_before_restriction_end: bool
    may_wait: bool
    min_useful: timedelta
    sms: str
    email_subject: str
    email_body: str
    instructions: tuple[Instruction, ...]

    when: str = "planned"

    @property
    def at_window_ends(self) -> bool:
        return self.offset.each_window_end

    @property
    def planned(self) -> bool:
        """Sent with every treatment; the others only when a correction calls for them."""
        return self.when == PLANNED


@dataclass(frozen=True)
class Policy:
    treatment: str
    title: str
    generic_name: str
    product_name: str
    version: str
    shortest: timedelta  # the restriction lengths the answers support
    longest: timedelta
    restriction: RestrictionSpec
    windows: tuple[Window, ...]
    steps: tuple[Step, ...]
    path: Path

    def step(self, step_id: str) -> Step | None:
        """The step a message was planned from; `window_end:posture` names the step
        `window_end` sent when the window `posture` ended."""
        return self._by_id.get(step_id.partition(":")[0])

    def supports(self, restriction: timedelta) -> bool:
        """Whether the cited answers support this restriction length."""
        return self.shortest <= restriction <= self.longest

    @cached_property
    def _by_id(self) -> dict[str, Step]:
        return {step.id: step for step in self.steps}


@dataclass(frozen=True)
class Problem:
    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


def parse_anchor(text: str) -> Anchor:
    if text.strip() == WINDOW_END:
        return Anchor(timedelta(0), False, each_window_end=True)
    match = _ANCHORED.match(text.strip())
    if match:
        extra = match.group(1)
        return Anchor(parse_duration(extra) if extra else timedelta(0), True)
    return Anchor(parse_duration(text), False)


def policy_version(treatment: str, content: bytes) -> str:
    """Names the exact text a message came from: treatment plus a content hash."""
    return f"{treatment}@{hashlib.sha256(content).hexdigest()[:12]}"


def load_policy_file(path: Path) -> tuple[Policy | None, list[Problem]]:
    """Parse and check one policy file; returns the policy only when there are no problems."""
    content = path.read_bytes()
    try:
        data = tomllib.loads(content.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), "(file)", f"not valid TOML: {exc}")]
    try:
        spec = PolicySpec.model_validate(data)
    except ValidationError as exc:
        problems = [problem_from_error(path, err) for err in exc.errors()]
        # Unknown keys alone should not hide the file's other problems.
        if all(err["type"] == "extra_forbidden" for err in exc.errors()):
            for err in exc.errors():
                _drop_key(data, err["loc"])
            problems += _check_policy(path, PolicySpec.model_validate(data))
        return None, problems
    problems = _check_policy(path, spec)
    if problems:
        return None, problems
    return _build_policy(path, spec, content), []


def _drop_key(data: Any, loc: tuple[int | str, ...]) -> None:
    for part in loc[:-1]:
        data = data[part]
    del data[loc[-1]]


def problem_from_error(path: Path, err: object) -> Problem:
    assert isinstance(err, dict)
    loc = err.get("loc", ())
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    message = str(err.get("msg", "invalid"))
    if err.get("type") == "extra_forbidden":
        message = "unknown key"
    return Problem(str(path), key.lstrip(".") or "(root)", message)


def _check_policy(path: Path, spec: PolicySpec) -> list[Problem]:
    problems: list[Problem] = []
    file = str(path)
    if spec.treatment != path.stem:
        problems.append(Problem(file, "treatment", f"must match the file name {path.stem!r}"))
    source_path = (path.parent / spec.source).resolve()
    answers: list[Answer] | None = None
    if source_path.is_file():
        answers = load_answers(source_path)
    else:
        problems.append(Problem(file, "source", f"file {spec.source!r} not found"))
    problems += _check_restriction(file, spec.restriction, answers)
    problems += _check_windows(file, spec.windows, answers)
    seen: set[str] = set()
    previous: tuple[timedelta, timedelta] | None = None
    for i, step in enumerate(spec.steps):
        key = f"steps[{i}]"
        if step.id in seen:
            problems.append(Problem(file, f"{key}.id", f"duplicate step id {step.id!r}"))
        seen.add(step.id)
        problems += _check_step_times(file, key, step)
        problems += _check_templates(file, key, step)
        if answers is not None:
            problems += _check_instructions(file, key, step.instructions, answers)
        order = _order_key(step)
        if (
            order is not None
            and previous is not None
            and any(now < before for now, before in zip(order, previous, strict=True))
        ):
            problems.append(
                Problem(
                    file,
                    f"{key}.offset",
                    "steps must be in order of offset for every "
                    "restriction length a clinic may set (30m to 7d)",
                )
            )
        previous = order if order is not None else previous
    return problems


def _check_restriction(
    file: str, spec: RestrictionSpec, answers: list[Answer] | None
) -> list[Problem]:
    problems = []
    bounds = []
    for field in ("shortest", "longest"):
        try:
            length = parse_duration(getattr(spec, field))
        except ValueError as exc:
            problems.append(Problem(file, f"restriction.{field}", str(exc)))
            continue
        if not MIN_RESTRICTION <= length <= MAX_RESTRICTION:
            problems.append(Problem(file, f"restriction.{field}", "must be between 30m and 7d"))
        bounds.append(length)
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        problems.append(Problem(file, "restriction", "shortest is longer than longest"))
    if answers is not None:
        problems += check_cited(file, "restriction", spec.citations, answers)
    return problems


def _check_windows(
    file: str, windows: list[WindowSpec], answers: list[Answer] | None
) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for i, window in enumerate(windows):
        key = f"windows[{i}]"
        if window.id in seen:
            problems.append(Problem(file, f"{key}.id", f"duplicate window id {window.id!r}"))
        seen.add(window.id)
        if window.length != RESTRICTION:
            try:
                length = parse_duration(window.length)
            except ValueError as exc:
                problems.append(Problem(file, f"{key}.length", str(exc)))
            else:
                if not MIN_RESTRICTION <= length <= MAX_RESTRICTION:
                    problems.append(Problem(file, f"{key}.length", "must be between 30m and 7d"))
        if answers is not None:
            problems += _check_instructions(file, key, window.instructions, answers)
    if not any(w.length == RESTRICTION for w in windows):
        problems.append(
            Problem(
                file, "windows", 'no window follows the restriction length (length = "restriction")'
            )
        )
    return problems


def _order_key(step: StepSpec) -> tuple[timedelta, timedelta] | None:
    # Offsets are linear in the restriction length: in order at both ends of
    # the allowed range means in order for every length between. Window-end steps
    # fall between the first and the last window end: they are planned in order.
    try:
        anchor = parse_anchor(step.offset)
    except ValueError:
        return None
    if anchor.each_window_end or step.when != PLANNED:
        return None
    return anchor.resolve(MIN_RESTRICTION), anchor.resolve(MAX_RESTRICTION)


def _check_step_times(file: str, key: str, step: StepSpec) -> list[Problem]:
    problems = []
    offset: Anchor | None = None
    for field in ("offset", "expires", "min_useful"):
        value = getattr(step, field)
        try:
            parsed = parse_duration(value) if field == "min_useful" else parse_anchor(value)
        except ValueError as exc:
            problems.append(Problem(file, f"{key}.{field}", str(exc)))
            continue
        if field == "offset":
            assert isinstance(parsed, Anchor)
            offset = parsed
        elif field == "expires" and isinstance(parsed, Anchor) and parsed.each_window_end:
            problems.append(
                Problem(
                    file,
                    f"{key}.expires",
                    "must be restriction_end (plus a span) or a span after the step is due",
                )
            )
    if step.not_before == RESTRICTION_END and offset and not offset.from_restriction_end:
        problems.append(
            Problem(file, f"{key}.offset", "a step with not_before must be due at restriction_end")
        )
    if step.not_before == WINDOW_END and offset and not offset.each_window_end:
        problems.append(
            Problem(file, f"{key}.offset", "a step with not_before must be due at window_end")
        )
    return problems


def _check_templates(file: str, key: str, step: StepSpec) -> list[Problem]:
    problems = []
    for field in ("sms", "email_subject", "email_body"):
        try:
            unknown = unknown_fields(getattr(step, field))
        except ValueError as exc:
            problems.append(Problem(file, f"{key}.{field}", str(exc)))
            continue
        problems += [
            Problem(file, f"{key}.{field}", f"unknown template variable {{{name}}}")
            for name in unknown
        ]
    return problems


def _check_instructions(
    file: str, key: str, instructions: Sequence[Instruction], answers: list[Answer]
) -> list[Problem]:
    problems = []
    for j, instruction in enumerate(instructions):
        problems += check_cited(file, f"{key}.instructions[{j}]", instruction.citations, answers)
    return problems


def check_cited(
    file: str, key: str, citations: Sequence[Citation], answers: list[Answer]
) -> list[Problem]:
    problems = []
    for k, citation in enumerate(citations):
        ckey = f"{key}.citations[{k}]"
        answer = find_answer(answers, heading=citation.heading, clinician=citation.clinician)
        if answer is None:
            problems.append(
                Problem(
                    file,
                    ckey,
                    f"no answer headed {citation.heading!r} by {citation.clinician!r} "
                    "in the source",
                )
            )
        elif citation.quote and normalise(citation.quote) not in normalise(answer.text):
            problems.append(Problem(file, f"{ckey}.quote", "quote not found in that answer"))
    return problems


def _build_policy(path: Path, spec: PolicySpec, content: bytes) -> Policy:
    steps = tuple(_build_step(step) for step in spec.steps)
    return Policy(
        treatment=spec.treatment,
        title=spec.title,
        generic_name=spec.generic_name,
        product_name=spec.product_name,
        version=policy_version(spec.treatment, content),
        shortest=parse_duration(spec.restriction.shortest),
        longest=parse_duration(spec.restriction.longest),
        restriction=spec.restriction,
        windows=tuple(
            Window(
                id=w.id,
                length=None if w.length == RESTRICTION else parse_duration(w.length),
                avoid=tuple(w.avoid),
                resume=tuple(w.resume),
                instructions=tuple(w.instructions),
            )
            for w in spec.windows
        ),
        steps=steps,
        path=path,
    )


def _build_step(step: StepSpec) -> Step:
    expires = step.expires.strip()
    anchored = expires.startswith(RESTRICTION_END)
    return Step(
        id=step.id,
        offset=parse_anchor(step.offset),
        expires_at=parse_anchor(expires) if anchored else None,
        expires_after=None if anchored else parse_duration(expires),
        not_before_restriction_end=step.not_before is not None,
        may_wait=step.may_wait,
        min_useful=parse_duration(step.min_useful),
        sms=step.sms,
        email_subject=step.email_subject,
        email_body=step.email_body,
        instructions=tuple(step.instructions),
        when=step.when,
    )


@dataclass(frozen=True)
class PolicySet:
    policies: dict[str, Policy]

    def get(self, treatment: str) -> Policy | None:
        return self.policies.get(treatment)

    @property
    def treatments(self) -> list[str]:
        return sorted(self.policies)


def check_policies(directory: Path) -> tuple[PolicySet, list[Problem]]:
    """Load every policy in a folder, collecting all problems rather than stopping at one."""
    if not directory.is_dir():
        return PolicySet({}), [Problem(str(directory), "(folder)", "policy folder not found")]
    policies: dict[str, Policy] = {}
    problems: list[Problem] = []
    for path in sorted(directory.glob("*.toml")):
        policy, found = load_policy_file(path)
        problems += found
        if policy:
            policies[policy.treatment] = policy
    if not policies and not problems:
        problems.append(Problem(str(directory), "(folder)", "no policy files (*.toml)"))
    return PolicySet(policies), problems


def load_policies(directory: Path) -> PolicySet:
    """Load policies for the service; any problem stops start-up with every problem named."""
    policies, problems = check_policies(directory)
    if problems:
        raise ConfigError("invalid policies:\n" + "\n".join(f"  {p}" for p in problems))
    return policies


def step_times(step: Step) -> tuple[str, str]:
    """A step's offset and expiry as a policy file writes them: `0m`, `restriction_end`, `12h`."""
    offset = format_duration(step.offset.after)
    if step.offset.each_window_end:
        offset = WINDOW_END
    elif step.offset.from_restriction_end:
        offset = RESTRICTION_END + (f"+{offset}" if step.offset.after else "")
    if step.expires_at is not None:
        expires = RESTRICTION_END
    else:
        assert step.expires_after is not None
        expires = f"{format_duration(step.expires_after)} after due"
    return offset, expires
