"""Use cases shared by the CLI (and the HTTP API): log, preview, cancel, reschedule, look up.

Every write happens in one transaction: bad input raises before anything is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from reminders.clock import Clock
from reminders.db import repo
from reminders.db.engine import read_only_sessions
from reminders.db.models import Clinic, Message, MessageEvent, Treatment
from reminders.domain import (
    ChannelKind,
    ClinicProfile,
    MessageState,
    PatientProfile,
    TreatmentStatus,
)
from reminders.errors import ConflictError, InputError, NotFoundError
from reminders.inputs import check_treatment_time, parse_email, parse_phone
from reminders.planning import Plan, PlannedStep, plan_treatment
from reminders.policies import Policy, PolicySet
from reminders.settings import ClinicSettings


@dataclass(frozen=True)
class PatientInput:
    name: str
    phone: str | None = None
    email: str | None = None
    preferred_channel: ChannelKind | None = None
    timezone: ZoneInfo | None = None
    sms_consent_at: datetime | None = None  # when the patient agreed to texts, if they did


@dataclass(frozen=True)
class TreatmentInput:
    patient: PatientInput
    treatment_type: str
    performed_at: datetime | None = None  # None: now


@dataclass(frozen=True)
class CancelResult:
    cancelled: list[int]  # message ids that will not be sent
    in_flight: list[int]  # message ids already being handed to a provider


def clinic_settings_of(clinic: Clinic) -> ClinicSettings:
    return ClinicSettings(
        slug=clinic.slug,
        name=clinic.name,
        phone=clinic.phone,
        region=clinic.region,
        timezone=clinic.timezone,
        restriction=clinic.restriction,
        quiet_hours=clinic.quiet_hours,
        default_channel=ChannelKind(clinic.default_channel),
        show_patient_name=clinic.show_patient_name,
        show_product_name=clinic.show_product_name,
        time_format="24h" if clinic.time_format == "24h" else "12h",
    )


class PatientContact(Protocol):
    """A patient's contact columns: a Patient row, or one about to be inserted."""

    @property
    def name(self) -> str: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def preferred_channel(self) -> str | None: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def sms_consent_at(self) -> datetime | None: ...


def patient_profile_of(patient: PatientContact) -> PatientProfile:
    return PatientProfile(
        name=patient.name,
        # A phone without consent to texts does not make the patient reachable by SMS.
        has_phone=bool(patient.phone) and patient.sms_consent_at is not None,
        has_email=bool(patient.email),
        preferred_channel=ChannelKind(patient.preferred_channel)
        if patient.preferred_channel
        else None,
        timezone=ZoneInfo(patient.timezone) if patient.timezone else None,
    )


class ReminderService:
    def __init__(
        self, *, sessions: sessionmaker[Session], clock: Clock, policies: PolicySet
    ) -> None:
        self.sessions = sessions
        self.reads = read_only_sessions(sessions)
        self.clock = clock
        self.policies = policies
        self._profiles: dict[tuple[int, datetime], ClinicProfile] = {}

    # -- clinics -----------------------------------------------------------------

    def sync_clinic(self, settings: ClinicSettings) -> Clinic:
        """Create or update the clinic row from settings (the file is the owner's source)."""
        now = self.clock.now()
        fields = settings.model_dump(mode="json")
        with self.sessions.begin() as session:
            clinic = repo.get_clinic_by_slug(session, slug=settings.slug)
            if clinic is None:
                clinic = Clinic(**fields, created_at=now, updated_at=now)
                session.add(clinic)
            elif any(getattr(clinic, key) != value for key, value in fields.items()):
                for key, value in fields.items():
                    setattr(clinic, key, value)
                clinic.updated_at = now
            session.flush()
            return clinic

    def clinic(self, clinic_id: int) -> Clinic:
        with self.reads() as session:
            clinic = repo.get_clinic(session, clinic_id=clinic_id)
        if clinic is None:
            raise NotFoundError(f"clinic {clinic_id} not found")
        return clinic

    def clinic_profile(self, clinic_id: int) -> ClinicProfile:
        return self.planning_profile(self.clinic(clinic_id))

    def planning_profile(self, clinic: Clinic) -> ClinicProfile:
        # Validating settings and parsing the phone costs more than the rest of
        # planning: reuse the profile until the clinic row changes.
        key = (clinic.id, clinic.updated_at)
        profile = self._profiles.get(key)
        if profile is None:
            profile = clinic_settings_of(clinic).profile()
            self._profiles = {k: v for k, v in self._profiles.items() if k[0] != clinic.id}
            self._profiles[key] = profile
        return profile

    # -- planning ----------------------------------------------------------------

    def policy(self, treatment_type: str, field: str = "treatment") -> Policy:
        policy = self.policies.get(treatment_type)
        if policy is None:
            known = ", ".join(self.policies.treatments) or "none"
            raise InputError(field, f"unknown treatment type {treatment_type!r} (known: {known})")
        return policy

    def preview(
        self,
        clinic_id: int,
        *,
        treatment_type: str,
        performed_at: datetime,
        logged_at: datetime | None = None,
        patient: PatientProfile | None = None,
    ) -> Plan:
        """The plan for a hypothetical treatment, as if logged at `logged_at`; stores nothing."""
        clinic = self.clinic_profile(clinic_id)
        patient = patient or PatientProfile(name="Patient", has_phone=True, has_email=True)
        return plan_treatment(
            treatment_at=performed_at,
            policy=self.policy(treatment_type),
            clinic=clinic,
            patient=patient,
            now=logged_at or performed_at,
        )

    # -- treatments --------------------------------------------------------------

    def log_treatment_once(
        self,
        clinic_id: int,
        request: TreatmentInput,
        *,
        key: str,
        request_hash: str,
        clinic_row: Clinic | None = None,
    ) -> tuple[Treatment, bool]:
        """Log a treatment under a client's idempotency key.

        Returns the treatment and whether it was a replay of an earlier request.
        The same key with a different request is a ConflictError.
        """
        replay = self._replay(clinic_id, key, request_hash)
        if replay is not None:
            return replay, True
        try:
            treatment = self.log_treatment(
                clinic_id, request, idempotency=(key, request_hash), clinic_row=clinic_row
            )
            return treatment, False
        except IntegrityError:
            # A concurrent request with the same key committed first.
            replay = self._replay(clinic_id, key, request_hash)
            if replay is None:
                raise
            return replay, True

    def _replay(self, clinic_id: int, key: str, request_hash: str) -> Treatment | None:
        with self.reads() as session:
            row = repo.get_idempotency_key(session, clinic_id=clinic_id, key=key)
        if row is None:
            return None
        if row.request_hash != request_hash:
            raise ConflictError("this Idempotency-Key was used with a different request")
        return self.treatment(clinic_id, row.treatment_id)

    def log_treatment(
        self,
        clinic_id: int,
        request: TreatmentInput,
        *,
        idempotency: tuple[str, str] | None = None,
        clinic_row: Clinic | None = None,
    ) -> Treatment:
        """Record a treatment and plan its messages, all in one transaction.

        `clinic_row` is the clinic's row if the caller has just read it. Returns
        the treatment with its patient, messages and their events loaded.
        """
        from reminders import intake  # deferred: intake builds on this module

        now = self.clock.now()
        clinic_row = clinic_row or self.clinic(clinic_id)
        if clinic_row.id != clinic_id:
            raise ValueError(f"clinic row {clinic_row.id} given for clinic {clinic_id}")
        checked = intake.check(self, clinic_row, request, now)
        with self.sessions.begin() as session:
            # Core statements: these rows are only inserted here, and the ORM's
            # unit of work would cost more than the inserts themselves.
            connection = session.connection()
            [written] = intake.write(connection, self, clinic_row, [checked], now, one=True)
            if idempotency:
                key, request_hash = idempotency
                repo.add_idempotency_key(
                    session,
                    clinic_id=clinic_id,
                    key=key,
                    request_hash=request_hash,
                    treatment_id=written.treatment_id,
                    now=now,
                )
        # The response needs the timeline just written: no reason to read it back.
        return written.as_row()

    def log_treatments(self, clinic_id: int, requests: Sequence[TreatmentInput]) -> list[int]:
        """Log many treatments in one transaction (an import, a day's list): all or nothing.

        Returns the new treatment ids in request order. A bad request raises an
        InputError whose field starts with its index, e.g. `[3].phone`.
        """
        from reminders.intake import log_many  # deferred: intake builds on this module

        return log_many(self, clinic_id, requests)

    def treatment(self, clinic_id: int, treatment_id: int) -> Treatment:
        with self.reads() as session:
            treatment = repo.get_treatment(session, clinic_id=clinic_id, treatment_id=treatment_id)
        if treatment is None:
            raise NotFoundError(f"treatment {treatment_id} not found")
        return treatment

    def cancel(self, clinic_id: int, treatment_id: int, *, reason: str) -> CancelResult:
        """Cancel every message not yet handed to a provider; sent ones stay in history.

        A message whose provider call has already begun cannot be recalled: it
        is reported as in flight, so the caller knows it may still arrive.
        """
        now = self.clock.now()
        with self.sessions.begin() as session:
            treatment = _owned_treatment(session, clinic_id, treatment_id)
            if treatment.status == TreatmentStatus.ACTIVE.value:
                treatment.status = TreatmentStatus.CANCELLED.value
                treatment.cancelled_at = now
                treatment.cancel_reason = reason
                treatment.updated_at = now
            cancelled = repo.cancel_unsent(
                session, treatment_id=treatment_id, reason=reason, now=now
            )
            flying = [m.id for m in repo.in_flight(session, treatment_id=treatment_id)]
            return CancelResult(cancelled=cancelled, in_flight=flying)

    def reschedule(self, clinic_id: int, treatment_id: int, *, performed_at: datetime) -> Treatment:
        """Correct a treatment's time: pending messages are re-planned, sent ones stay."""
        now = self.clock.now()
        check_treatment_time(performed_at, now=now)
        with self.sessions.begin() as session:
            treatment = _owned_treatment(session, clinic_id, treatment_id)
            if treatment.status != TreatmentStatus.ACTIVE.value:
                raise ConflictError("the treatment is cancelled; log a new treatment instead")
            clinic = clinic_settings_of(treatment_clinic(session, clinic_id)).profile()
            policy = self.policy(treatment.treatment_type)
            local = performed_at.astimezone(clinic.timezone)
            reason = f"re-planned: treatment time corrected to {local:%Y-%m-%d %H:%M %Z}"
            repo.cancel_unsent(session, treatment_id=treatment_id, reason=reason, now=now)
            # A step being handed to a provider right now counts as sent: never twice.
            done = {m.step_id for m in treatment.messages if m.state == MessageState.SENT.value}
            done |= {m.step_id for m in repo.in_flight(session, treatment_id=treatment_id)}
            plan = plan_treatment(
                treatment_at=performed_at,
                policy=policy,
                clinic=clinic,
                patient=patient_profile_of(treatment.patient),
                now=now,
            )
            treatment.performed_at = plan.treatment_at
            treatment.policy_version = policy.version
            treatment.updated_at = now
            store_plan(session, treatment, plan, now, event="replanned", already_sent=done)
        return self.treatment(clinic_id, treatment_id)

    def find_treatments(self, clinic_id: int, query: repo.TreatmentQuery) -> Sequence[Treatment]:
        """A page of the clinic's treatments, newest first."""
        with self.reads() as session:
            return repo.find_treatments(session, clinic_id=clinic_id, query=query)

    def delivery_problems(
        self, clinic_id: int, *, since: datetime, limit: int = 500
    ) -> Sequence[Message]:
        """Messages that failed, or that the provider could not deliver, since `since`."""
        with self.reads() as session:
            return repo.delivery_problems(session, clinic_id=clinic_id, since=since, limit=limit)

    def recent(self, clinic_id: int, *, days: int = 7, limit: int = 200) -> Sequence[Message]:
        """Messages still to go, and those settled in the last `days`."""
        since = self.clock.now() - timedelta(days=days)
        with self.reads() as session:
            return repo.upcoming_messages(session, clinic_id=clinic_id, since=since, limit=limit)


def treatment_clinic(session: Session, clinic_id: int) -> Clinic:
    clinic = repo.get_clinic(session, clinic_id=clinic_id)
    if clinic is None:
        raise NotFoundError(f"clinic {clinic_id} not found")
    return clinic


def _owned_treatment(session: Session, clinic_id: int, treatment_id: int) -> Treatment:
    treatment = repo.get_treatment(session, clinic_id=clinic_id, treatment_id=treatment_id)
    if treatment is None:
        raise NotFoundError(f"treatment {treatment_id} not found")
    return treatment


def checked_contact(patient: PatientInput, *, region: str) -> PatientInput:
    name = " ".join(patient.name.split())
    if not name:
        raise InputError("name", "is required")
    if len(name) > 120:
        raise InputError("name", "is longer than 120 characters")
    phone = parse_phone(patient.phone, region=region) if patient.phone else None
    email = parse_email(patient.email) if patient.email else None
    if not phone and not email:
        raise InputError("phone", "a phone number or an email address is required")
    if patient.preferred_channel is ChannelKind.SMS and not phone:
        raise InputError("phone", "is required when the preferred channel is sms")
    if patient.preferred_channel is ChannelKind.EMAIL and not email:
        raise InputError("email", "is required when the preferred channel is email")
    if patient.sms_consent_at and not phone:
        raise InputError("sms_consent", "consent to texts needs a phone number")
    return PatientInput(
        name, phone, email, patient.preferred_channel, patient.timezone, patient.sms_consent_at
    )


def reachable_profile(patient: PatientContact) -> PatientProfile:
    """The patient's profile, refusing one that no channel may reach."""
    profile = patient_profile_of(patient)
    if profile.preferred_channel is ChannelKind.SMS and not profile.has_phone:
        raise InputError("sms_consent", "the patient has not consented to texts (SMS)")
    if not profile.has_phone and not profile.has_email:
        raise InputError(
            "sms_consent", "the patient has not consented to texts and has no email address"
        )
    return profile


def contact_fields(patient: PatientContact, contact: PatientInput, now: datetime) -> dict[str, Any]:
    """A patient's contact columns once checked details are applied to them."""
    return {
        "name": contact.name,
        "phone": contact.phone or patient.phone,
        "email": contact.email or patient.email,
        "preferred_channel": contact.preferred_channel.value
        if contact.preferred_channel
        else patient.preferred_channel,
        "timezone": contact.timezone.key if contact.timezone else patient.timezone,
        "sms_consent_at": patient.sms_consent_at or contact.sms_consent_at,
        "updated_at": now,
    }


def treatment_fields(clinic: Clinic, policy: Policy, plan: Plan, now: datetime) -> dict[str, Any]:
    """A new, active treatment's columns, all but its patient."""
    return {
        "clinic_id": clinic.id,
        "treatment_type": policy.treatment,
        "performed_at": plan.treatment_at,
        "logged_at": now,
        "status": TreatmentStatus.ACTIVE.value,
        "policy_version": policy.version,
        "restriction": clinic.restriction,
        "created_at": now,
        "updated_at": now,
    }


def message_row(
    treatment: Treatment, step: PlannedStep, policy_version: str, now: datetime, *, note: str | None
) -> Message:
    """A pending message row for one planned step."""
    return Message(
        clinic_id=treatment.clinic_id,
        treatment_id=treatment.id,
        **message_fields(step, policy_version, now, note=note),
    )


def message_fields(
    step: PlannedStep, policy_version: str, now: datetime, *, note: str | None
) -> dict[str, Any]:
    """A pending message's columns for one planned step, all but its clinic and treatment."""
    return {
        "step_id": step.step_id,
        "channel": step.channel.value,
        "state": MessageState.PENDING.value,
        "natural_at": step.natural_at,
        "due_at": step.due_at,
        "send_after": step.due_at,
        "expires_at": step.expires_at,
        "not_before": step.not_before,
        "subject": step.subject,
        "body": step.body,
        "policy_version": policy_version,
        "note": note,
        "reason": None,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def plan_rows(
    plan: Plan, now: datetime, *, event: str, already_sent: set[str] | None = None
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each planned step's message columns (see message_fields) and its first event's.

    The event's columns are all but its message's id.
    """
    rows = []
    for step in plan.steps:
        skip = step.skip_reason
        if already_sent and step.step_id in already_sent:
            skip = "already sent before the treatment time was corrected"
        message = message_fields(step, plan.policy_version, now, note=step.note)
        if skip:
            message["state"] = MessageState.SKIPPED.value
            message["reason"] = skip
        first_event = {
            "kind": "skipped" if skip else event,
            "state": message["state"],
            "at": now,
            "detail": "; ".join(part for part in (step.note, skip) if part) or None,
            "worker": None,
        }
        rows.append((message, first_event))
    return rows


def store_plan(
    session: Session,
    treatment: Treatment,
    plan: Plan,
    now: datetime,
    *,
    event: str,
    already_sent: set[str] | None = None,
) -> list[tuple[Message, dict[str, Any]]]:
    return store_plans(session, [(treatment, plan)], now, event=event, already_sent=already_sent)


def store_plans(
    session: Session,
    plans: Sequence[tuple[Treatment, Plan]],
    now: datetime,
    *,
    event: str,
    already_sent: set[str] | None = None,
) -> list[tuple[Message, dict[str, Any]]]:
    """A message row per planned step, and its first event: two statements for any number.

    Returns each message with its event's values, as inserted.
    """
    rows = [
        (Message(clinic_id=treatment.clinic_id, treatment_id=treatment.id, **fields), first_event)
        for treatment, plan in plans
        for fields, first_event in plan_rows(plan, now, event=event, already_sent=already_sent)
    ]
    session.add_all([message for message, _ in rows])
    session.flush()
    # The table, not the entity: a Core executemany, where the ORM would go row by row.
    events = MessageEvent.__table__
    assert isinstance(events, Table)
    values = [{"message_id": message.id, **first_event} for message, first_event in rows]
    session.execute(insert(events), values)
    return [(message, value) for (message, _), value in zip(rows, values, strict=True)]
