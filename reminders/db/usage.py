"""The SMS budget's queries: segments used per clinic and month, texts held over it, and
the clinic's budget alert. Only clinics with a budget ever reach these.

Usage is a counter row per clinic and month (`sms_usage`), added to once per recorded
slice in the transaction that records the sends. Summing sent messages instead would
need each text's segments stored and a scan of the month's sends before each slice; the
counter is one indexed row however many texts a month holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from reminders.db import history
from reminders.db.models import PENDING_ROW, Alert, Message, SmsUsage
from reminders.domain import AlertKind, EventKind, MessageState

HELD_FOR_BUDGET = "sms_budget"
PENDING = MessageState.PENDING.value


def used(session: Session, *, clinic_id: int, month: str) -> tuple[int, int]:
    """Segments sent this month, and the allowance staff added to the budget for it."""
    row = session.execute(
        select(SmsUsage.segments, SmsUsage.allowed_segments).where(
            SmsUsage.clinic_id == clinic_id, SmsUsage.month == month
        )
    ).one_or_none()
    return (row[0], row[1]) if row else (0, 0)


def _upsert(session: Session, values: dict[str, Any], add: set[str]) -> None:
    """Insert the month's row, or add to its counters."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(SmsUsage).values(**values)
    changes = {name: getattr(SmsUsage, name) + statement.excluded[name] for name in add}
    keys = {"clinic_id", "month"}
    changes.update({name: statement.excluded[name] for name in values.keys() - add - keys})
    session.execute(
        statement.on_conflict_do_update(index_elements=["clinic_id", "month"], set_=changes)
    )


def add_segments(
    session: Session, *, clinic_id: int, month: str, segments: int, now: datetime
) -> None:
    _upsert(
        session,
        {
            "clinic_id": clinic_id,
            "month": month,
            "segments": segments,
            "allowed_segments": 0,
            "updated_at": now,
        },
        {"segments", "allowed_segments"},
    )


def allow(
    session: Session, *, clinic_id: int, month: str, segments: int, by: str, now: datetime
) -> tuple[int, int]:
    """Add `segments` to this month's allowance; returns (used, allowed) after."""
    _upsert(
        session,
        {
            "clinic_id": clinic_id,
            "month": month,
            "segments": 0,
            "allowed_segments": segments,
            "allowed_by": by,
            "allowed_at": now,
            "updated_at": now,
        },
        {"segments", "allowed_segments"},
    )
    return used(session, clinic_id=clinic_id, month=month)


def warn_once(
    session: Session, *, clinic_id: int, month: str, limit: int, now: datetime
) -> int | None:
    """Mark the month warned if 80 % of `limit` is used and it was not yet: returns the
    segments used, or None. One conditional UPDATE, so two workers warn once."""
    return session.scalar(
        update(SmsUsage)
        .where(
            SmsUsage.clinic_id == clinic_id,
            SmsUsage.month == month,
            SmsUsage.warned_at.is_(None),
            SmsUsage.segments * 5 >= limit * 4,
        )
        .values(warned_at=now)
        .returning(SmsUsage.segments)
    )


def held_count(session: Session, *, clinic_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.clinic_id == clinic_id,
                Message.held_for.is_not(None),
                Message.state == PENDING_ROW,
            )
        )
        or 0
    )


def clinics_holding(session: Session) -> Sequence[int]:
    """Clinics with messages marked held (through the small partial index)."""
    return session.scalars(
        select(Message.clinic_id).where(Message.held_for.is_not(None)).distinct()
    ).all()


def release(session: Session, *, clinic_id: int, now: datetime, detail: str) -> list[int]:
    """Held texts go back to the queue now; a mark left on a message that went some other
    way meanwhile (it came due at the month's end) is cleared too."""
    rows = session.execute(
        update(Message)
        .where(Message.clinic_id == clinic_id, Message.held_for.is_not(None))
        .values(
            held_for=None,
            send_after=case((Message.state == PENDING_ROW, now), else_=Message.send_after),
        )
        .returning(Message.id, Message.state)
    ).all()
    ids = [message_id for message_id, state in rows if state == PENDING]
    history.record_each(session, ids, kind=EventKind.RELEASED, state=PENDING, at=now, detail=detail)
    return ids


def expire_held(session: Session, *, now: datetime, reason: str) -> Sequence[Message]:
    """Held texts whose step expired are skipped with `reason`, never sent late."""
    expired = session.scalars(
        update(Message)
        .where(
            Message.held_for.is_not(None),
            Message.state == PENDING_ROW,
            Message.expires_at <= now,
        )
        .values(state=MessageState.SKIPPED.value, reason=reason, held_for=None, updated_at=now)
        .returning(Message)
    ).all()
    history.record_each(
        session,
        [m.id for m in expired],
        kind=EventKind.SKIPPED,
        state=MessageState.SKIPPED.value,
        at=now,
        detail=reason,
    )
    return expired


def set_alert(
    session: Session, *, clinic_id: int, detail: str, now: datetime, append: bool = False
) -> Alert:
    """The clinic's one open budget alert, opened or brought up to date: its status
    replaced (how much is used, how many texts wait), or a line added."""
    alert = session.scalars(
        select(Alert).where(
            Alert.clinic_id == clinic_id,
            Alert.treatment_id.is_(None),
            Alert.kind == AlertKind.SMS_BUDGET.value,
            Alert.acknowledged_at.is_(None),
        )
    ).first()
    if alert is None:
        alert = Alert(
            clinic_id=clinic_id,
            treatment_id=None,
            kind=AlertKind.SMS_BUDGET.value,
            detail=detail,
            created_at=now,
            updated_at=now,
        )
        session.add(alert)
        session.flush()
        return alert
    # The first line is the status; lines added after it (texts that expired) stay.
    _, _, added = alert.detail.partition("\n")
    if append:
        alert.detail = f"{alert.detail}\n{detail}"
    else:
        alert.detail = f"{detail}\n{added}" if added else detail
    alert.updated_at = now
    return alert


def acknowledge_alert(session: Session, *, clinic_id: int, by: str, now: datetime) -> None:
    session.execute(
        update(Alert)
        .where(
            Alert.clinic_id == clinic_id,
            Alert.kind == AlertKind.SMS_BUDGET.value,
            Alert.acknowledged_at.is_(None),
        )
        .values(acknowledged_at=now, acknowledged_by=by, updated_at=now)
    )
