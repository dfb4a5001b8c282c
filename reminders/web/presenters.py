"""Rows and plans as the pages show them: local times, masked contacts, stages in words."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from reminders.db.models import Message
from reminders.localtime import format_staff
from reminders.progress import DELIVERY_ERRORS, FirstMessage, Stage

STAGES = {
    Stage.PLANNED: "planned",
    Stage.QUEUED: "queued",
    Stage.SENDING: "sending",
    Stage.SENT: "sent",
    Stage.DELIVERED: "delivered ✓",
    Stage.UNDELIVERED: "not delivered",
    Stage.FAILED: "refused",
    Stage.SKIPPED: "not sent",
    Stage.CANCELLED: "cancelled",
}
MASK = "•••"


def staff_time(instant: datetime | None, zone: ZoneInfo) -> str:
    """As the command line shows times: `2026-11-27 14:00 EST`; `-` for none."""
    return "-" if instant is None else format_staff(instant, zone)


def masked_phone(phone: str | None) -> str:
    """`+1 ••• 0199`: enough to check with the patient, not enough to copy."""
    if not phone:
        return ""
    return f"{phone[:2]} {MASK} {phone[-4:]}" if len(phone) > 6 else MASK


def masked_email(email: str | None) -> str:
    """`j•••@example.org`."""
    if not email:
        return ""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{MASK}@{domain}"


def stage_label(first: FirstMessage) -> str:
    return STAGES[first.stage]


def avoiding_text(avoiding: Sequence[tuple[str, datetime]], zone: ZoneInfo) -> list[str]:
    """`exercise, facials until 2026-11-27 18:00 EST`, one line per end, soonest first."""
    by_end: dict[datetime, list[str]] = {}
    for item, end in avoiding:
        by_end.setdefault(end, []).append(item)
    return [f"{', '.join(items)} until {staff_time(end, zone)}" for end, items in by_end.items()]


def delivery_text(message: Message) -> str:
    """The provider's word on a message: `delivered`, `undelivered (30005: ...)`; `-`."""
    status = message.delivery_status
    if not status:
        return "-"
    code = message.delivery_error
    if not code:
        return status
    meaning = DELIVERY_ERRORS.get(code)
    return f"{status} ({code}: {meaning})" if meaning else f"{status} ({code})"


def problem_text(message: Message) -> str:
    """Why a message in the day's problems did not reach the patient."""
    if message.delivery_status in ("undelivered", "failed"):
        return f"not delivered: {delivery_text(message)}"
    return f"refused: {message.reason or message.last_error or 'no reason given'}"
