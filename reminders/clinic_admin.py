"""Managing a deployment's clinics: what each is set to, changing it, disabling and
enabling it, and the record of every change (who, when, which field, from what to what).

Changes are checked exactly as a clinic's settings are when it is added or loaded from
its file (`ClinicSettings`, then `check_clinic` against the policies): a refused change
names its field and changes nothing.

A disabled clinic logs no treatments and its API keys are refused, but the aftercare
already planned for its patients still goes: they were promised it. Cancelling it is a
separate, explicit choice (`cancel_pending`), recorded in each message's history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, sessionmaker

from reminders import clinic_records
from reminders.clinic_checks import check_clinic
from reminders.clinic_records import Change
from reminders.clinics import clinic_settings_of
from reminders.clock import Clock
from reminders.db import repo
from reminders.db.engine import read_only_sessions
from reminders.db.models import ApiKey, Clinic, ClinicChange, StaffAccount
from reminders.errors import ConflictError, InputError, NotFoundError
from reminders.inputs import clean_text, parse_length
from reminders.policies import PolicySet
from reminders.settings import ClinicSettings

# Every setting but the slug, which names the clinic everywhere (keys, staff, the file).
UPDATABLE = tuple(name for name in ClinicSettings.model_fields if name != "slug")
# Those that may be left unset.
OPTIONAL = frozenset(
    name
    for name in UPDATABLE
    if type(None) in get_args(ClinicSettings.model_fields[name].annotation)
)
# Settings that shape a plan when it is made: plans made before keep their times.
REPLANNING_NOTE = (
    "Treatments already logged keep the messages planned for them: a new restriction, "
    "time zone or quiet hours applies to treatments logged from now on."
)
PLAN_FIELDS = frozenset({"restriction", "timezone", "quiet_hours"})
MAX_DISABLE_REASON = 200


@dataclass(frozen=True)
class ClinicSummary:
    """A clinic's row, its live API keys and its staff accounts, counted."""

    clinic: Clinic
    api_keys: int
    staff: int

    @property
    def status(self) -> str:
        return "disabled" if self.clinic.disabled_at is not None else "active"


@dataclass(frozen=True)
class Disabled:
    changes: list[Change]
    cancelled: list[int]  # message ids, with --cancel-pending


def replans_nothing(changes: Sequence[Change]) -> bool:
    """True if no change touches how plans are made."""
    return not any(change.field in PLAN_FIELDS for change in changes)


class ClinicAdmin:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Clock,
        policies: PolicySet,
        sources: Path,
        configured: str | None = None,
    ) -> None:
        """`configured`: the slug of the clinic the settings file owns, if any."""
        self.sessions = sessions
        self.reads = read_only_sessions(sessions)
        self.clock = clock
        self.policies = policies
        self.sources = sources
        self.configured = configured

    def summaries(self) -> list[ClinicSummary]:
        with self.reads() as session:
            clinics = session.scalars(select(Clinic).order_by(Clinic.slug)).all()
            keys = _counts(session, ApiKey.clinic_id, ApiKey.revoked_at.is_(None))
            staff = _counts(session, StaffAccount.clinic_id, StaffAccount.disabled_at.is_(None))
        return [ClinicSummary(c, keys.get(c.id, 0), staff.get(c.id, 0)) for c in clinics]

    def summary(self, slug: str) -> ClinicSummary:
        with self.reads() as session:
            clinic = _clinic(session, slug)
            keys = _counts(session, ApiKey.clinic_id, ApiKey.revoked_at.is_(None), clinic.id)
            staff = _counts(
                session, StaffAccount.clinic_id, StaffAccount.disabled_at.is_(None), clinic.id
            )
        return ClinicSummary(clinic, keys.get(clinic.id, 0), staff.get(clinic.id, 0))

    def update(
        self, slug: str, values: Mapping[str, object], *, by: str, dry_run: bool = False
    ) -> list[Change]:
        """Change some of a clinic's settings, checked as a new clinic's are; the changes
        made (or, for a dry run, that would be made). Nothing is changed on a refusal."""
        unknown = [name for name in values if name not in UPDATABLE]
        if unknown:
            raise InputError(unknown[0], "is not a setting that can be changed")
        if not values:
            raise InputError("settings", "give at least one setting to change")
        now = self.clock.now()
        with self.sessions() as session:
            clinic = _clinic(session, slug)
            self._refuse_if_configured(clinic.slug)
            checked = self._checked(clinic, values)
            if dry_run:
                return clinic_records.diff(clinic, checked)
            changes = clinic_records.apply(session, clinic, checked, by=by, now=now)
            session.commit()
            return changes

    def disable(self, slug: str, *, reason: str, by: str, cancel_pending: bool = False) -> Disabled:
        """Stop the clinic logging treatments and refuse its API keys; its planned messages
        still go unless `cancel_pending`, which cancels each with the reason."""
        reason = clean_text(reason, field="reason", longest=MAX_DISABLE_REASON)
        now = self.clock.now()
        with self.sessions() as session:
            clinic = _clinic(session, slug)
            if clinic.disabled_at is not None:
                raise ConflictError(f"clinic: {clinic.slug!r} is already disabled")
            values = {"disabled_at": now, "disabled_reason": reason}
            changes = clinic_records.apply(session, clinic, values, by=by, now=now)
            cancelled = []
            if cancel_pending:
                cancelled = repo.cancel_unsent_of_clinic(
                    session, clinic_id=clinic.id, reason=f"clinic disabled: {reason}", now=now
                )
            session.commit()
            return Disabled(changes, cancelled)

    def enable(self, slug: str, *, by: str) -> list[Change]:
        """Let a disabled clinic log treatments and use its API keys again."""
        now = self.clock.now()
        with self.sessions() as session:
            clinic = _clinic(session, slug)
            if clinic.disabled_at is None:
                raise ConflictError(f"clinic: {clinic.slug!r} is not disabled")
            values = {"disabled_at": None, "disabled_reason": None}
            changes = clinic_records.apply(session, clinic, values, by=by, now=now)
            session.commit()
            return changes

    def history(self, slug: str, *, limit: int = 1000) -> Sequence[ClinicChange]:
        """The clinic's changes, oldest first."""
        with self.reads() as session:
            clinic = _clinic(session, slug)
            return session.scalars(
                select(ClinicChange)
                .where(ClinicChange.clinic_id == clinic.id)
                .order_by(ClinicChange.id)
                .limit(limit)
            ).all()

    def _refuse_if_configured(self, slug: str) -> None:
        # The settings file is applied at every start: a change made here to the clinic it
        # owns would be undone by the next command or process to start.
        if slug == self.configured:
            raise ConflictError(
                f"clinic: {slug!r} is set in the settings file (config/clinic.toml or "
                "REMINDERS_CLINIC__*), which is applied at every start: change it there"
            )

    def _checked(self, clinic: Clinic, values: Mapping[str, object]) -> dict[str, object]:
        """The row's settings with `values` in, validated; the changed fields' new values."""
        if isinstance(values.get("restriction"), str):
            parse_length(str(values["restriction"]), field="restriction")
        merged = clinic_settings_of(clinic).model_dump() | dict(values)
        try:
            settings = ClinicSettings.model_validate(merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InputError(str(first["loc"][0]), first["msg"]) from exc
        stored, problems = check_clinic(settings, self.policies, self.sources)
        if problems:
            raise InputError(problems[0].setting, problems[0].message)
        return stored.model_dump(mode="json", exclude={"slug"})


def _clinic(session: Session, slug: str) -> Clinic:
    clinic = repo.get_clinic_by_slug(session, slug=slug)
    if clinic is None:
        raise NotFoundError(f"clinic: no clinic {slug!r}")
    return clinic


def _counts(
    session: Session, column: Any, live: ColumnElement[bool], clinic_id: int | None = None
) -> dict[int, int]:
    """Live rows per clinic (`column`: the table's clinic_id), of one clinic or all."""
    query = select(column, func.count()).where(live).group_by(column)
    if clinic_id is not None:
        query = query.where(column == clinic_id)
    return {row[0]: row[1] for row in session.execute(query) if row[0] is not None}
