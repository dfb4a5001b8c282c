"""Rich tables for people at the front desk: local times, states, reasons."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from reminders.db.models import Alert, ApiKey, ChannelProblem, Clinic, Message, Treatment
from reminders.durations import format_duration
from reminders.localtime import format_staff
from reminders.planning import Plan, PlannedStep
from reminders.policies import Citation, Policy, Problem, step_times
from reminders.sms_budget import SmsReport

STATE_STYLE = {
    "pending": "cyan",
    "sending": "yellow",
    "sent": "green",
    "failed": "red",
    "skipped": "magenta",
    "cancelled": "dim",
}


def _delivery(message: Message) -> Text:
    status = message.delivery_status
    if not status:
        return Text("-")
    text = status + (f" ({message.delivery_error})" if message.delivery_error else "")
    return Text(text, style="red" if status in ("undelivered", "failed") else "")


def _state(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, ""))


def plan_view(plan: Plan, *, title: str) -> Group:
    """The plan as a timeline (when each step falls, when it goes, why) and its texts."""
    zone = plan.zone
    table = Table(title=title, show_lines=True)
    for column in ("step", "channel", "falls at", "sends at", "valid until", "outcome"):
        table.add_column(column, overflow="fold")
    texts = []
    for step in plan.steps:
        if step.skip_reason:
            outcome = Text(f"skipped: {step.skip_reason}", style="magenta")
        else:
            outcome = Text(step.note or "on time")
        valid = format_staff(step.expires_at, zone) if step.expires_at else "-"
        sends = "-" if step.skipped else format_staff(step.due_at, zone)
        table.add_row(
            step.step_id,
            step.channel.value,
            format_staff(step.natural_at, zone),
            sends,
            valid,
            outcome,
        )
        if step.skipped:
            continue
        text = f"Subject: {step.subject}\n\n{step.body}" if step.subject else step.body
        texts.append(
            Panel(text, title=f"{step.step_id} ({step.channel.value})", title_align="left")
        )
    windows = Table(title="windows: what the patient avoids, until when", show_lines=True)
    for column in ("window", "avoid", "length", "ends", "the message that says so"):
        windows.add_column(column, overflow="fold")
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
            windows.add_row(
                window.id,
                ", ".join(window.avoid),
                format_duration(group.end - plan.treatment_at),
                format_staff(group.end, zone),
                ending,
            )
    hours = (plan.restriction_end - plan.treatment_at).total_seconds() / 3600
    summary = Text(
        f"treatment {format_staff(plan.treatment_at, zone)}; restriction ends "
        f"{format_staff(plan.restriction_end, zone)} ({hours:g} h elapsed); "
        f"policy {plan.policy_version}"
    )
    return Group(windows, table, summary, *texts)


def patient_message_view(message: PlannedStep) -> Panel:
    """What the patient will be told, as the desk sees it before saving."""
    if message.skip_reason:
        return Panel(
            Text(f"A correction would not be sent: {message.skip_reason}", style="magenta"),
            title="the patient",
        )
    text = f"Subject: {message.subject}\n\n{message.body}" if message.subject else message.body
    return Panel(
        text,
        title=f"the patient will be told ({message.step_id}, by {message.channel.value})",
        title_align="left",
    )


def messages_table(messages: Sequence[Message], zone: ZoneInfo, *, title: str) -> Table:
    table = Table(title=title)
    for column in (
        "msg",
        "treatment",
        "patient",
        "step",
        "channel",
        "state",
        "due (local)",
        "sent (local)",
        "reason / note",
    ):
        table.add_column(column, overflow="fold")
    for m in messages:
        table.add_row(
            str(m.id),
            str(m.treatment_id),
            m.treatment.patient.name,
            m.step_id,
            m.channel,
            _state(m.state),
            format_staff(m.due_at, zone),
            format_staff(m.sent_at, zone) if m.sent_at else "-",
            m.reason or m.last_error or m.note or "",
        )
    return table


def treatment_view(treatment: Treatment, zone: ZoneInfo) -> Group:
    patient = treatment.patient
    contact = ", ".join(c for c in (patient.phone, patient.email) if c)
    header = Text.assemble(
        (f"Treatment {treatment.id}", "bold"),
        f"  {treatment.treatment_type}  ",
        _state(treatment.status),
        f"\npatient {patient.name} ({contact})",
        f"\nperformed {format_staff(treatment.performed_at, zone)}, "
        f"logged {format_staff(treatment.logged_at, zone)}, restriction {treatment.restriction}",
        f"\npolicy {treatment.policy_version}",
    )
    if treatment.restriction_reason:
        header.append(f"\nrestriction set for this patient: {treatment.restriction_reason}")
    if treatment.restriction_source:
        header.append(f"\nrestriction from the clinic's own source {treatment.restriction_source}")
    if treatment.cancel_reason:
        header.append(f"\ncancelled: {treatment.cancel_reason}", style="dim")
    if treatment.correction_note:
        header.append(f"\nlast correction: {treatment.correction_note}")
    for alert in treatment.alerts:
        if alert.acknowledged_at is None:
            header.append(f"\nNEEDS A CALL (alert {alert.id}): {alert.detail}", style="bold red")
        else:
            header.append(
                f"\nneeded a call (alert {alert.id}, acknowledged by {alert.acknowledged_by} "
                f"{format_staff(alert.acknowledged_at, zone)}): {alert.detail}",
                style="dim",
            )
    table = Table(title="messages", show_lines=True)
    for column in (
        "msg",
        "step",
        "channel",
        "state",
        "due (local)",
        "sent (local)",
        "delivery",
        "attempts",
        "history",
    ):
        table.add_column(column, overflow="fold")
    for m in treatment.messages:
        history = "\n".join(
            f"{format_staff(e.at, zone)} {e.kind}" + (f": {e.detail}" if e.detail else "")
            for e in m.events
        )
        table.add_row(
            str(m.id),
            m.step_id,
            m.channel,
            _state(m.state),
            format_staff(m.due_at, zone),
            format_staff(m.sent_at, zone) if m.sent_at else "-",
            _delivery(m),
            str(m.attempts),
            history,
        )
    rewritten = [
        Panel(
            f"Subject: {m.sent_subject}\n\n{m.sent_body}" if m.sent_subject else m.sent_body,
            title=f"message {m.id} as sent (the plan above was written for its due time)",
            title_align="left",
        )
        for m in treatment.messages
        if m.sent_body
    ]
    return Group(Panel(header), table, *rewritten)


def policy_summary(policy: Policy) -> Group:
    """What a policy asks of the patient, for how long, and on which answers each rests."""
    restriction = policy.restriction
    header = Text.assemble(
        (f"{policy.treatment} ({policy.version})", "bold"),
        f"\nrestriction lengths the answers support: {format_duration(policy.shortest)} "
        f"to {format_duration(policy.longest)}: {restriction.says}",
        "\n",
        _citations(restriction.citations),
    )
    windows = Table(title="windows: what to avoid, for how long", show_lines=True)
    for column in ("window", "length", "avoid", "instruction", "cited answers"):
        windows.add_column(column, overflow="fold")
    for window in policy.windows:
        length = "the restriction" if window.length is None else format_duration(window.length)
        for i, instruction in enumerate(window.instructions):
            windows.add_row(
                window.id if i == 0 else "",
                length if i == 0 else "",
                ", ".join(window.avoid) if i == 0 else "",
                instruction.says,
                _citations(instruction.citations),
            )
    steps = Table(title="messages", show_lines=True)
    for column in ("step", "offset", "expires", "may wait", "instruction", "cited answers"):
        steps.add_column(column, overflow="fold")
    for step in policy.steps:
        offset, expires = step_times(step)
        for i, instruction in enumerate(step.instructions):
            first = i == 0
            steps.add_row(
                step.id if first else "",
                offset if first else "",
                expires if first else "",
                ("yes" if step.may_wait else "no") if first else "",
                instruction.says,
                _citations(instruction.citations),
            )
    return Group(Panel(header), windows, steps)


def _citations(citations: Sequence[Citation]) -> Text:
    return Text("\n".join(f"{c.clinician}: {c.heading!r}" for c in citations), style="dim")


def print_problems(console: Console, problems: Sequence[Problem]) -> None:
    for problem in problems:
        # One line per problem, whatever the terminal width: people grep these.
        console.print(Text(str(problem), style="red"), soft_wrap=True)


def clinics_table(clinics: Sequence[Clinic]) -> Table:
    table = Table(title="clinics")
    for column in ("id", "slug", "name", "timezone", "restriction", "quiet hours", "channel"):
        table.add_column(column)
    for c in clinics:
        table.add_row(
            str(c.id),
            c.slug,
            c.name,
            c.timezone,
            c.restriction,
            c.quiet_hours or "-",
            c.default_channel,
        )
    return table


def keys_table(keys: Sequence[ApiKey]) -> Table:
    table = Table(title="API keys")
    for column in ("prefix", "label", "created", "revoked"):
        table.add_column(column)
    for k in keys:
        table.add_row(
            k.prefix,
            k.label,
            f"{k.created_at:%Y-%m-%d %H:%M} UTC",
            f"{k.revoked_at:%Y-%m-%d %H:%M} UTC" if k.revoked_at else "-",
        )
    return table


def sms_cost_table(
    policy: Policy, reports: Sequence[SmsReport], budget: int, *, name: str = "a 60-character name"
) -> Table:
    table = Table(title=f"{policy.treatment} SMS cost (budget {budget} segments, {name})")
    for column in ("message", "restriction", "encoding", "as written", "at its longest"):
        table.add_column(column)
    for r in reports:
        longest = Text(
            f"{r.longest.units} units, {r.longest.segments} segment(s)",
            style="red" if r.longest.segments > budget else "",
        )
        table.add_row(
            r.step_id,
            format_duration(r.restriction),
            r.longest.encoding,
            f"{r.template.units} units, {r.template.segments} segment(s)",
            longest,
        )
    return table


def needs_call_table(alerts: Sequence[Alert], zone: ZoneInfo) -> Table:
    """Patients the service can no longer reach: call them, then acknowledge the alert."""
    table = Table(title="needs a call (acknowledge with `reminders acknowledge ID`)")
    for column in ("alert", "treatment", "patient", "contact", "since", "what they will miss"):
        table.add_column(column, overflow="fold")
    for alert in alerts:
        patient = alert.treatment.patient if alert.treatment else None
        table.add_row(
            str(alert.id),
            str(alert.treatment_id or "-"),
            patient.name if patient else "-",
            ", ".join(c for c in (patient.phone, patient.email) if c) if patient else "-",
            format_staff(alert.created_at, zone),
            Text(alert.detail, style="red"),
        )
    return table


def channel_problems_view(problems: Sequence[ChannelProblem], zone: ZoneInfo) -> Group:
    """Channels waiting for the deployment's settings: nothing is lost, nothing goes."""
    lines = [
        Text(
            f"{p.channel.upper()} channel waiting since {format_staff(p.since, zone)}: "
            f"{p.problem}. Messages wait in the queue, their attempts unspent, and go once "
            "the settings are fixed.",
            style="bold red",
        )
        for p in problems
    ]
    return Group(*lines)


def failures_table(messages: Sequence[Message], zone: ZoneInfo, *, title: str) -> Table:
    """Who to call: messages that failed or were not delivered, with the contact to use."""
    table = Table(title=title)
    for column in ("msg", "treatment", "patient", "contact", "step", "channel", "when", "problem"):
        table.add_column(column, overflow="fold")
    for m in messages:
        patient = m.treatment.patient
        problem = m.reason or m.last_error or ""
        if m.delivery_status in ("undelivered", "failed"):
            problem = f"not delivered: {m.delivery_status}" + (
                f" (error {m.delivery_error})" if m.delivery_error else ""
            )
        table.add_row(
            str(m.id),
            str(m.treatment_id),
            patient.name,
            ", ".join(c for c in (patient.phone, patient.email) if c),
            m.step_id,
            m.channel,
            format_staff(m.updated_at, zone),
            Text(problem, style="red"),
        )
    return table
