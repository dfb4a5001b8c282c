"""The audit export: every message of a clinic's treatments that was sent, skipped,
failed or cancelled in a period, with the exact text and who logged the treatment.

A message belongs to the period its due time falls in (`due_at`: when it was to
go, which never changes once settled, unlike the time it was settled), the period
being whole days in the clinic's zone, from the first day's 00:00 to the end of
the last. Messages still to go are not in it.

The export streams: messages are read in keyset pages (`PAGE` at a time, each in a
short read of its own) and written as they come, so its size never has to fit in
memory. CSV, JSON Lines and a JSON array are written the same way.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from reminders.actors import shown
from reminders.db.models import Message, Patient, Treatment
from reminders.domain import ChannelKind, MessageState
from reminders.errors import InputError
from reminders.localtime import start_of_local_day

PAGE = 1000
LONGEST_PERIOD = timedelta(days=366)
FORMATS = ("csv", "jsonl", "json")
MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson", "json": "application/json"}
SETTLED = tuple(
    state.value
    for state in (
        MessageState.SENT,
        MessageState.SKIPPED,
        MessageState.FAILED,
        MessageState.CANCELLED,
    )
)
COLUMNS = (
    "message_id",
    "treatment_id",
    "patient",
    "contact",
    "channel",
    "step",
    "state",
    "reason",
    "due_at",
    "due_at_local",
    "sent_at",
    "sent_at_local",
    "policy_version",
    "subject",
    "text",
    "sent_subject",
    "sent_text",
    "provider_id",
    "delivery_status",
    "delivery_updated_at",
    "delivery_updated_at_local",
    "logged_by",
)
Reads = Callable[[], Any]  # a context manager giving a read-only Session


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # included
    start: datetime  # UTC: the first day's 00:00 in the clinic's zone
    end: datetime  # UTC, excluded: the day after the last day's 00:00


EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)  # far from the calendar's ends


def period(first: date, last: date, zone: ZoneInfo) -> Period:
    """Whole clinic-local days from `first` to `last`, both included; at most 366 days."""
    for name, day in (("from", first), ("to", last)):
        if not EARLIEST <= day <= LATEST:
            raise InputError(name, f"must be between {EARLIEST} and {LATEST}")
    if last < first:
        raise InputError("to", "is before from")
    if last - first >= LONGEST_PERIOD:
        raise InputError("to", f"the period is longer than {LONGEST_PERIOD.days} days")
    start = start_of_local_day(datetime(first.year, first.month, first.day, 12, tzinfo=zone), zone)
    after = last + timedelta(days=1)
    end = start_of_local_day(datetime(after.year, after.month, after.day, 12, tzinfo=zone), zone)
    return Period(first, last, start, end)


def parse_day(text: str, *, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InputError(field, f"{text!r} is not a date like 2026-11-27") from exc


def _selected(clinic_id: int, within: Period) -> Select[Any]:
    return (
        select(
            Message.id,
            Message.treatment_id,
            Patient.name,
            Patient.phone,
            Patient.email,
            Message.channel,
            Message.step_id,
            Message.state,
            Message.reason,
            Message.due_at,
            Message.sent_at,
            Message.policy_version,
            Message.subject,
            Message.body,
            Message.sent_subject,
            Message.sent_body,
            Message.provider_id,
            Message.delivery_status,
            Message.delivery_updated_at,
            Treatment.logged_by,
        )
        .join(Treatment, Treatment.id == Message.treatment_id)
        .join(Patient, Patient.id == Treatment.patient_id)
        .where(Message.clinic_id == clinic_id)
        .where(Message.state.in_(SETTLED))
        .where(Message.due_at >= within.start, Message.due_at < within.end)
    )


def count(reads: Reads, clinic_id: int, within: Period) -> int:
    """How many messages the export holds (for a progress bar)."""
    query = select(func.count()).select_from(_selected(clinic_id, within).subquery())
    session: Session
    with reads() as session:
        return int(session.scalar(query) or 0)


def rows(
    reads: Reads, clinic_id: int, zone: ZoneInfo, within: Period, *, page: int | None = None
) -> Iterator[dict[str, str]]:
    """The export's rows in message order, read a page at a time as they are consumed."""
    page = page or PAGE
    after = 0
    while True:
        query = _selected(clinic_id, within).where(Message.id > after)
        session: Session
        with reads() as session:
            found = session.execute(query.order_by(Message.id).limit(page)).all()
        for found_row in found:
            yield _row(found_row, zone)
        if len(found) < page:
            return
        after = found[-1].id


def _row(found: Any, zone: ZoneInfo) -> dict[str, str]:
    contact = found.phone if found.channel == ChannelKind.SMS.value else found.email
    return {
        "message_id": str(found.id),
        "treatment_id": str(found.treatment_id),
        "patient": found.name,
        "contact": contact or "",
        "channel": found.channel,
        "step": found.step_id,
        "state": found.state,
        "reason": found.reason or "",
        **_instant("due_at", found.due_at, zone),
        **_instant("sent_at", found.sent_at, zone),
        "policy_version": found.policy_version,
        "subject": found.subject or "",
        "text": found.body,
        # Only where the text went otherwise than planned (written again at send time).
        "sent_subject": found.sent_subject or "",
        "sent_text": found.sent_body or "",
        "provider_id": found.provider_id or "",
        "delivery_status": found.delivery_status or "",
        **_instant("delivery_updated_at", found.delivery_updated_at, zone),
        "logged_by": shown(found.logged_by),
    }


def _instant(name: str, at: datetime | None, zone: ZoneInfo) -> dict[str, str]:
    if at is None:
        return {name: "", f"{name}_local": ""}
    utc = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {name: utc, f"{name}_local": at.astimezone(zone).isoformat()}


def write_csv(found: Iterable[dict[str, str]], flush_at: int = 65536) -> Iterator[str]:
    """CSV text (a header, then a line per message) in chunks of about `flush_at` chars."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in found:
        writer.writerow(row)
        if buffer.tell() >= flush_at:
            yield _drain(buffer)
    yield _drain(buffer)


def write_jsonl(found: Iterable[dict[str, str]]) -> Iterator[str]:
    for row in found:
        yield json.dumps(row, ensure_ascii=False) + "\n"


def write_json(found: Iterable[dict[str, str]]) -> Iterator[str]:
    """A JSON array, one element per line, written as the rows come."""
    separator = "[\n"
    for row in found:
        yield separator + json.dumps(row, ensure_ascii=False)
        separator = ",\n"
    yield "[]\n" if separator == "[\n" else "\n]\n"


WRITERS: dict[str, Callable[[Iterable[dict[str, str]]], Iterator[str]]] = {
    "csv": write_csv,
    "jsonl": write_jsonl,
    "json": write_json,
}


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
