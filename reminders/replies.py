"""Patients' replies for staff: the inbox, acknowledging, confirming a request to stop.

The inbox lists a clinic's replies newest first, with those still waiting for
staff on top: emergencies, then clinical flags, then requests in words to stop
texts. A flagged reply waits until someone acknowledges it; a request to stop
waits until someone confirms it (then it is handled as a STOP keyword) or
dismisses it (acknowledges it).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from reminders import inbound, reroute
from reminders.clock import Clock
from reminders.db.models import InboundMessage, OnCallAlert
from reminders.errors import InputError, NotFoundError
from reminders.inputs import clean_text
from reminders.triage import Category

MAX_ACTOR = 80  # who acknowledged a reply, as stored
FLAGGED = (Category.EMERGENCY.value, Category.CLINICAL.value)
WAITING = (*FLAGGED, Category.OPT_OUT_REQUEST.value)
OPT_OUT_SOURCE = "request confirmed by staff"


def is_flagged() -> ColumnElement[bool]:
    return InboundMessage.triage.in_(FLAGGED)


def is_open() -> ColumnElement[bool]:
    """Waiting for staff: flagged or a request to stop, not yet acknowledged."""
    return and_(InboundMessage.acknowledged_at.is_(None), InboundMessage.triage.in_(WAITING))


# Open emergencies first, then open clinical flags, then open requests to stop.
_RANK = case(
    *(
        (and_(InboundMessage.acknowledged_at.is_(None), InboundMessage.triage == value), rank)
        for rank, value in enumerate(WAITING)
    ),
    else_=len(WAITING),
)


@dataclass(frozen=True)
class ReplyFilter:
    flagged: bool = False  # emergencies and clinical flags only
    open: bool = False  # only those waiting for staff
    limit: int = 200


class Replies:
    def __init__(
        self, *, sessions: sessionmaker[Session], clock: Clock, reroutes: reroute.Reroutes
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.reroutes = reroutes

    def inbox(self, clinic_id: int, query: ReplyFilter = ReplyFilter()) -> Sequence[InboundMessage]:
        """The clinic's replies, those waiting for staff on top, then newest first; each
        with its patient (if the number is on file) and their latest treatment's id."""
        statement = (
            select(InboundMessage)
            .where(InboundMessage.clinic_id == clinic_id)
            .options(selectinload(InboundMessage.patient))
            .order_by(_RANK, InboundMessage.received_at.desc(), InboundMessage.id.desc())
            .limit(query.limit)
        )
        if query.flagged:
            statement = statement.where(is_flagged())
        if query.open:
            statement = statement.where(is_open())
        with self.sessions() as session:
            return session.scalars(statement).all()

    def open_flagged(self, clinic_id: int, *, limit: int = 200) -> Sequence[InboundMessage]:
        """Flagged replies nobody has acknowledged yet: patients to call."""
        return self.inbox(clinic_id, ReplyFilter(flagged=True, open=True, limit=limit))

    def open_flagged_count(self, clinic_id: int) -> int:
        with self.sessions() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(InboundMessage)
                    .where(InboundMessage.clinic_id == clinic_id, is_flagged(), is_open())
                )
                or 0
            )

    def on_call_alerts(
        self, clinic_id: int, reply_ids: Collection[int]
    ) -> Mapping[int, Sequence[OnCallAlert]]:
        """The on-call alerts written for these replies, by reply id: whether on-call was
        told of each, and how far each alert got (pending, sending, sent, failed)."""
        found: dict[int, list[OnCallAlert]] = {}
        if not reply_ids:
            return found
        with self.sessions() as session:
            alerts = session.scalars(
                select(OnCallAlert)
                .where(OnCallAlert.clinic_id == clinic_id, OnCallAlert.inbound_id.in_(reply_ids))
                .order_by(OnCallAlert.id)
            )
            for alert in alerts:
                found.setdefault(alert.inbound_id, []).append(alert)
        return found

    def acknowledge(self, clinic_id: int, reply_id: int, *, by: str) -> InboundMessage:
        """Mark a reply as dealt with (or a request to stop as dismissed); again changes
        nothing."""
        by = clean_text(by, field="by", longest=MAX_ACTOR)
        with self.sessions.begin() as session:
            reply = _owned(session, clinic_id, reply_id)
            if reply.acknowledged_at is None:
                reply.acknowledged_at = self.clock.now()
                reply.acknowledged_by = by
            return reply

    def confirm_opt_out(self, clinic_id: int, reply_id: int, *, by: str) -> InboundMessage:
        """The patient asked in words to stop texts, and staff agree: record the opt-out
        and move the rest of their aftercare off texts, as a STOP keyword does. Confirming
        again changes nothing."""
        by = clean_text(by, field="by", longest=MAX_ACTOR)
        now = self.clock.now()
        with self.sessions.begin() as session:
            reply = _owned(session, clinic_id, reply_id)
            if reply.kind != "reply":
                raise InputError("reply", f"reply {reply_id} is a keyword, handled already")
            if reply.opt_out_confirmed_at is None:
                inbound.stop_texts(
                    session,
                    self.reroutes,
                    clinic_id=clinic_id,
                    phone=reply.from_phone,
                    source=OPT_OUT_SOURCE,
                    why="the patient asked to stop texts; staff confirmed",
                    now=now,
                )
                reply.opt_out_confirmed_at = now
            if reply.acknowledged_at is None:
                reply.acknowledged_at, reply.acknowledged_by = now, by
            return reply


def _owned(session: Session, clinic_id: int, reply_id: int) -> InboundMessage:
    reply = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.id == reply_id, InboundMessage.clinic_id == clinic_id)
        .options(selectinload(InboundMessage.patient))
    ).one_or_none()
    if reply is None:
        raise NotFoundError(f"reply {reply_id} not found")
    return reply
