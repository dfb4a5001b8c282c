"""Patients' replies as the pages show them: who, what was flagged and why, what the
patient was answered, whether on-call heard of it, and what staff did."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reminders.db.models import InboundMessage, OnCallAlert
from reminders.replies import WAITING, ReplyFilter
from reminders.triage import Category, FlagCitation, TriagePolicy
from reminders.web.presenters import masked_phone

if TYPE_CHECKING:
    from reminders.bootstrap import App

CATEGORIES = {
    Category.EMERGENCY.value: "Emergency",
    Category.CLINICAL.value: "Clinical flag",
    Category.OPT_OUT_REQUEST.value: "Asks to stop texts",
    Category.ORDINARY.value: "Reply",
}
KEYWORDS = {"opt_out": "STOP keyword", "opt_in": "START keyword", "help": "HELP keyword"}
ALERT_STATES = {
    "pending": "waiting to be sent",
    "sending": "being sent",
    "sent": "sent",
    "failed": "failed",
}
CHANNELS = {"sms": "by text", "email": "by email"}


@dataclass(frozen=True)
class CitedFlag:
    label: str
    citations: tuple[FlagCitation, ...]


@dataclass(frozen=True)
class ReplyCard:
    reply: InboundMessage
    who: str  # the patient's name, or their number masked
    category: str  # emergency, clinical, opt_out_request, ordinary, or the keyword's kind
    category_label: str
    flags: list[str]
    cited: list[CitedFlag]  # the clinical flags, with what the clinicians said
    on_call: list[str]  # one line per alert: "by text: sent"
    waiting: bool  # for staff to acknowledge, or to confirm or dismiss

    @property
    def flagged(self) -> bool:
        return self.category in (Category.EMERGENCY.value, Category.CLINICAL.value)

    @property
    def asks_to_stop(self) -> bool:
        return self.category == Category.OPT_OUT_REQUEST.value


def inbox_cards(app: App, clinic_id: int, query: ReplyFilter) -> list[ReplyCard]:
    """The clinic's replies as `query` picks them, in the inbox's order (those waiting for
    staff first: emergencies, clinical flags, requests to stop texts; then newest first)."""
    found = app.replies.inbox(clinic_id, query)
    alerts = app.replies.on_call_alerts(clinic_id, [reply.id for reply in found])
    return reply_cards(found, alerts, app.triage)


def reply_cards(
    replies: Sequence[InboundMessage],
    alerts: Mapping[int, Sequence[OnCallAlert]],
    triage: TriagePolicy,
) -> list[ReplyCard]:
    """One card per reply, in the inbox's order."""
    return [_card(reply, alerts.get(reply.id, ()), triage) for reply in replies]


def _card(reply: InboundMessage, alerts: Sequence[OnCallAlert], triage: TriagePolicy) -> ReplyCard:
    category = reply.triage or reply.kind
    return ReplyCard(
        reply=reply,
        who=reply.patient.name
        if reply.patient
        else f"Unknown number {masked_phone(reply.from_phone)}",
        category=category,
        category_label=CATEGORIES.get(category) or KEYWORDS.get(category, category),
        flags=triage.labels(reply.flag_ids),
        cited=[
            CitedFlag(flag.label, flag.citations)
            for flag in triage.flags_named(reply.flag_ids)
            if flag.category is Category.CLINICAL
        ],
        on_call=[alert_text(alert) for alert in alerts],
        waiting=reply.acknowledged_at is None and reply.triage in WAITING,
    )


def alert_text(alert: OnCallAlert) -> str:
    """`by text: sent`, `by email: failed (the error)`."""
    state = ALERT_STATES.get(alert.state, alert.state)
    if alert.state == "failed" and alert.last_error:
        state = f"{state} ({alert.last_error})"
    return f"{CHANNELS.get(alert.channel, alert.channel)}: {state}"
