"""One path for a change to a clinic's row: the new values, a newer `updated_at` and one
`clinic_changes` row per field, in the caller's transaction.

`updated_at` is the version the clinic profile caches go by (`ClinicProfiles`, and the
dispatcher's, which reads it with each claimed message): it must move on every change,
even within one tick of the clock, or a running worker would keep the old profile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from reminders.db.models import Clinic, ClinicChange

TICK = timedelta(microseconds=1)  # the finest step both databases keep


@dataclass(frozen=True)
class Change:
    """One field of a clinic: its value before and after, as text (None: no value)."""

    field: str
    old: str | None
    new: str | None


def as_text(value: object) -> str | None:
    """A setting's value as recorded: booleans as `true`/`false`, nothing as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def diff(clinic: Clinic, values: Mapping[str, object]) -> list[Change]:
    """The fields whose values differ from the row's, in `values`' order."""
    return [
        Change(field, as_text(getattr(clinic, field)), as_text(value))
        for field, value in values.items()
        if getattr(clinic, field) != value
    ]


def apply(
    session: Session,
    clinic: Clinic,
    values: Mapping[str, object],
    *,
    by: str,
    now: datetime,
) -> list[Change]:
    """Set what differs, record each field changed, and move the row's version on."""
    changes = diff(clinic, values)
    if not changes:
        return []
    for change in changes:
        setattr(clinic, change.field, values[change.field])
    touch(clinic, now)
    record(session, clinic.id, changes, by=by, now=now)
    return changes


def record(
    session: Session, clinic_id: int, changes: Sequence[Change], *, by: str, now: datetime
) -> None:
    session.add_all(
        ClinicChange(
            clinic_id=clinic_id,
            changed_at=now,
            changed_by=by,
            field=change.field,
            old_value=change.old,
            new_value=change.new,
        )
        for change in changes
    )


def touch(clinic: Clinic, now: datetime) -> None:
    """A newer `updated_at`: now, or a tick past the last one if the clock has not moved."""
    clinic.updated_at = max(now, clinic.updated_at + TICK)
