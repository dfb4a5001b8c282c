"""What the command line prints: Rich tables for people at the front desk (local times,
states, reasons), and the same records as JSON documents for scripts.

Every value read from the database or the configuration reaches Rich as `Text`, never as a
markup string, with the characters a terminal would act on written as escapes: a patient
named `[link=https://evil.example]x[/link]` or `\\x1b]8;;...` is shown as those characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from reminders.durations import format_duration
from reminders.localtime import format_staff

# Every command prints through this module, `--help` and a refusal included: what it
# shows is imported by the caller, and the API's presenters (pydantic models) only for
# the JSON documents that take their shape.
if TYPE_CHECKING:
    from reminders.db.models import (
        Alert,
        ApiKey,
        ChannelProblem,
        Clinic,
        Message,
        Patient,
        Treatment,
    )
    from reminders.planning import Plan, PlannedStep
    from reminders.policies import Citation, Policy, Problem
    from reminders.sms_budget import SmsReport
    from reminders.spend import BudgetStatus
    from reminders.staff import StaffRow

STATE_STYLE = {
    "pending": "cyan",
    "sending": "yellow",
    "sent": "green",
    "failed": "red",
    "skipped": "magenta",
    "cancelled": "dim",
}

# What a terminal acts on instead of showing: C0 controls (ESC opens colour, cursor and OSC 8
# hyperlink sequences, BEL closes an OSC, CR overwrites the line), DEL, the C1 controls (0x9b
# is a one-byte CSI), the bidirectional marks, overrides and isolates (they reorder what
# follows them) and the Unicode line and paragraph separators. Lone surrogates too: they are
# how Python reads bytes of a command line that are not UTF-8, and cannot be written out.
_UNSAFE = r"\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE_IN_LINE = re.compile(rf"[\x00-\x1f{_UNSAFE}]")
# The same, but for text of several lines (a message's body): its newlines and tabs stay.
_UNSAFE_IN_TEXT = re.compile(rf"[\x00-\x08\x0b-\x1f{_UNSAFE}]")


def visible(value: str, *, multiline: bool = False) -> str:
    """`value` with every character a terminal would act on written as its escape
    (`\\x1b`, `\\x07`, `\\u202e`); with `multiline`, newlines and tabs are kept."""
    return (_UNSAFE_IN_TEXT if multiline else _UNSAFE_IN_LINE).sub(_escape, value)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def as_text(value: str | None, style: str = "", *, multiline: bool = False) -> Text:
    """A stored value as Rich text: printed as it is, never read as markup or escapes."""
    return Text(visible(value or "", multiline=multiline), style=style)


def _row(table: Table, *cells: str | Text) -> None:
    """A row whose plain strings are data: one line each, shown as written."""
    table.add_row(*(cell if isinstance(cell, Text) else as_text(cell) for cell in cells))


def _lines(*values: str | Text) -> Text:
    """Several values in one cell, one to a line (narrow layouts)."""
    return Text("\n").join(v if isinstance(v, Text) else as_text(v) for v in values)


# -- columns ------------------------------------------------------------------------------
# Ids, states, channels and times are short and never broken (a narrow layout writes a time
# as its date above its clock); names, reasons and texts fold to what is left.


def _fixed(table: Table, *headers: str) -> None:
    for header in headers:
        table.add_column(header, no_wrap=True)


def _folding(table: Table, *headers: str) -> None:
    for header in headers:
        table.add_column(header, overflow="fold")


def _stamp(instant: datetime | None, zone: ZoneInfo, *, narrow: bool = False) -> Text:
    """`2026-11-27 14:00 EST`, in a narrow layout the date above the clock; `-` for none."""
    if instant is None:
        return Text("-")
    text = format_staff(instant, zone)
    return _lines(*text.split(" ", 1)) if narrow else Text(text)


@dataclass(frozen=True)
class _ByWidth:
    """A table laid out for the width it is printed at: every column where they fit, fewer
    (some cells holding two values) in a narrow terminal, where a full set of columns
    would be squeezed to a character or two."""

    wide: Callable[[], RenderableType]
    narrow: Callable[[], RenderableType]
    wide_from: int  # columns

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield (self.wide if options.max_width >= self.wide_from else self.narrow)()


def _delivery(message: Message) -> Text:
    status = message.delivery_status
    if not status:
        return Text("-")
    text = status + (f" ({message.delivery_error})" if message.delivery_error else "")
    return as_text(text, style="red" if status in ("undelivered", "failed") else "")


def _state(state: str) -> Text:
    return as_text(state, style=STATE_STYLE.get(state, ""))


def _state_sent(message: Message, zone: ZoneInfo) -> Text:
    """The state, and below it when the message went (narrow layouts)."""
    if message.sent_at is None:
        return _state(message.state)
    return _lines(_state(message.state), _stamp(message.sent_at, zone, narrow=True))


def _contact(patient: Patient) -> str:
    return ", ".join(c for c in (patient.phone, patient.email) if c)


def _panel(body: str, subject: str | None, title: str) -> Panel:
    """A message's text as the patient reads it, in a box."""
    text = f"Subject: {subject}\n\n{body}" if subject else body
    return Panel(as_text(text, multiline=True), title=as_text(title), title_align="left")


# -- plans and corrections -----------------------------------------------------------------

PLAN_WIDE_FROM = 110  # columns: below this, a plan's times take two lines


def plan_view(plan: Plan, *, title: str) -> Group:
    """The plan as a timeline (when each step falls, when it goes, why) and its texts."""
    texts = [
        _panel(step.body, step.subject, f"{step.step_id} ({step.channel.value})")
        for step in plan.steps
        if not step.skipped
    ]
    summary = as_text(
        f"treatment {format_staff(plan.treatment_at, plan.zone)}; restriction ends "
        f"{format_staff(plan.restriction_end, plan.zone)} "
        f"({(plan.restriction_end - plan.treatment_at).total_seconds() / 3600:g} h elapsed); "
        f"policy {plan.policy_version}"
    )
    timeline = _ByWidth(
        lambda: _plan_table(plan, title, narrow=False),
        lambda: _plan_table(plan, title, narrow=True),
        PLAN_WIDE_FROM,
    )
    return Group(_windows_table(plan), timeline, summary, *texts)


def _plan_table(plan: Plan, title: str, *, narrow: bool) -> Table:
    zone = plan.zone
    table = Table(title=as_text(title), show_lines=True)
    _folding(table, "step")
    _fixed(table, "channel", "falls at", "sends at", "valid until")
    _folding(table, "outcome")
    for step in plan.steps:
        if step.skip_reason:
            outcome = as_text(f"skipped: {step.skip_reason}", style="magenta")
        else:
            outcome = as_text(step.note or "on time")
        _row(
            table,
            step.step_id,
            step.channel.value,
            _stamp(step.natural_at, zone, narrow=narrow),
            _stamp(None if step.skipped else step.due_at, zone, narrow=narrow),
            _stamp(step.expires_at, zone, narrow=narrow),
            outcome,
        )
    return table


def _windows_table(plan: Plan) -> Table:
    windows = Table(title="windows: what the patient avoids, until when", show_lines=True)
    _folding(windows, "window", "avoid")
    _fixed(windows, "length", "ends")
    _folding(windows, "the message that says so")
    for group in plan.windows:
        ending = next(
            (
                s.step_id
                for s in plan.steps
                if s.step_id.endswith(f":{group.id}")
                or (s.step_id == "all_clear" and group.end == plan.restriction_end)
            ),
            "-",
        )
        for window in group.windows:
            _row(
                windows,
                window.id,
                ", ".join(window.avoid),
                format_duration(group.end - plan.treatment_at),
                format_staff(group.end, plan.zone),
                ending,
            )
    return windows


def patient_message_view(message: PlannedStep) -> Panel:
    """What the patient will be told, as the desk sees it before saving."""
    if message.skip_reason:
        return Panel(
            as_text(f"A correction would not be sent: {message.skip_reason}", style="magenta"),
            title="the patient",
        )
    return _panel(
        message.body,
        message.subject,
        f"the patient will be told ({message.step_id}, by {message.channel.value})",
    )


# -- messages and treatments ---------------------------------------------------------------

LIST_WIDE_FROM = 140  # columns: below this, `list` puts two values in some cells


def messages_table(messages: Sequence[Message], zone: ZoneInfo, *, title: str) -> _ByWidth:
    """Upcoming and recent messages, one row each."""

    def wide() -> Table:
        table = Table(title=as_text(title))
        _fixed(table, "msg", "treatment")
        _folding(table, "patient", "step")
        _fixed(table, "channel", "state", "due (local)", "sent (local)")
        _folding(table, "reason / note")
        for m in messages:
            _row(
                table,
                str(m.id),
                str(m.treatment_id),
                m.treatment.patient.name,
                m.step_id,
                m.channel,
                _state(m.state),
                _stamp(m.due_at, zone),
                _stamp(m.sent_at, zone),
                m.reason or m.last_error or m.note or "",
            )
        return table

    def narrow() -> Table:
        table = Table(title=as_text(title))
        _fixed(table, "msg")
        _folding(table, "treatment, patient", "step, channel")
        _fixed(table, "due", "state, sent")
        _folding(table, "reason / note")
        for m in messages:
            _row(
                table,
                str(m.id),
                _lines(str(m.treatment_id), m.treatment.patient.name),
                _lines(m.step_id, m.channel),
                _stamp(m.due_at, zone, narrow=True),
                _state_sent(m, zone),
                m.reason or m.last_error or m.note or "",
            )
        return table

    return _ByWidth(wide, narrow, LIST_WIDE_FROM)


def treatment_view(treatment: Treatment, zone: ZoneInfo) -> Group:
    """A treatment's timeline: who, when, its restriction, alerts, and each message."""
    rewritten = [
        _panel(
            m.sent_body,
            m.sent_subject,
            f"message {m.id} as sent (the plan above was written for its due time)",
        )
        for m in treatment.messages
        if m.sent_body
    ]
    return Group(
        Panel(_treatment_header(treatment, zone)),
        _timeline(treatment.messages, zone),
        *rewritten,
    )


def _treatment_header(treatment: Treatment, zone: ZoneInfo) -> Text:
    patient = treatment.patient
    header = Text.assemble(
        (f"Treatment {treatment.id}", "bold"),
        f"  {visible(treatment.treatment_type)}  ",
        _state(treatment.status),
        f"\npatient {visible(patient.name)} ({visible(_contact(patient))})",
        f"\nperformed {format_staff(treatment.performed_at, zone)}, "
        f"logged {format_staff(treatment.logged_at, zone)}, "
        f"restriction {visible(treatment.restriction)}",
        f"\npolicy {visible(treatment.policy_version)}",
    )
    if treatment.restriction_reason:
        header.append(
            f"\nrestriction set for this patient: {visible(treatment.restriction_reason)}"
        )
    if treatment.restriction_source:
        header.append(
            f"\nrestriction from the clinic's own source {visible(treatment.restriction_source)}"
        )
    if treatment.cancel_reason:
        header.append(f"\ncancelled: {visible(treatment.cancel_reason)}", style="dim")
    if treatment.correction_note:
        header.append(f"\nlast correction: {visible(treatment.correction_note)}")
    for alert in treatment.alerts:
        if alert.acknowledged_at is None:
            header.append(
                f"\nNEEDS A CALL (alert {alert.id}): {visible(alert.detail)}", style="bold red"
            )
        else:
            header.append(
                f"\nneeded a call (alert {alert.id}, acknowledged by "
                f"{visible(alert.acknowledged_by or '')} "
                f"{format_staff(alert.acknowledged_at, zone)}): {visible(alert.detail)}",
                style="dim",
            )
    return header


SHOW_WIDE_FROM = 150  # columns: below this, `show` gives each message's history below


def _history(message: Message, zone: ZoneInfo) -> Text:
    return Text(
        "\n".join(
            visible(f"{format_staff(e.at, zone)} {e.kind}" + (f": {e.detail}" if e.detail else ""))
            for e in message.events
        )
    )


def _timeline(messages: Sequence[Message], zone: ZoneInfo) -> _ByWidth:
    def wide() -> Table:
        table = Table(title="messages", show_lines=True)
        _fixed(table, "msg")
        _folding(table, "step")
        _fixed(table, "channel", "state", "due (local)", "sent (local)")
        _folding(table, "delivery")
        _fixed(table, "attempts")
        _folding(table, "history")
        for m in messages:
            _row(
                table,
                str(m.id),
                m.step_id,
                m.channel,
                _state(m.state),
                _stamp(m.due_at, zone),
                _stamp(m.sent_at, zone),
                _delivery(m),
                str(m.attempts),
                _history(m, zone),
            )
        return table

    def narrow() -> Group:
        table = Table(title="messages", show_lines=True)
        _fixed(table, "msg")
        _folding(table, "step, channel")
        _fixed(table, "due", "state, sent")
        _folding(table, "delivery, attempts")
        for m in messages:
            _row(
                table,
                str(m.id),
                _lines(m.step_id, m.channel),
                _stamp(m.due_at, zone, narrow=True),
                _state_sent(m, zone),
                _lines(_delivery(m), f"{m.attempts} attempt(s)"),
            )
        histories = Table(title="history", show_lines=True)
        _fixed(histories, "msg")
        _folding(histories, "what happened (local times)")
        for m in messages:
            _row(histories, str(m.id), _history(m, zone))
        return Group(table, histories)

    return _ByWidth(wide, narrow, SHOW_WIDE_FROM)


# -- policies ------------------------------------------------------------------------------


def policy_summary(policy: Policy) -> Group:
    """What a policy asks of the patient, for how long, and on which answers each rests."""
    from reminders.policies import step_times

    restriction = policy.restriction
    header = Text.assemble(
        (visible(f"{policy.treatment} ({policy.version})"), "bold"),
        f"\nrestriction lengths the answers support: {format_duration(policy.shortest)} "
        f"to {format_duration(policy.longest)}: {visible(restriction.says)}",
        "\n",
        _citations(restriction.citations),
    )
    windows = Table(title="windows: what to avoid, for how long", show_lines=True)
    for column in ("window", "length", "avoid", "instruction", "cited answers"):
        _folding(windows, column)
    for window in policy.windows:
        length = "the restriction" if window.length is None else format_duration(window.length)
        for i, instruction in enumerate(window.instructions):
            _row(
                windows,
                window.id if i == 0 else "",
                length if i == 0 else "",
                ", ".join(window.avoid) if i == 0 else "",
                instruction.says,
                _citations(instruction.citations),
            )
    steps = Table(title="messages", show_lines=True)
    for column in ("step", "offset", "expires", "may wait", "instruction", "cited answers"):
        _folding(steps, column)
    for step in policy.steps:
        offset, expires = step_times(step)
        for i, instruction in enumerate(step.instructions):
            first = i == 0
            _row(
                steps,
                step.id if first else "",
                offset if first else "",
                expires if first else "",
                ("yes" if step.may_wait else "no") if first else "",
                instruction.says,
                _citations(instruction.citations),
            )
    return Group(Panel(header), windows, steps)


def _citations(citations: Sequence[Citation]) -> Text:
    return Text("\n".join(visible(f"{c.clinician}: {c.heading!r}") for c in citations), style="dim")


def print_problems(console: Console, problems: Sequence[Problem]) -> None:
    for problem in problems:
        # One line per problem, whatever the terminal width: people grep these.
        console.print(as_text(str(problem), style="red"), soft_wrap=True)


def sms_cost_table(
    policy: Policy, reports: Sequence[SmsReport], budget: int, *, name: str = "a 60-character name"
) -> Table:
    table = Table(title=as_text(f"{policy.treatment} SMS cost (budget {budget} segments, {name})"))
    for column in ("message", "restriction", "encoding", "as written", "at its longest"):
        _folding(table, column)
    for r in reports:
        longest = Text(
            f"{r.longest.units} units, {r.longest.segments} segment(s)",
            style="red" if r.longest.segments > budget else "",
        )
        _row(
            table,
            r.step_id,
            format_duration(r.restriction),
            r.longest.encoding,
            f"{r.template.units} units, {r.template.segments} segment(s)",
            longest,
        )
    return table


# -- clinics and keys ----------------------------------------------------------------------


def clinics_table(clinics: Sequence[Clinic]) -> Table:
    table = Table(title="clinics")
    _fixed(table, "id")
    _folding(table, "slug", "name", "timezone", "restriction")
    _fixed(table, "quiet hours", "channel", "SMS budget", "test mode", "status")
    for c in clinics:
        _row(
            table,
            str(c.id),
            c.slug,
            c.name,
            c.timezone,
            c.restriction,
            c.quiet_hours or "-",
            c.default_channel,
            f"{c.sms_monthly_segments} segments/month" if c.sms_monthly_segments else "-",
            _test_mode(c),
            "disabled" if c.disabled_at else "active",
        )
    return table


def _test_mode(clinic: Clinic) -> str:
    if not clinic.test_mode:
        return "off"
    return "ON: to " + ", ".join(d for d in (clinic.test_phone, clinic.test_email) if d)


def budget_line(status: BudgetStatus) -> str:
    """`reminders budget`: this month's use, in one line."""
    if status.budget is None:
        return (
            f"Clinic {status.slug!r} has no SMS budget ({status.used} segments in {status.month})."
        )
    limit = status.budget + status.allowed
    extra = f" + {status.allowed} allowed by {status.allowed_by}" if status.allowed else ""
    return (
        f"Clinic {status.slug!r}, {status.month}: {status.used} of {limit} SMS segments used "
        f"(budget {status.budget}{extra}); {status.held} text(s) held over the budget."
    )


def budget_document(status: BudgetStatus) -> Document:
    return asdict(status)


def keys_table(keys: Sequence[ApiKey]) -> Table:
    table = Table(title="API keys")
    _fixed(table, "prefix")
    _folding(table, "label")
    _fixed(table, "created", "revoked")
    for k in keys:
        _row(
            table,
            k.prefix,
            k.label,
            f"{k.created_at:%Y-%m-%d %H:%M} UTC",
            f"{k.revoked_at:%Y-%m-%d %H:%M} UTC" if k.revoked_at else "-",
        )
    return table


def staff_table(accounts: Sequence[StaffRow]) -> Table:
    table = Table(title="staff accounts")
    _fixed(table, "id", "clinic")
    _folding(table, "username", "name")
    _fixed(table, "state", "last sign-in")
    for a in accounts:
        _row(
            table,
            str(a.id),
            a.clinic_slug,
            a.username,
            a.display_name,
            _staff_state(a),
            f"{a.last_sign_in_at:%Y-%m-%d %H:%M} UTC" if a.last_sign_in_at else "-",
        )
    return table


def _staff_state(account: StaffRow) -> str:
    if account.disabled_at:
        return "disabled"
    if account.locked_until:
        return f"locked until {account.locked_until:%H:%M} UTC"
    return "active"


# -- who to call ---------------------------------------------------------------------------

FAILURES_WIDE_FROM = 130  # columns: below this, `failures` puts the patient in one cell


def needs_call_table(alerts: Sequence[Alert], zone: ZoneInfo) -> _ByWidth:
    """Patients the service can no longer reach: call them, then acknowledge the alert."""
    title = "needs a call (acknowledge with `reminders acknowledge ID`)"

    def who(alert: Alert) -> tuple[str, str, str]:
        patient = alert.treatment.patient if alert.treatment else None
        if patient is None:
            return str(alert.treatment_id or "-"), "-", "-"
        return str(alert.treatment_id or "-"), patient.name, _contact(patient) or "-"

    def wide() -> Table:
        table = Table(title=title)
        _fixed(table, "alert", "treatment")
        _folding(table, "patient", "contact")
        _fixed(table, "since")
        _folding(table, "what they will miss")
        for alert in alerts:
            _row(
                table,
                str(alert.id),
                *who(alert),
                _stamp(alert.created_at, zone),
                as_text(alert.detail, style="red"),
            )
        return table

    def narrow() -> Table:
        table = Table(title=title)
        _fixed(table, "alert")
        _folding(table, "treatment, patient, contact")
        _fixed(table, "since")
        _folding(table, "what they will miss")
        for alert in alerts:
            _row(
                table,
                str(alert.id),
                _lines(*who(alert)),
                _stamp(alert.created_at, zone, narrow=True),
                as_text(alert.detail, style="red"),
            )
        return table

    return _ByWidth(wide, narrow, FAILURES_WIDE_FROM)


def channel_problems_view(problems: Sequence[ChannelProblem], zone: ZoneInfo) -> Group:
    """Channels waiting for the deployment's settings: nothing is lost, nothing goes."""
    lines = [
        as_text(
            f"{p.channel.upper()} channel waiting since {format_staff(p.since, zone)}: "
            f"{p.problem}. Messages wait in the queue, their attempts unspent, and go once "
            "the settings are fixed.",
            style="bold red",
        )
        for p in problems
    ]
    return Group(*lines)


def _problem(m: Message) -> Text:
    problem = m.reason or m.last_error or ""
    if m.delivery_status in ("undelivered", "failed"):
        problem = f"not delivered: {m.delivery_status}" + (
            f" (error {m.delivery_error})" if m.delivery_error else ""
        )
    return as_text(problem, style="red")


def failures_table(messages: Sequence[Message], zone: ZoneInfo, *, title: str) -> _ByWidth:
    """Who to call: messages that failed or were not delivered, with the contact to use."""

    def wide() -> Table:
        table = Table(title=as_text(title))
        _fixed(table, "msg", "treatment")
        _folding(table, "patient", "contact", "step")
        _fixed(table, "channel", "when")
        _folding(table, "problem")
        for m in messages:
            patient = m.treatment.patient
            _row(
                table,
                str(m.id),
                str(m.treatment_id),
                patient.name,
                _contact(patient),
                m.step_id,
                m.channel,
                _stamp(m.updated_at, zone),
                _problem(m),
            )
        return table

    def narrow() -> Table:
        table = Table(title=as_text(title))
        _fixed(table, "msg")
        _folding(table, "treatment, patient, contact", "step, channel")
        _fixed(table, "when")
        _folding(table, "problem")
        for m in messages:
            patient = m.treatment.patient
            _row(
                table,
                str(m.id),
                _lines(str(m.treatment_id), patient.name, _contact(patient)),
                _lines(m.step_id, m.channel),
                _stamp(m.updated_at, zone, narrow=True),
                _problem(m),
            )
        return table

    return _ByWidth(wide, narrow, FAILURES_WIDE_FROM)


# -- JSON documents for --json: the API's shapes where it has one -------------------------

Document = dict[str, Any]


def to_json(document: Document) -> str:
    """One JSON document; instants in ISO 8601, as the API writes them. ASCII only: a
    stored control or bidirectional character is a `\\u` escape there too, never raw."""
    from pydantic_core import to_jsonable_python

    return json.dumps(to_jsonable_python(document), ensure_ascii=True, indent=2)


def treatment_document(treatment: Treatment, clinic_zone: ZoneInfo) -> Document:
    """As `GET /v1/treatments/{id}` returns it."""
    from reminders.api.presenters import treatment_public

    return treatment_public(treatment, clinic_zone).model_dump(mode="json")


def plan_document(plan: Plan) -> Document:
    """As `POST /v1/preview` returns it."""
    from reminders.api.presenters import plan_public

    return plan_public(plan).model_dump(mode="json")


def _patient_brief(patient: Patient) -> Document:
    return {"id": patient.id, "name": patient.name, "phone": patient.phone, "email": patient.email}


def _message_row(m: Message, clinic_zone: ZoneInfo) -> Document:
    """A message in a listing: the API's message fields (no text or history: `show --json`
    has those), with its treatment and patient. Local times in the patient's zone."""
    from reminders.api.presenters import treatment_zone

    zone = treatment_zone(m.treatment, clinic_zone)
    return {
        "id": m.id,
        "treatment_id": m.treatment_id,
        "patient": _patient_brief(m.treatment.patient),
        "step_id": m.step_id,
        "channel": m.channel,
        "state": m.state,
        "due_at": m.due_at,
        "due_at_local": m.due_at.astimezone(zone),
        "sent_at": m.sent_at,
        "sent_at_local": m.sent_at.astimezone(zone) if m.sent_at else None,
        "updated_at": m.updated_at,
        "attempts": m.attempts,
        "note": m.note,
        "reason": m.reason,
        "last_error": m.last_error,
        "delivery_status": m.delivery_status,
        "delivery_error": m.delivery_error,
    }


def messages_document(messages: Sequence[Message], clinic_zone: ZoneInfo) -> Document:
    return {"items": [_message_row(m, clinic_zone) for m in messages]}


def failures_document(
    *,
    alerts: Sequence[Alert],
    waiting: Sequence[ChannelProblem],
    problems: Sequence[Message],
    since: datetime,
    clinic_zone: ZoneInfo,
) -> Document:
    """`GET /v1/alerts`'s body (each alert with its patient), and the messages that failed
    or were not delivered since `since`."""
    from reminders.api.presenters import alert_public, channel_waiting_public

    return {
        "items": [
            {
                **alert_public(a).model_dump(mode="json"),
                "patient": _patient_brief(a.treatment.patient) if a.treatment else None,
            }
            for a in alerts
        ],
        "channels_waiting": [channel_waiting_public(p).model_dump(mode="json") for p in waiting],
        "delivery_problems": [_message_row(m, clinic_zone) for m in problems],
        "delivery_problems_since": since,
    }


def clinics_document(clinics: Sequence[Clinic]) -> Document:
    return {
        "items": [
            {
                "id": c.id,
                "slug": c.slug,
                "name": c.name,
                "phone": c.phone,
                "region": c.region,
                "timezone": c.timezone,
                "restriction": c.restriction,
                "quiet_hours": c.quiet_hours,
                "default_channel": c.default_channel,
                "sms_monthly_segments": c.sms_monthly_segments,
                "test_mode": c.test_mode,
                "test_phone": c.test_phone,
                "test_email": c.test_email,
                "status": "disabled" if c.disabled_at else "active",
                "created_at": c.created_at,
                "updated_at": c.updated_at,
            }
            for c in clinics
        ]
    }


def keys_document(keys: Sequence[ApiKey]) -> Document:
    """Prefixes and labels; never a key or its hash."""
    return {
        "items": [
            {
                "prefix": k.prefix,
                "label": k.label,
                "created_at": k.created_at,
                "revoked_at": k.revoked_at,
            }
            for k in keys
        ]
    }


def staff_document(accounts: Sequence[StaffRow]) -> Document:
    """Usernames, names and states; never a password hash."""
    return {
        "items": [
            {
                "id": a.id,
                "clinic": a.clinic_slug,
                "username": a.username,
                "display_name": a.display_name,
                "created_at": a.created_at,
                "disabled_at": a.disabled_at,
                "locked_until": a.locked_until,
                "last_sign_in_at": a.last_sign_in_at,
            }
            for a in accounts
        ]
    }
