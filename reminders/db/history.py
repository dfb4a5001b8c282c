"""The one writer of message history: every event a message's timeline shows.

History is append-only. Each function here inserts events inside the caller's
transaction, so an event commits with the state change it describes. Events
go straight to the table (Core), one statement for any number of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, bindparam, insert, literal, null, select, text
from sqlalchemy.orm import Session

from reminders.db.models import SENDING_ROW, Message, MessageEvent, table_of
from reminders.db.types import UTCDateTime
from reminders.domain import EventKind, MessageState

events = table_of(MessageEvent)
messages = table_of(Message)

# The claim's history in one INSERT ... SELECT over the rows the claim just took.
_CLAIMED = insert(events).from_select(
    ["message_id", "kind", "state", "at", "detail", "worker"],
    select(
        messages.c.id,
        literal(EventKind.CLAIMED.value),
        literal(MessageState.SENDING.value),
        bindparam("now", type_=UTCDateTime()),
        null(),
        bindparam("worker", type_=String()),
    ).where(
        messages.c.state == SENDING_ROW,
        messages.c.claim_token == bindparam("token", type_=String()),
    ),
)
_INSERT = insert(events)
# The `sent` events of a slice in one INSERT ... SELECT, at each message's
# sent_at: at thousands of sends a second an executemany of prepared rows costs
# more. On PostgreSQL the claim path runs it as a CTE over the rows its UPDATE
# returned, saving a round trip per slice.
SENT_EVENTS_FROM_CTE = """
    INSERT INTO message_events (message_id, kind, state, at, detail, worker)
    SELECT id, 'sent', 'sent', sent_at, NULL, :worker FROM {cte}
"""
_SENT_SQLITE = text(
    """
    INSERT INTO message_events (message_id, kind, state, at, detail, worker)
    SELECT id, 'sent', 'sent', sent_at, NULL, :worker FROM messages
    WHERE id IN (SELECT value FROM json_each(:ids))
    """
)


def event_row(
    message_id: int,
    kind: EventKind,
    state: str,
    at: datetime,
    detail: str | None = None,
    worker: str | None = None,
) -> dict[str, Any]:
    """One event's columns, for `record_rows`."""
    return {
        "message_id": message_id,
        "kind": kind.value,
        "state": state,
        "at": at,
        "detail": detail,
        "worker": worker,
    }


def record_rows(db: Session | Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert prepared events (see `event_row`): one executemany."""
    if rows:
        db.execute(_INSERT, list(rows))


def record(
    db: Session | Connection,
    *,
    message_id: int,
    kind: EventKind,
    state: str,
    at: datetime,
    detail: str | None = None,
    worker: str | None = None,
) -> None:
    record_rows(db, [event_row(message_id, kind, state, at, detail, worker)])


def record_each(
    db: Session | Connection,
    ids: Iterable[int],
    *,
    kind: EventKind,
    state: str,
    at: datetime,
    detail: str | None = None,
    worker: str | None = None,
) -> None:
    """The same event for each of several messages."""
    record_rows(db, [event_row(i, kind, state, at, detail, worker) for i in ids])


def record_claimed(session: Session, *, token: str, now: datetime, worker: str) -> None:
    """A `claimed` event for every message held under the claim `token`."""
    session.execute(_CLAIMED, {"now": now, "token": token, "worker": worker})


def record_sent(session: Session, ids: Sequence[int], *, worker: str) -> None:
    """A `sent` event, at its sent_at, for each of these messages just recorded as sent
    (SQLite; PostgreSQL writes them with the update, see SENT_EVENTS_FROM_CTE)."""
    if ids:
        session.execute(_SENT_SQLITE, {"ids": json.dumps(list(ids)), "worker": worker})
