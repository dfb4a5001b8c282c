"""The claim path: the statements a worker runs for due messages, a few per batch.

At burst rates much of the cost per message is Python, so this path stays in
Core: statements are built once with bound parameters (compiled once,
cached after), rows come back as tuples, and every write covers a whole batch
or slice (one conditional UPDATE, one INSERT ... SELECT for the history)
rather than one statement per message.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    DateTime,
    Integer,
    String,
    Text,
    any_,
    bindparam,
    func,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Update

from reminders.db import history
from reminders.db.history import event_row
from reminders.db.models import (
    PENDING_ROW,
    SENDING_ROW,
    Clinic,
    Message,
    Patient,
    SmsOptOut,
    Treatment,
    table_of,
)
from reminders.db.types import UTCDateTime
from reminders.domain import ChannelKind, EventKind, MessageState

messages = table_of(Message)
treatments = table_of(Treatment)
patients = table_of(Patient)
clinics = table_of(Clinic)
opt_outs = table_of(SmsOptOut)

PENDING = MessageState.PENDING.value
SENDING = MessageState.SENDING.value
SENT = MessageState.SENT.value

_now = bindparam("now", type_=UTCDateTime())
_lease_end = bindparam("lease_end", type_=UTCDateTime())
_token = bindparam("token", type_=String())
_worker = bindparam("worker", type_=String())
_held = (messages.c.state == SENDING_ROW) & (messages.c.claim_token == _token)


class ClaimedMessage(NamedTuple):
    """What sending one claimed message needs, read in the claim.

    A named tuple, not a frozen dataclass: as immutable, and built several
    times faster, which shows at thousands of messages a second.
    """

    id: int
    clinic_id: int
    treatment_id: int
    step_id: str
    channel: ChannelKind
    subject: str | None
    body: str
    due_at: datetime
    not_before: datetime | None
    expires_at: datetime | None
    attempts: int
    policy_version: str
    treatment_type: str
    performed_at: datetime
    restriction: str  # the treatment's, as planned
    patient_id: int
    patient_name: str
    patient_timezone: str | None
    phone: str | None
    email: str | None
    sms_consent: bool
    # The patient texted STOP to this clinic. Read with the claim, which is
    # about a second at most before the send; a STOP arriving after the claim
    # cancels the claimed text before it starts (see start_sends).
    opted_out: bool
    # Which version of the clinic's settings to write with: its updated_at as the
    # database returns it, compared, never read as a time.
    clinic_updated_at: object
    sms_from: str | None
    messaging_service_sid: str | None
    # An earlier call whose outcome is unknown: when it began and the text it carried.
    uncertain_since: datetime | None
    uncertain_body: str | None


@dataclass(frozen=True)
class Claim:
    token: str
    messages: list[ClaimedMessage]


def _claim_statement(*, postgresql: bool, excluding: bool) -> Update:
    rows = messages.alias("due_messages")
    due = select(rows.c.id).where(
        rows.c.state == PENDING_ROW,
        rows.c.send_after <= _now,
        # Implied (a message's send_after is never before its due_at), but it lets
        # SQLite walk the due-order index instead of sorting every due row. Were
        # it ever not implied, a message would wait for its due_at: late, never early.
        rows.c.due_at <= _now,
    )
    if excluding:
        due = due.where(rows.c.channel.not_in(bindparam("exclude", expanding=True)))
    due = (
        # Due order, not retry order: after an outage the backlog goes out as planned.
        due.order_by(rows.c.due_at, rows.c.id)
        .limit(bindparam("limit", type_=Integer()))
        .with_for_update(skip_locked=True)
    )
    claim = update(messages).values(
        state=SENDING,
        claim_token=_token,
        claimed_by=_worker,
        lease_until=_lease_end,
        attempts=messages.c.attempts + 1,
        updated_at=_now,
    )
    if postgresql:
        # `id = ANY(ARRAY(subquery))` runs the LIMIT ... SKIP LOCKED subquery once
        # and then fetches by primary key. Written as `id IN (subquery)`,
        # PostgreSQL may plan a nested loop that runs the subquery again for
        # every row it scans and claims far more than the limit. No outer state
        # check: the subquery re-evaluates its WHERE on each row it locks, and a
        # row locked here cannot change before the UPDATE (an outer check would
        # also tempt the planner to scan every pending row).
        return claim.where(messages.c.id == any_(func.array(due.scalar_subquery())))
    # SQLite runs one writer at a time, so there a state re-check is moot, and
    # it would make SQLite scan every pending row instead of the claimed ids.
    return claim.where(messages.c.id.in_(due.scalar_subquery()))


_CLAIMS = {
    (postgresql, excluding): _claim_statement(postgresql=postgresql, excluding=excluding)
    for postgresql in (False, True)
    for excluding in (False, True)
}

_CLAIMED_ROWS = (
    select(
        messages.c.id,
        messages.c.clinic_id,
        messages.c.treatment_id,
        messages.c.step_id,
        messages.c.channel,
        messages.c.subject,
        messages.c.body,
        messages.c.due_at,
        messages.c.not_before,
        messages.c.expires_at,
        messages.c.attempts,
        messages.c.policy_version,
        treatments.c.treatment_type,
        treatments.c.performed_at,
        treatments.c.restriction,
        patients.c.id,
        patients.c.name,
        patients.c.timezone,
        patients.c.phone,
        patients.c.email,
        patients.c.sms_consent_at.is_not(None),
        opt_outs.c.id.is_not(None),
        type_coerce(clinics.c.updated_at, String),
        clinics.c.sms_from,
        clinics.c.messaging_service_sid,
        messages.c.uncertain_since,
        messages.c.uncertain_body,
    )
    .select_from(
        messages.join(treatments, treatments.c.id == messages.c.treatment_id)
        .join(patients, patients.c.id == treatments.c.patient_id)
        .join(clinics, clinics.c.id == treatments.c.clinic_id)
        .outerjoin(
            opt_outs,
            (opt_outs.c.clinic_id == messages.c.clinic_id) & (opt_outs.c.phone == patients.c.phone),
        )
    )
    .where(_held)
    .order_by(messages.c.due_at, messages.c.id)
)


def claim_due(
    session: Session,
    *,
    now: datetime,
    worker: str,
    lease: timedelta,
    limit: int,
    exclude: Sequence[str] = (),
) -> Claim:
    """Atomically move up to `limit` due pending messages to sending under one token.

    One conditional UPDATE: a row another worker claimed first no longer matches
    `state = pending`, and PostgreSQL's SKIP LOCKED lets workers pass each other.
    """
    token = str(uuid.uuid4())
    params: dict[str, object] = {
        "now": now,
        "token": token,
        "worker": worker,
        "lease_end": now + lease,
        "limit": limit,
    }
    if exclude:
        params["exclude"] = list(exclude)
    postgresql = session.get_bind().dialect.name == "postgresql"
    claimed = session.execute(_CLAIMS[postgresql, bool(exclude)], params)
    if claimed.rowcount == 0:  # type: ignore[attr-defined]
        return Claim(token, [])
    history.record_claimed(session, token=token, now=now, worker=worker)
    rows = session.execute(_CLAIMED_ROWS, {"token": token}).all()
    return Claim(token, [_claimed(*row) for row in rows])


def _claimed(
    message_id: int, clinic_id: int, treatment_id: int, step_id: str, channel: str, *rest: Any
) -> ClaimedMessage:
    return ClaimedMessage(message_id, clinic_id, treatment_id, step_id, ChannelKind(channel), *rest)


# Slices pass their ids as one parameter (a JSON array on SQLite, an array on
# PostgreSQL) so a statement's text and compiled form do not change with the
# slice size, and rows are found by primary key. On SQLite `+state` keeps the
# planner on the primary key: through an index on state it would compare every
# sending row with every listed id.
_START = {
    "sqlite": text(
        """
        UPDATE messages SET handed_at = :now, lease_until = :lease_end, updated_at = :now,
            attempt_body = NULL
        WHERE id IN (SELECT value FROM json_each(:ids))
          AND claim_token = :token AND +state = :sending
        RETURNING id
        """
    ),
    "postgresql": text(
        """
        UPDATE messages SET handed_at = :now, lease_until = :lease_end, updated_at = :now,
            attempt_body = NULL
        WHERE id = ANY(CAST(:ids AS integer[])) AND claim_token = :token AND state = :sending
        RETURNING id
        """
    ).bindparams(bindparam("ids", type_=ARRAY(Integer()))),
}
# Recording a slice's sends. Most go as planned: their statements set no text,
# and on PostgreSQL write their history in the same round trip (the history
# module's statement, as a CTE). A text written anew at send time (rare) is
# recorded with its text by the second pair.
_SET_SENT = """
    state = :sent, provider_id = v.receipt, sent_at = v.sent_time,
    updated_at = v.sent_time, lease_until = NULL, last_error = NULL, claim_token = NULL
"""
_MARK_SENT = {
    "sqlite": text(
        f"""
        UPDATE messages SET {_SET_SENT}
        FROM (
            SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS receipt,
                   json_extract(value, '$[2]') AS sent_time
            FROM json_each(:rows)
        ) AS v
        WHERE messages.id = v.id AND messages.claim_token = :token AND +messages.state = :sending
        RETURNING messages.id
        """
    ),
    "postgresql": text(
        f"""
        WITH sent AS (
            UPDATE messages SET {_SET_SENT}
            FROM unnest(CAST(:ids AS integer[]), CAST(:receipts AS varchar[]),
                        CAST(:times AS timestamptz[])) AS v(id, receipt, sent_time)
            WHERE messages.id = v.id AND messages.claim_token = :token
              AND messages.state = :sending
            RETURNING messages.id, messages.sent_at
        ), logged AS ({history.SENT_EVENTS_FROM_CTE.format(cte="sent")})
        SELECT id FROM sent
        """
    ).bindparams(
        bindparam("ids", type_=ARRAY(Integer())),
        bindparam("receipts", type_=ARRAY(String())),
        bindparam("times", type_=ARRAY(DateTime(timezone=True))),
    ),
}
_MARK_SENT_WRITTEN_ANEW = {
    "sqlite": text(
        f"""
        UPDATE messages SET {_SET_SENT}, sent_subject = v.subject, sent_body = v.body
        FROM (
            SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS receipt,
                   json_extract(value, '$[2]') AS sent_time,
                   json_extract(value, '$[3]') AS subject, json_extract(value, '$[4]') AS body
            FROM json_each(:rows)
        ) AS v
        WHERE messages.id = v.id AND messages.claim_token = :token AND +messages.state = :sending
        RETURNING messages.id
        """
    ),
    "postgresql": text(
        f"""
        UPDATE messages SET {_SET_SENT}, sent_subject = v.subject, sent_body = v.body
        FROM unnest(CAST(:ids AS integer[]), CAST(:receipts AS varchar[]),
                    CAST(:times AS timestamptz[]), CAST(:subjects AS text[]),
                    CAST(:bodies AS text[])) AS v(id, receipt, sent_time, subject, body)
        WHERE messages.id = v.id AND messages.claim_token = :token
          AND messages.state = :sending
        RETURNING messages.id
        """
    ).bindparams(
        bindparam("ids", type_=ARRAY(Integer())),
        bindparam("receipts", type_=ARRAY(String())),
        bindparam("times", type_=ARRAY(DateTime(timezone=True))),
        bindparam("subjects", type_=ARRAY(Text())),
        bindparam("bodies", type_=ARRAY(Text())),
    ),
}


class SentMessage(NamedTuple):
    """A send the provider accepted, to record."""

    message_id: int
    provider_id: str
    sent_at: datetime
    # The text as it went, where it differs from the planned one; None: as planned.
    subject: str | None = None
    body: str | None = None
    detail: str | None = None  # for its history


def start_sends(
    session: Session, *, ids: Sequence[int], token: str, now: datetime, lease: timedelta
) -> set[int]:
    """Mark provider calls as begun where the claim still holds (not cancelled, not taken over)."""
    if not ids:
        return set()
    dialect = session.get_bind().dialect
    params = {
        "ids": json.dumps(list(ids)) if dialect.name == "sqlite" else list(ids),
        "token": token,
        "now": _utc(dialect, now),
        "lease_end": _utc(dialect, now + lease),
        "sending": SENDING,
    }
    return set(session.scalars(_START[dialect.name], params).all())


def start_attempt(
    session: Session,
    *,
    message_id: int,
    token: str,
    now: datetime,
    body: str | None,
    reconciled: str | None,
    worker: str,
) -> bool:
    """Record, before the call, the text this call sends if written anew (`body`), and,
    when an uncertain earlier call was not found at the provider, that it is settled
    (`reconciled`, for the history). Fenced by the claim; False if the claim was lost."""
    result = session.execute(
        update(messages)
        .where(messages.c.id == message_id, _held)
        .values(attempt_body=body, uncertain_since=None, uncertain_body=None, updated_at=now),
        {"token": token},
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    if reconciled is not None:
        history.record(
            session,
            message_id=message_id,
            kind=EventKind.RECONCILED,
            state=SENDING,
            at=now,
            detail=reconciled,
            worker=worker,
        )
    return True


def settle_adopted(
    session: Session,
    *,
    message: ClaimedMessage,
    token: str,
    now: datetime,
    provider_id: str,
    detail: str,
    worker: str,
) -> bool:
    """An uncertain earlier call found at the provider: the message is sent, with the
    provider's id, at the moment that call began, and in the words it carried."""
    assert message.uncertain_since is not None
    assert message.uncertain_body is not None
    anew = message.uncertain_body != message.body
    settled = settle(
        session,
        message_id=message.id,
        token=token,
        now=now,
        state=MessageState.SENT,
        event=EventKind.RECONCILED,
        detail=detail,
        worker=worker,
        provider_id=provider_id,
        sent_at=message.uncertain_since,
        sent_body=message.uncertain_body if anew else None,
        uncertain_since=None,
        uncertain_body=None,
        last_error=None,
        claim_token=None,
    )
    if settled:
        # Every sent message has one `sent` event: where and when it went.
        history.record(
            session,
            message_id=message.id,
            kind=EventKind.SENT,
            state=SENT,
            at=message.uncertain_since,
            detail=f"as found at the provider ({provider_id})",
            worker=worker,
        )
    return settled


def settle_sent(
    session: Session, *, token: str, sent: Sequence[SentMessage], worker: str
) -> set[int]:
    """Record many sends at once, each fenced by the claim token; returns those recorded.

    The fence is part of the UPDATE, so a cancel or a takeover cannot slip in
    between the check and the write.
    """
    as_planned = [s for s in sent if s.body is None and s.subject is None and s.detail is None]
    anew = [s for s in sent if not (s.body is None and s.subject is None and s.detail is None)]
    recorded = _settle_as_planned(session, token, as_planned, worker)
    if anew:
        written = _settle_written_anew(session, token, anew)
        history.record_rows(
            session,
            [
                event_row(s.message_id, EventKind.SENT, SENT, s.sent_at, s.detail, worker)
                for s in anew
                if s.message_id in written
            ],
        )
        recorded |= written
    return recorded


def _settle_as_planned(
    session: Session, token: str, sent: Sequence[SentMessage], worker: str
) -> set[int]:
    if not sent:
        return set()
    dialect = session.get_bind().dialect.name
    common: dict[str, object] = {"token": token, "sent": SENT, "sending": SENDING}
    if dialect == "postgresql":
        params = common | {
            "ids": [s.message_id for s in sent],
            "receipts": [s.provider_id for s in sent],
            "times": [s.sent_at for s in sent],
            "worker": worker,
        }
        return set(session.scalars(_MARK_SENT[dialect], params).all())
    rows = json.dumps([(s.message_id, s.provider_id, sqlite_time(s.sent_at)) for s in sent])
    recorded = set(session.scalars(_MARK_SENT[dialect], common | {"rows": rows}).all())
    history.record_sent(session, sorted(recorded), worker=worker)
    return recorded


def _settle_written_anew(session: Session, token: str, sent: Sequence[SentMessage]) -> set[int]:
    dialect = session.get_bind().dialect.name
    common: dict[str, object] = {"token": token, "sent": SENT, "sending": SENDING}
    if dialect == "postgresql":
        params = common | {
            "ids": [s.message_id for s in sent],
            "receipts": [s.provider_id for s in sent],
            "times": [s.sent_at for s in sent],
            "subjects": [s.subject for s in sent],
            "bodies": [s.body for s in sent],
        }
    else:
        rows = json.dumps(
            [(s.message_id, s.provider_id, sqlite_time(s.sent_at), s.subject, s.body) for s in sent]
        )
        params = common | {"rows": rows}
    return set(session.scalars(_MARK_SENT_WRITTEN_ANEW[dialect], params).all())


def _utc(dialect: Dialect, at: datetime) -> object:
    """A time as the database stores it, for statements written as text."""
    convert = _time_converters.get(dialect.name)
    if convert is None:
        convert = UTCDateTime().dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
        _time_converters[dialect.name] = convert
    return convert(at)


_time_converters: dict[str, Callable[[datetime], object]] = {}


def sqlite_time(at: datetime) -> str:
    """An instant as UTCDateTime stores it in SQLite (naive UTC text, always with
    microseconds), without the type's processors: this runs once per message sent."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def settle(
    session: Session,
    *,
    message_id: int,
    token: str,
    now: datetime,
    state: MessageState,
    event: EventKind,
    detail: str | None = None,
    worker: str | None = None,
    **values: object,
) -> bool:
    """Record one claimed message's outcome, fenced by its claim token.

    Returns False when the claim was lost (lease expired and someone else took
    over): a late worker must not overwrite a newer outcome.
    """
    if state is MessageState.PENDING:  # back in the queue: no claim, not handed over
        values.update(claim_token=None, claimed_by=None, handed_at=None)
    result = session.execute(
        update(messages)
        .where(messages.c.id == message_id, _held)
        .values(state=state.value, updated_at=now, lease_until=None, **values),
        {"token": token},
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    history.record(
        session,
        message_id=message_id,
        kind=event,
        state=state.value,
        at=now,
        detail=detail,
        worker=worker,
    )
    return True
