"""The one writer of planned messages: new plans, re-plans, and steps moved to another channel.

Every message row starts here, with its first history event. Rows go straight
to the tables (Core): they are only inserted, and the ORM's unit of work would
cost more than the inserts themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from reminders.db import bulk, history, wakeups
from reminders.db.history import event_row
from reminders.db.models import Message, table_of
from reminders.domain import EventKind, MessageState
from reminders.planning import Plan, PlannedStep

_messages = table_of(Message)


@dataclass(frozen=True)
class NewMessage:
    """A planned step about to become a message row."""

    clinic_id: int
    treatment_id: int
    step: PlannedStep
    policy_version: str
    event: EventKind  # its first event, unless it is skipped from the start
    note: str | None = None  # why it was planned this way (default: the step's own note)
    skip_reason: str | None = None  # overrides the step's own, if set


@dataclass(frozen=True)
class StoredMessage:
    """A message as inserted: its id, its columns and its first event's columns."""

    id: int
    columns: dict[str, Any]
    first_event: dict[str, Any]


def from_plan(
    clinic_id: int,
    treatment_id: int,
    plan: Plan,
    *,
    event: EventKind,
    done: Mapping[str, str] | None = None,
) -> list[NewMessage]:
    """A new message for each step of a plan; steps `done` (step id: why) are kept as
    skipped, with the reason."""
    return [
        NewMessage(
            clinic_id,
            treatment_id,
            step,
            plan.policy_version,
            event,
            skip_reason=(done or {}).get(step.step_id),
        )
        for step in plan.steps
    ]


def insert(connection: Connection, new: Sequence[NewMessage], now: datetime) -> list[StoredMessage]:
    """Insert the messages and their first events: one statement per table for any number."""
    rows = [_columns(message, now) for message in new]
    ids = bulk.insert_with_ids(connection, _messages, rows)
    stored = [
        StoredMessage(message_id, columns, _first_event(message_id, message, columns, now))
        for message_id, columns, message in zip(ids, rows, new, strict=True)
    ]
    history.record_rows(connection, [s.first_event for s in stored])
    if any(row["state"] == MessageState.PENDING.value for row in rows):
        wakeups.planned(connection)
    return stored


def insert_plans(
    connection: Connection,
    plans: Iterable[tuple[int, int, Plan]],
    now: datetime,
    *,
    event: EventKind,
    done: Mapping[str, str] | None = None,
) -> list[StoredMessage]:
    """Each plan's messages, for treatments already inserted: (clinic id, treatment id, plan)."""
    new = [
        message
        for clinic_id, treatment_id, plan in plans
        for message in from_plan(clinic_id, treatment_id, plan, event=event, done=done)
    ]
    return insert(connection, new, now)


def _columns(message: NewMessage, now: datetime) -> dict[str, Any]:
    step = message.step
    skip = message.skip_reason or step.skip_reason
    return {
        "clinic_id": message.clinic_id,
        "treatment_id": message.treatment_id,
        "step_id": step.step_id,
        "channel": step.channel.value,
        "state": MessageState.SKIPPED.value if skip else MessageState.PENDING.value,
        "natural_at": step.natural_at,
        "due_at": step.due_at,
        "send_after": step.due_at,
        "expires_at": step.expires_at,
        "not_before": step.not_before,
        "subject": step.subject,
        "body": step.body,
        "policy_version": message.policy_version,
        "note": message.note or step.note,
        "reason": skip,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def _first_event(
    message_id: int, message: NewMessage, columns: dict[str, Any], now: datetime
) -> dict[str, Any]:
    skip = columns["reason"]
    detail = "; ".join(part for part in (columns["note"], skip) if part) or None
    kind = EventKind.SKIPPED if skip else message.event
    return event_row(message_id, kind, columns["state"], now, detail)
