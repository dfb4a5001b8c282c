"""Use cases shared by the CLI (and the HTTP API): log, preview, cancel, reschedule, look up.

Every write happens in one transaction: bad input raises before anything is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from reminders import clinic_records, corrections, intake
from reminders.clinics import ClinicProfiles
from reminders.clock import Clock
from reminders.db import plans, repo
from reminders.db.engine import read_only_sessions
from reminders.db.models import Alert, ChannelProblem, Clinic, Message, Treatment
from reminders.domain import ClinicProfile, EventKind, MessageState, PatientProfile, TreatmentStatus
from reminders.durations import parse_duration
from reminders.errors import ConflictError, InputError, NotFoundError
from reminders.inputs import check_treatment_time, clean_text
from reminders.intake import TreatmentInput
from reminders.localtime import format_staff, start_of_local_day
from reminders.planning import Plan, PlannedStep, plan_treatment
from reminders.policies import Policy, PolicySet
from reminders.replanning import Change, plan_now
from reminders.settings import ClinicSettings
from reminders.today import LOOKBACK, Board, board


@dataclass(frozen=True)
class CancelResult:
    cancelled: list[int]  # message ids that will not be sent
    in_flight: list[int]  # message ids already being handed to a provider
    withdrawal: PlannedStep | None = None  # what whoever got its messages is told, if anything
    notified: bool = False  # whether the withdrawal goes (staff may choose not to)
    dry_run: bool = False


@dataclass(frozen=True)
class CorrectionResult:
    treatment: Treatment  # as stored (or, for a dry run, as it would be)
    kind: str | None  # tightened, loosened or ended; None: the patient need not be told
    correction: PlannedStep | None  # the message that tells them
    notified: bool  # whether it goes (staff may choose not to, with a reason)
    not_notified_reason: str | None = None
    dry_run: bool = False
    plan: Plan | None = None  # the corrected plan, for showing before it is saved


MAX_ACTOR = 80  # who acknowledged an alert, as stored
MAX_REASON = 500  # a cancel's or a withheld correction's reason


class ReminderService:
    def __init__(
        self, *, sessions: sessionmaker[Session], clock: Clock, policies: PolicySet
    ) -> None:
        self.sessions = sessions
        self.reads = read_only_sessions(sessions)
        self.clock = clock
        self.policies = policies
        self.profiles = ClinicProfiles()

    # -- clinics -----------------------------------------------------------------

    def sync_clinic(self, settings: ClinicSettings, *, by: str = "config") -> Clinic:
        """Create or update the clinic row from settings (the file is the owner's source);
        each setting it changes is recorded as changed `by` the file."""
        now = self.clock.now()
        fields = settings.model_dump(mode="json")
        with self.sessions.begin() as session:
            clinic = repo.get_clinic_by_slug(session, slug=settings.slug)
            if clinic is None:
                clinic = Clinic(**fields, created_at=now, updated_at=now)
                session.add(clinic)
            else:
                clinic_records.apply(session, clinic, fields, by=by, now=now)
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
        return self.profiles.of(clinic)

    # -- planning ----------------------------------------------------------------

    def policy(self, treatment_type: str, field: str = "treatment") -> Policy:
        return intake.policy_for(self.policies, treatment_type, field)

    def preview(
        self,
        clinic_id: int,
        *,
        treatment_type: str,
        performed_at: datetime,
        logged_at: datetime | None = None,
        patient: PatientProfile | None = None,
        restriction: timedelta | None = None,
    ) -> Plan:
        """The plan for a hypothetical treatment, as if logged at `logged_at`; stores nothing.

        `restriction` tries a length for one patient (within what the policy supports, or
        the clinic's own sourced length); the clinic's when not given.
        """
        clinic_row = self.clinic(clinic_id)
        policy = self.policy(treatment_type)
        length = intake.checked_restriction(
            policy, clinic_row, restriction, "preview" if restriction else None
        ).length
        patient = patient or PatientProfile(name="Patient", has_phone=True, has_email=True)
        return plan_treatment(
            treatment_at=performed_at,
            policy=policy,
            clinic=self.planning_profile(clinic_row),
            patient=patient,
            now=logged_at or performed_at,
            restriction=length,
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
        now = self.clock.now()
        clinic_row = clinic_row or self.clinic(clinic_id)
        if clinic_row.id != clinic_id:
            raise ValueError(f"clinic row {clinic_row.id} given for clinic {clinic_id}")
        checked = intake.check(self.policies, clinic_row, request, now)
        profile = self.planning_profile(clinic_row)
        with self.sessions.begin() as session:
            # Core statements: these rows are only inserted here, and the ORM's
            # unit of work would cost more than the inserts themselves.
            connection = session.connection()
            [written] = intake.write(connection, profile, clinic_row, [checked], now, one=True)
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
        now = self.clock.now()
        clinic_row = self.clinic(clinic_id)
        checked = intake.check_all(self.policies, clinic_row, requests, now)
        profile = self.planning_profile(clinic_row)
        with self.sessions.begin() as session:
            written = intake.write(session.connection(), profile, clinic_row, checked, now)
            return [treatment.treatment_id for treatment in written]

    def treatment(self, clinic_id: int, treatment_id: int) -> Treatment:
        with self.reads() as session:
            treatment = repo.get_treatment(session, clinic_id=clinic_id, treatment_id=treatment_id)
        if treatment is None:
            raise NotFoundError(f"treatment {treatment_id} not found")
        return treatment

    def cancel(
        self,
        clinic_id: int,
        treatment_id: int,
        *,
        reason: str,
        error: bool = False,
        notify: bool = True,
        not_notified_reason: str | None = None,
        dry_run: bool = False,
    ) -> CancelResult:
        """Cancel every message not yet handed to a provider; sent ones stay in history.

        A message whose provider call has already begun cannot be recalled: it
        is reported as in flight, so the caller knows it may still arrive. A
        treatment cancelled as logged in `error` (the wrong patient) also tells
        whoever received its messages to disregard them, unless staff choose not
        to notify, with a reason. `dry_run` says what would happen and stores nothing.
        """
        now = self.clock.now()
        reason = clean_text(reason, field="reason", longest=MAX_REASON)
        not_notified_reason = _reason(not_notified_reason)
        # Committed at the end, or not at all for a dry run (closing rolls back).
        with self.sessions() as session:
            treatment = _owned_treatment(session, clinic_id, treatment_id)
            withdrawal = self._withdrawal(session, treatment, now) if error else None
            told = _notify_decision(withdrawal, notify, not_notified_reason)
            if dry_run:
                flying = [m.id for m in treatment.messages if m.state == MessageState.SENDING.value]
                return CancelResult([], flying, withdrawal, told, dry_run=True)
            if treatment.status == TreatmentStatus.ACTIVE.value:
                treatment.status = TreatmentStatus.CANCELLED.value
                treatment.cancelled_at = now
                treatment.cancel_reason = reason
                treatment.updated_at = now
            cancelled = repo.cancel_unsent(
                session, treatment_id=treatment_id, reason=reason, now=now
            )
            flying = [m.id for m in repo.in_flight(session, treatment_id=treatment_id)]
            if withdrawal is not None:
                treatment.correction_note = self._store_correction(
                    session, treatment, withdrawal, told, not_notified_reason, now
                )
            session.commit()
            return CancelResult(cancelled, flying, withdrawal, told)

    def reschedule(self, clinic_id: int, treatment_id: int, *, performed_at: datetime) -> Treatment:
        """Correct a treatment's time, telling the patient if what they were told changed."""
        return self.correct(clinic_id, treatment_id, performed_at=performed_at).treatment

    def correct(
        self,
        clinic_id: int,
        treatment_id: int,
        *,
        performed_at: datetime | None = None,
        restriction: timedelta | None = None,
        restriction_reason: str | None = None,
        notify: bool = True,
        not_notified_reason: str | None = None,
        dry_run: bool = False,
    ) -> CorrectionResult:
        """Correct a treatment's time or its restriction: what is still to go is planned
        again, and a patient already told other times gets a correction (see
        reminders.corrections), unless staff choose not to notify, with a reason.

        The treatment keeps its restriction unless a new one is given. `dry_run` returns
        what would happen, the correction's text included, and stores nothing.
        """
        now = self.clock.now()
        not_notified_reason = _reason(not_notified_reason)
        if performed_at is not None:
            check_treatment_time(performed_at, now=now)
        # Committed at the end, or not at all for a dry run (closing rolls back).
        with self.sessions() as session:
            treatment = _owned_treatment(session, clinic_id, treatment_id)
            if treatment.status != TreatmentStatus.ACTIVE.value:
                raise ConflictError("the treatment is cancelled; log a new treatment instead")
            clinic_row = treatment_clinic(session, clinic_id)
            policy = self.policy(treatment.treatment_type)
            if restriction is None and restriction_reason:
                raise InputError("restriction", "is required with a restriction_reason")
            kept = intake.Restriction(
                parse_duration(treatment.restriction),
                treatment.restriction_reason,
                treatment.restriction_source,
            )
            new = (
                kept
                if restriction is None
                else intake.checked_restriction(policy, clinic_row, restriction, restriction_reason)
            )
            change = Change(
                treatment, policy, self.planning_profile(clinic_row), performed_at, kept, new, now
            )
            plan, kind, message = change.plan(self._sent_steps(session, treatment))
            told = _notify_decision(message, notify, not_notified_reason)
            if dry_run:
                return CorrectionResult(
                    change.preview(plan),
                    kind,
                    message,
                    told,
                    not_notified_reason,
                    dry_run=True,
                    plan=plan,
                )
            change.apply(session, plan, kind, self._sent_steps(session, treatment))
            if message is not None:
                treatment.correction_note = self._store_correction(
                    session, treatment, message, told, not_notified_reason, now
                )
            session.commit()
        return CorrectionResult(
            self.treatment(clinic_id, treatment_id), kind, message, told, not_notified_reason
        )

    def _sent_steps(self, session: Session, treatment: Treatment) -> list[str]:
        """The treatment's steps that went (or are going) to the patient, in the order they went."""
        flying = {m.id for m in repo.in_flight(session, treatment_id=treatment.id)}
        gone = [
            m for m in treatment.messages if m.state == MessageState.SENT.value or m.id in flying
        ]
        return [m.step_id for m in sorted(gone, key=lambda m: (m.sent_at or m.updated_at, m.id))]

    def _withdrawal(
        self, session: Session, treatment: Treatment, now: datetime
    ) -> PlannedStep | None:
        """The message telling whoever received this treatment's messages to disregard them;
        None when nothing was sent."""
        if not self._sent_steps(session, treatment):
            return None
        policy = self.policy(treatment.treatment_type)
        step = next((s for s in policy.steps if s.when == corrections.WITHDRAWN), None)
        if step is None:
            return None
        return plan_now(step, treatment, policy, self.planning_profile(treatment.clinic), now)

    def _store_correction(
        self,
        session: Session,
        treatment: Treatment,
        message: PlannedStep,
        told: bool,
        not_notified_reason: str | None,
        now: datetime,
    ) -> str:
        """Store the correction message (if the patient is to be told); the note for the desk."""
        zone = ZoneInfo(treatment.patient.timezone or treatment.clinic.timezone)
        if not told:
            return f"{format_staff(now, zone)}: patient not told ({message.step_id}): " + (
                not_notified_reason or ""
            )
        plans.insert(
            session.connection(),
            [
                plans.NewMessage(
                    treatment.clinic_id,
                    treatment.id,
                    message,
                    self.policy(treatment.treatment_type).version,
                    EventKind.PLANNED,
                    note="correction: what the patient was told has changed",
                )
            ],
            now,
        )
        if message.skipped:
            return f"{format_staff(now, zone)}: correction not sent: {message.skip_reason}"
        return f"{format_staff(now, zone)}: patient told ({message.step_id}): {message.body}"

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

    def needs_call(self, clinic_id: int, *, limit: int = 200) -> Sequence[Alert]:
        """Open alerts: patients the service can no longer reach, oldest first."""
        with self.reads() as session:
            return repo.open_alerts(session, clinic_id=clinic_id, limit=limit)

    def acknowledge(self, clinic_id: int, alert_id: int, *, by: str) -> Alert:
        """Mark an alert as dealt with; acknowledging it again changes nothing."""
        by = clean_text(by, field="by", longest=MAX_ACTOR)
        with self.sessions.begin() as session:
            alert = repo.acknowledge_alert(
                session, clinic_id=clinic_id, alert_id=alert_id, by=by, now=self.clock.now()
            )
            if alert is None:
                raise NotFoundError(f"alert {alert_id} not found")
            return alert

    def channel_problems(self) -> Sequence[ChannelProblem]:
        """Channels waiting for the deployment's settings to be fixed (every clinic's)."""
        with self.reads() as session:
            return repo.channel_problems(session)

    def today(self, clinic_id: int, *, limit: int = 500) -> Board:
        """The desk's day: who is in their restriction, who was cleared, what goes next."""
        now = self.clock.now()
        with self.reads() as session:
            clinic = treatment_clinic(session, clinic_id)
            zone = ZoneInfo(clinic.timezone)
            since = start_of_local_day(now, zone) - LOOKBACK
            treatments = repo.treatments_since(
                session, clinic_id=clinic_id, since=since, limit=limit
            )
            return board(treatments, now=now, zone=zone, policy_for=self.policies.get)

    def recent(self, clinic_id: int, *, days: int = 7, limit: int = 200) -> Sequence[Message]:
        """Messages still to go, and those settled in the last `days`."""
        since = self.clock.now() - timedelta(days=days)
        with self.reads() as session:
            return repo.upcoming_messages(session, clinic_id=clinic_id, since=since, limit=limit)


def _reason(text: str | None) -> str | None:
    """Why the patient is not told, as stored; None if none was given."""
    if text is None or not text.strip():
        return None
    return clean_text(text, field="not_notified_reason", longest=MAX_REASON)


def _notify_decision(
    message: PlannedStep | None, notify: bool, not_notified_reason: str | None
) -> bool:
    """Whether a correction goes to the patient: it does, unless staff say why not."""
    if message is None:
        return False
    if notify:
        return True
    reason = " ".join((not_notified_reason or "").split())
    if not reason:
        raise InputError("not_notified_reason", "is required when the patient is not to be told")
    return False


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
