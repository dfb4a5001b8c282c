"""How `reminders replies` and `reminders failures` show patients' replies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.table import Table
from rich.text import Text

from reminders.localtime import format_staff
from reminders.replies import WAITING
from reminders.views import Document, as_text

if TYPE_CHECKING:
    from reminders.db.models import Clinic, InboundMessage
    from reminders.triage import TriagePolicy

TRIAGE_STYLE = {"emergency": "bold red", "clinical": "red", "opt_out_request": "yellow"}


def no_on_call(clinic: Clinic) -> str | None:
    """What staff must know when nobody hears of flagged replies at once."""
    if clinic.on_call_phone or clinic.on_call_email:
        return None
    return (
        f"No on-call contact is configured for {clinic.name}: flagged replies wait here for "
        "staff (set on_call_phone or on_call_email in the clinic's settings)."
    )


def _status(reply: InboundMessage, zone: ZoneInfo) -> Text:
    if reply.opt_out_confirmed_at is not None:
        return as_text(f"opted out ({reply.acknowledged_by})", style="dim")
    if reply.acknowledged_at is not None:
        when = format_staff(reply.acknowledged_at, zone)
        return as_text(f"acknowledged by {reply.acknowledged_by}, {when}", style="dim")
    if reply.triage in WAITING:
        return Text("waiting for staff", style="bold")
    return Text("-")


def _who(reply: InboundMessage) -> Text:
    name = reply.patient.name if reply.patient else "unknown number"
    treatment = f" (treatment {reply.treatment_id})" if reply.treatment_id else ""
    return as_text(name + treatment)


def _what(reply: InboundMessage, triage: TriagePolicy) -> Text:
    what = reply.triage or reply.kind
    labels = triage.labels(reply.flag_ids)
    return as_text(what + (f": {', '.join(labels)}" if labels else ""), TRIAGE_STYLE.get(what, ""))


def replies_table(
    replies: Sequence[InboundMessage], zone: ZoneInfo, triage: TriagePolicy, *, title: str
) -> Table:
    """Replies, those waiting for staff on top, with the patient and what they wrote."""
    table = Table(title=title)
    table.add_column("reply", no_wrap=True)
    table.add_column("received", no_wrap=True)
    for header in ("triage", "patient", "they wrote", "status"):
        table.add_column(header, overflow="fold")
    for reply in replies:
        table.add_row(
            Text(str(reply.id)),
            Text(format_staff(reply.received_at, zone)),
            _what(reply, triage),
            _who(reply),
            as_text(reply.body),
            _status(reply, zone),
        )
    return table


def replies_document(
    replies: Sequence[InboundMessage], triage: TriagePolicy, *, open_flagged: int
) -> Document:
    """`GET /v1/replies`'s body."""
    from reminders.api.presenters import reply_public

    return {
        "items": [reply_public(r, triage).model_dump(mode="json") for r in replies],
        "open_flagged": open_flagged,
    }
