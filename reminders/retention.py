"""Removing patients' contact details once their aftercare is long over.

A patient's phone and email are kept while any of their treatments has a message
still to go, and for `keep` after the last of their messages settled (sent, skipped,
failed or cancelled) or their last treatment changed. After that the phone and email
are removed, as is the number on the texts they sent us; treatments, messages and
their histories stay, without them, for the clinic's records and audits.

Kept on purpose: a phone on the clinic's STOP list stays there, or the clinic could
text a patient who opted out again once the number reappears in a new treatment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from reminders.clock import Clock
from reminders.db.models import InboundMessage, Message, Patient, Treatment
from reminders.domain import MessageState

# Patients scrubbed per transaction: a first run over years of history stays in
# short transactions that never hold the worker up for long.
CHUNK = 500
REMOVED = "removed"  # what a reply's sender number reads once removed


@dataclass(frozen=True)
class RetentionReport:
    cutoff: datetime  # activity before this is old enough
    patients: int  # whose contact details were (or would be) removed
    replies: int  # texts from them whose sender number was (or would be) removed
    dry_run: bool


class Retention:
    def __init__(self, *, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def run(
        self, *, keep: timedelta, dry_run: bool, clinic_id: int | None = None
    ) -> RetentionReport:
        """Remove (or, with `dry_run`, count) the contact details due for removal."""
        now = self.clock.now()
        cutoff = now - keep
        patients = replies = 0
        while True:
            with self.sessions.begin() as session:
                ids = _due(session, cutoff, clinic_id, limit=None if dry_run else CHUNK)
                replies += _replies(session, ids, dry_run=dry_run)
                if not dry_run and ids:
                    _scrub(session, ids, now)
            patients += len(ids)
            if dry_run or len(ids) < CHUNK:
                return RetentionReport(cutoff, patients, replies, dry_run)


def _due(
    session: Session, cutoff: datetime, clinic_id: int | None, *, limit: int | None
) -> list[int]:
    query = (
        select(Patient.id)
        .where(
            Patient.contact_removed_at.is_(None),
            or_(Patient.phone.is_not(None), Patient.email.is_not(None)),
            ~exists().where(Treatment.patient_id == Patient.id, _still_active(cutoff)),
        )
        .order_by(Patient.id)
        .limit(limit)
    )
    if clinic_id is not None:
        query = query.where(Patient.clinic_id == clinic_id)
    return list(session.scalars(query))


def _still_active(cutoff: datetime) -> ColumnElement[bool]:
    """A treatment that changed since the cutoff, or has a message that is still to go
    or settled since then."""
    recent_message = exists().where(
        Message.treatment_id == Treatment.id,
        or_(
            Message.state.in_([MessageState.PENDING.value, MessageState.SENDING.value]),
            Message.updated_at >= cutoff,
        ),
    )
    return or_(Treatment.updated_at >= cutoff, recent_message)


def _replies(session: Session, ids: list[int], *, dry_run: bool) -> int:
    if not ids:
        return 0
    mine = and_(InboundMessage.patient_id.in_(ids), InboundMessage.from_phone != REMOVED)
    if dry_run:
        return session.scalar(select(func.count()).where(mine)) or 0
    result = session.execute(update(InboundMessage).where(mine).values(from_phone=REMOVED))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _scrub(session: Session, ids: list[int], now: datetime) -> None:
    session.execute(
        update(Patient)
        .where(Patient.id.in_(ids))
        .values(phone=None, email=None, contact_removed_at=now, updated_at=now)
    )
