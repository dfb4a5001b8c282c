"""Every query the service makes, including the atomic claim of due messages.

Functions take the session and keyword-only arguments; the caller owns the
transaction. Times are always bound parameters from the injected clock, never
the database's own now().
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, joinedload, selectinload

from reminders.db import history
from reminders.db.models import (
    PENDING_ROW,
    SENDING_ROW,
    Alert,
    ChannelProblem,
    Clinic,
    IdempotencyKey,
    InboundMessage,
    Message,
    Patient,
    SmsOptOut,
    Treatment,
)
from reminders.domain import AlertKind, EventKind, MessageState

PENDING = MessageState.PENDING.value
SENDING = MessageState.SENDING.value


def get_clinic_by_slug(session: Session, *, slug: str) -> Clinic | None:
    return session.scalars(select(Clinic).where(Clinic.slug == slug)).one_or_none()


def get_clinic(session: Session, *, clinic_id: int) -> Clinic | None:
    return session.get(Clinic, clinic_id)


def get_treatment(session: Session, *, clinic_id: int, treatment_id: int) -> Treatment | None:
    return session.scalars(
        select(Treatment)
        .where(Treatment.id == treatment_id, Treatment.clinic_id == clinic_id)
        .options(selectinload(Treatment.messages).selectinload(Message.events))
    ).one_or_none()


def get_treatment_brief(session: Session, *, clinic_id: int, treatment_id: int) -> Treatment | None:
    """A treatment with its patient, clinic and messages, without their histories: what a
    look at its progress reads, as often as ten times a second."""
    return session.scalars(
        select(Treatment)
        .where(Treatment.id == treatment_id, Treatment.clinic_id == clinic_id)
        .options(
            joinedload(Treatment.patient),
            joinedload(Treatment.clinic),
            selectinload(Treatment.messages),
        )
    ).one_or_none()


def treatments_since(
    session: Session, *, clinic_id: int, since: datetime, limit: int
) -> Sequence[Treatment]:
    """A clinic's treatments performed since `since`, with patients and messages (no
    histories): what the desk's day is made of."""
    return session.scalars(
        select(Treatment)
        .where(Treatment.clinic_id == clinic_id, Treatment.performed_at >= since)
        .options(joinedload(Treatment.patient), selectinload(Treatment.messages))
        .order_by(Treatment.performed_at.desc(), Treatment.id.desc())
        .limit(limit)
    ).all()


@dataclass(frozen=True)
class TreatmentQuery:
    limit: int
    performed_from: datetime | None = None
    performed_to: datetime | None = None
    phone: str | None = None
    status: str | None = None
    # Keyset cursor: strictly after this (performed_at, id) in newest-first order.
    after: tuple[datetime, int] | None = None


def find_treatments(
    session: Session, *, clinic_id: int, query: TreatmentQuery
) -> Sequence[Treatment]:
    stmt = select(Treatment).where(Treatment.clinic_id == clinic_id)
    if query.performed_from:
        stmt = stmt.where(Treatment.performed_at >= query.performed_from)
    if query.performed_to:
        stmt = stmt.where(Treatment.performed_at < query.performed_to)
    if query.status:
        stmt = stmt.where(Treatment.status == query.status)
    if query.phone:
        stmt = stmt.join(Patient, Treatment.patient_id == Patient.id).where(
            Patient.phone == query.phone
        )
    if query.after:
        at, last_id = query.after
        stmt = stmt.where(
            or_(
                Treatment.performed_at < at,
                and_(Treatment.performed_at == at, Treatment.id < last_id),
            )
        )
    return session.scalars(
        stmt.options(selectinload(Treatment.messages).selectinload(Message.events))
        .order_by(Treatment.performed_at.desc(), Treatment.id.desc())
        .limit(query.limit)
    ).all()


def get_idempotency_key(session: Session, *, clinic_id: int, key: str) -> IdempotencyKey | None:
    return session.scalars(
        select(IdempotencyKey).where(
            IdempotencyKey.clinic_id == clinic_id, IdempotencyKey.key == key
        )
    ).one_or_none()


def add_idempotency_key(
    session: Session,
    *,
    clinic_id: int,
    key: str,
    request_hash: str,
    treatment_id: int,
    now: datetime,
) -> None:
    session.add(
        IdempotencyKey(
            clinic_id=clinic_id,
            key=key,
            request_hash=request_hash,
            treatment_id=treatment_id,
            created_at=now,
        )
    )
    session.flush()


def _not_handed_over() -> ColumnElement[bool]:
    """Pending, or claimed by a worker that has not yet called the provider."""
    return or_(
        Message.state == PENDING,
        and_(Message.state == SENDING, Message.handed_at.is_(None)),
    )


def cancel_unsent(session: Session, *, treatment_id: int, reason: str, now: datetime) -> list[int]:
    """Cancel the treatment's messages not yet handed to a provider.

    That includes messages a worker has claimed but not started sending: its
    claim token is cleared, so the worker's start_send fails and it sends nothing.
    """
    where = and_(Message.treatment_id == treatment_id, _not_handed_over())
    return _cancel(session, where, reason=reason, now=now)


def cancel_unsent_of_clinic(
    session: Session, *, clinic_id: int, reason: str, now: datetime
) -> list[int]:
    """Cancel every message of the clinic not yet handed to a provider."""
    where = and_(Message.clinic_id == clinic_id, _not_handed_over())
    return _cancel(session, where, reason=reason, now=now)


def _cancel(
    session: Session, where: ColumnElement[bool], *, reason: str, now: datetime
) -> list[int]:
    ids = list(
        session.scalars(
            update(Message)
            .where(where)
            .values(
                state=MessageState.CANCELLED.value,
                reason=reason,
                claim_token=None,
                claimed_by=None,
                lease_until=None,
                updated_at=now,
            )
            .returning(Message.id)
        )
    )
    history.record_each(
        session,
        ids,
        kind=EventKind.CANCELLED,
        state=MessageState.CANCELLED.value,
        at=now,
        detail=reason,
    )
    return ids


def in_flight(session: Session, *, treatment_id: int) -> list[Message]:
    """The treatment's messages being handed to a provider right now."""
    return list(
        session.scalars(
            select(Message).where(
                Message.treatment_id == treatment_id,
                Message.state == SENDING,
                Message.handed_at.is_not(None),
            )
        )
    )


def recover_expired_leases(session: Session, *, now: datetime) -> list[int]:
    """Take back claims whose worker died: the send may or may not have happened.

    They go back to pending. One whose provider call had begun is marked uncertain
    (when the call began, and its text) unless it already was: it is looked for at
    the provider before it is sent again. See the README's delivery contract.
    """
    fresh = Message.uncertain_since.is_(None) & Message.handed_at.is_not(None)
    rows = session.execute(
        update(Message)
        .where(Message.state == SENDING_ROW, Message.lease_until < now)
        .values(
            # An earlier uncertain call stays the one to look for: a worker that
            # died while looking for it had sent nothing new.
            uncertain_since=func.coalesce(Message.uncertain_since, Message.handed_at),
            uncertain_body=case(
                (fresh, func.coalesce(Message.attempt_body, Message.body)),
                else_=Message.uncertain_body,
            ),
            state=PENDING,
            claim_token=None,
            claimed_by=None,
            lease_until=None,
            handed_at=None,
            send_after=now,
            updated_at=now,
            last_error="claim lease expired: outcome of the last attempt unknown",
        )
        .returning(Message.id, Message.uncertain_since.is_not(None))
    ).all()
    for uncertain, detail in (
        (False, "will try again"),
        (True, "its provider call had begun: it is looked for at the provider first"),
    ):
        ids = [message_id for message_id, begun in rows if bool(begun) == uncertain]
        history.record_each(
            session,
            ids,
            kind=EventKind.LEASE_EXPIRED,
            state=PENDING,
            at=now,
            detail=f"worker stopped holding the claim; {detail}",
        )
    return [message_id for message_id, _ in rows]


def release_unstarted(session: Session, *, worker: str, now: datetime) -> list[int]:
    """Return a worker's claims that it never started sending to pending (attempt uncounted)."""
    ids = list(
        session.scalars(
            update(Message)
            .where(
                Message.state == SENDING_ROW,
                Message.claimed_by == worker,
                Message.handed_at.is_(None),
            )
            .values(
                state=PENDING,
                claim_token=None,
                claimed_by=None,
                lease_until=None,
                attempts=Message.attempts - 1,
                updated_at=now,
            )
            .returning(Message.id)
        )
    )
    history.record_each(
        session,
        ids,
        kind=EventKind.RELEASED,
        state=PENDING,
        at=now,
        detail="claim left unstarted by an interrupted pass",
        worker=worker,
    )
    return ids


def skip_expired(session: Session, *, now: datetime) -> list[int]:
    """Pending messages whose step stopped being true are skipped, never sent late."""
    ids = list(
        session.scalars(
            update(Message)
            .where(
                Message.state == PENDING_ROW,
                Message.expires_at.is_not(None),
                Message.expires_at <= now,
                # One the provider may have: the worker looks for it first (then
                # sent, if found), and skips it itself.
                Message.uncertain_since.is_(None),
            )
            .values(
                state=MessageState.SKIPPED.value,
                reason="expired before it could be sent (the restriction or its usefulness ended)",
                updated_at=now,
            )
            .returning(Message.id)
        )
    )
    history.record_each(
        session,
        ids,
        kind=EventKind.SKIPPED,
        state=MessageState.SKIPPED.value,
        at=now,
        detail="expired before it could be sent",
    )
    return ids


def next_send_after(session: Session, *, exclude: Sequence[str] = ()) -> datetime | None:
    stmt = select(func.min(Message.send_after)).where(Message.state == PENDING_ROW)
    if exclude:
        stmt = stmt.where(Message.channel.not_in(exclude))
    return session.scalar(stmt)


def next_lease_expiry(session: Session) -> datetime | None:
    return session.scalar(select(func.min(Message.lease_until)).where(Message.state == SENDING_ROW))


def upcoming_messages(
    session: Session, *, clinic_id: int, since: datetime, limit: int
) -> Sequence[Message]:
    """Messages still to go, and those settled since `since`, soonest first."""
    return session.scalars(
        select(Message)
        .where(
            Message.clinic_id == clinic_id,
            or_(
                Message.state.in_([PENDING, SENDING]),
                and_(Message.updated_at >= since),
            ),
        )
        .options(selectinload(Message.treatment).joinedload(Treatment.patient))
        .order_by(Message.due_at, Message.id)
        .limit(limit)
    ).all()


def is_opted_out(session: Session, *, clinic_id: int, phone: str) -> bool:
    return (
        session.scalar(
            select(SmsOptOut.id).where(SmsOptOut.clinic_id == clinic_id, SmsOptOut.phone == phone)
        )
        is not None
    )


def record_opt_out(
    session: Session, *, clinic_id: int, phone: str, source: str, now: datetime
) -> None:
    if not is_opted_out(session, clinic_id=clinic_id, phone=phone):
        session.add(SmsOptOut(clinic_id=clinic_id, phone=phone, source=source, created_at=now))
        session.flush()


def remove_opt_out(session: Session, *, clinic_id: int, phone: str) -> bool:
    result = session.execute(
        delete(SmsOptOut).where(SmsOptOut.clinic_id == clinic_id, SmsOptOut.phone == phone)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def cancel_unsent_texts(
    session: Session,
    *,
    clinic_id: int,
    phone: str | None = None,
    patient_id: int | None = None,
    reason: str,
    now: datetime,
) -> list[int]:
    """Cancel the clinic's texts not yet handed to the provider: to every patient on a
    phone, or to one patient."""
    if patient_id is not None:
        patients = select(Patient.id).where(
            Patient.clinic_id == clinic_id, Patient.id == patient_id
        )
    else:
        patients = select(Patient.id).where(Patient.clinic_id == clinic_id, Patient.phone == phone)
    treatments = select(Treatment.id).where(Treatment.patient_id.in_(patients))
    texts = and_(Message.treatment_id.in_(treatments), Message.channel == "sms", _not_handed_over())
    return _cancel(session, texts, reason=reason, now=now)


def messages_with_treatments(session: Session, *, ids: Sequence[int]) -> Sequence[Message]:
    """Messages with their treatment, patient and clinic, in id order."""
    if not ids:
        return []
    return session.scalars(
        select(Message)
        .where(Message.id.in_(ids))
        .options(
            joinedload(Message.treatment).joinedload(Treatment.patient),
            joinedload(Message.treatment).joinedload(Treatment.clinic),
        )
        .order_by(Message.id)
    ).all()


def live_steps(
    session: Session, *, treatment_ids: Sequence[int], channel: str
) -> set[tuple[int, str]]:
    """(treatment, step) pairs with a message on `channel` that is still to go or went."""
    rows = session.execute(
        select(Message.treatment_id, Message.step_id).where(
            Message.treatment_id.in_(treatment_ids),
            Message.channel == channel,
            Message.state.in_([PENDING, SENDING, MessageState.SENT.value]),
        )
    )
    return {(treatment_id, step_id) for treatment_id, step_id in rows}


def raise_alert(
    session: Session,
    *,
    clinic_id: int,
    treatment_id: int | None,
    kind: AlertKind,
    detail: str,
    now: datetime,
) -> Alert:
    """Open an alert for staff; one already open of the kind for the treatment gains the
    new detail instead, so the desk sees one entry per patient."""
    open_alert = session.scalars(
        select(Alert).where(
            Alert.clinic_id == clinic_id,
            Alert.treatment_id == treatment_id,
            Alert.kind == kind.value,
            Alert.acknowledged_at.is_(None),
        )
    ).first()
    if open_alert is not None:
        if detail not in open_alert.detail:
            open_alert.detail = f"{open_alert.detail}\n{detail}"
        open_alert.updated_at = now
        return open_alert
    alert = Alert(
        clinic_id=clinic_id,
        treatment_id=treatment_id,
        kind=kind.value,
        detail=detail,
        created_at=now,
        updated_at=now,
    )
    session.add(alert)
    session.flush()
    return alert


def open_alerts(session: Session, *, clinic_id: int, limit: int) -> Sequence[Alert]:
    """The clinic's alerts nobody has acknowledged yet, oldest first."""
    return session.scalars(
        select(Alert)
        .where(Alert.clinic_id == clinic_id, Alert.acknowledged_at.is_(None))
        .options(joinedload(Alert.treatment).joinedload(Treatment.patient))
        .order_by(Alert.created_at, Alert.id)
        .limit(limit)
    ).all()


def acknowledge_alert(
    session: Session, *, clinic_id: int, alert_id: int, by: str, now: datetime
) -> Alert | None:
    alert = session.scalars(
        select(Alert).where(Alert.id == alert_id, Alert.clinic_id == clinic_id)
    ).one_or_none()
    if alert is not None and alert.acknowledged_at is None:
        alert.acknowledged_at = now
        alert.acknowledged_by = by
        alert.updated_at = now
    return alert


def set_channel_problem(
    session: Session, *, channel: str, problem: str, now: datetime, retry_at: datetime | None
) -> None:
    row = session.get(ChannelProblem, channel)
    if row is None:
        session.add(
            ChannelProblem(
                channel=channel, problem=problem, since=now, retry_at=retry_at, updated_at=now
            )
        )
        return
    row.problem, row.retry_at, row.updated_at = problem, retry_at, now


def clear_channel_problem(session: Session, *, channel: str) -> None:
    session.execute(delete(ChannelProblem).where(ChannelProblem.channel == channel))


def channel_problems(session: Session) -> Sequence[ChannelProblem]:
    return session.scalars(select(ChannelProblem).order_by(ChannelProblem.channel)).all()


def waiting_count(session: Session, *, clinic_id: int, channel: str, now: datetime) -> int:
    """How many of the clinic's messages on `channel` are due and waiting to go."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.clinic_id == clinic_id,
                Message.channel == channel,
                Message.state == PENDING_ROW,
                Message.send_after <= now,
            )
        )
        or 0
    )


def message_by_provider_id(session: Session, *, provider_id: str) -> Message | None:
    """The message the provider knows by this id, locked until the transaction ends: two
    reports for one message are applied one after the other, never from the same reading."""
    return session.scalars(
        select(Message).where(Message.provider_id == provider_id).limit(1).with_for_update()
    ).first()


def clinics_for_sender(session: Session, *, sender: str) -> Sequence[Clinic]:
    """Clinics that text from this number; if none claims it, those on the default sender."""
    own = session.scalars(select(Clinic).where(Clinic.sms_from == sender)).all()
    if own:
        return own
    return session.scalars(
        select(Clinic).where(Clinic.sms_from.is_(None)).order_by(Clinic.id)
    ).all()


def patients_with_phone(session: Session, *, clinic_id: int, phone: str) -> Sequence[Patient]:
    return session.scalars(
        select(Patient).where(Patient.clinic_id == clinic_id, Patient.phone == phone)
    ).all()


def latest_treatment_id(session: Session, *, patient_id: int) -> int | None:
    """The patient's most recent treatment: what a reply most likely answers."""
    return session.scalar(
        select(Treatment.id)
        .where(Treatment.patient_id == patient_id)
        .order_by(Treatment.performed_at.desc(), Treatment.id.desc())
        .limit(1)
    )


def inbound_answer(session: Session, *, provider_id: str) -> str | None:
    """What an inbound text already stored was answered."""
    return session.scalar(
        select(InboundMessage.answer).where(InboundMessage.provider_id == provider_id)
    )


def add_inbound(session: Session, inbound: InboundMessage) -> bool:
    """Store an inbound text once: a webhook retried by the provider is a no-op."""
    if inbound.provider_id and session.scalar(
        select(InboundMessage.id).where(InboundMessage.provider_id == inbound.provider_id)
    ):
        return False
    session.add(inbound)
    session.flush()
    return True


def delivery_problems(
    session: Session, *, clinic_id: int, since: datetime, limit: int
) -> Sequence[Message]:
    """Messages that failed, or that the provider reported undelivered, since a time."""
    return session.scalars(
        select(Message)
        .where(
            Message.clinic_id == clinic_id,
            or_(
                and_(Message.state == MessageState.FAILED.value, Message.updated_at >= since),
                and_(
                    Message.delivery_status.in_(["undelivered", "failed"]),
                    Message.delivery_updated_at >= since,
                ),
            ),
        )
        .options(selectinload(Message.treatment).joinedload(Treatment.patient))
        .order_by(Message.updated_at.desc())
        .limit(limit)
    ).all()
