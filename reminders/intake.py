"""Logging treatments, one or many in one transaction (an import, a day's list at once).

Requests are checked first; then the patients are found or added, and the
treatments and their plans inserted, with the database work batched: one query
for the patients, then one executemany per table, straight to the tables:
these rows are only inserted, and the ORM's unit of work would cost more than
the inserts themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, or_, select
from sqlalchemy.orm.attributes import set_committed_value

from reminders.db import bulk, plans
from reminders.db.models import Clinic, Message, MessageEvent, Patient, Treatment, table_of
from reminders.domain import ClinicProfile, EventKind, TreatmentStatus
from reminders.durations import format_duration, parse_duration
from reminders.errors import ClinicDisabledError, InputError
from reminders.inputs import check_treatment_time, clean_text
from reminders.patients import (
    PatientInput,
    checked_contact,
    contact_fields,
    name_key,
    reachable_profile,
)
from reminders.planning import Plan, plan_treatment
from reminders.policies import Policy, PolicySet


@dataclass(frozen=True)
class TreatmentInput:
    patient: PatientInput
    treatment_type: str
    performed_at: datetime | None = None  # None: now
    # This patient's own restriction length, with staff's reason; None: the clinic's.
    restriction: timedelta | None = None
    restriction_reason: str | None = None
    # Who logged it, as recorded on the treatment: `cli:<os user>`, `apikey:<label>`.
    logged_by: str | None = None


@dataclass
class PatientRecord:
    """A patient's contact columns as the batch leaves them; no id until inserted."""

    id: int | None
    name: str
    phone: str | None
    email: str | None
    preferred_channel: str | None
    timezone: str | None
    sms_consent_at: datetime | None
    updated_at: datetime

    def apply(self, contact: PatientInput, now: datetime) -> None:
        for key, value in contact_fields(self, contact, now).items():
            setattr(self, key, value)

    def columns(self) -> dict[str, Any]:
        """Its columns, and its id if it has one."""
        names = [field.name for field in fields(self)]
        return {name: getattr(self, name) for name in names if name != "id" or self.id is not None}


def policy_for(policies: PolicySet, treatment_type: str, field: str = "treatment") -> Policy:
    """The policy for a treatment type, or an InputError naming the known ones."""
    policy = policies.get(" ".join(treatment_type.split()).lower())
    if policy is None:
        known = ", ".join(policies.treatments) or "none"
        raise InputError(field, f"unknown treatment type {treatment_type!r} (known: {known})")
    return policy


@dataclass(frozen=True)
class Checked:
    """A request whose policy, time, restriction and contact details passed their checks."""

    policy: Policy
    performed_at: datetime
    contact: PatientInput
    restriction: Restriction
    logged_by: str | None = None


@dataclass(frozen=True)
class Restriction:
    """A treatment's restriction length, and on what it rests beyond the policy's answers."""

    length: timedelta
    reason: str | None = None  # staff's, for a length given for this patient
    source: str | None = None  # the clinic's own source (file@version), for one not cited


def check(
    policies: PolicySet, clinic_row: Clinic, request: TreatmentInput, now: datetime
) -> Checked:
    if clinic_row.disabled_at is not None:
        raise ClinicDisabledError(clinic_row.slug, clinic_row.disabled_reason)
    policy = policy_for(policies, request.treatment_type)
    performed_at = request.performed_at or now
    check_treatment_time(performed_at, now=now)
    restriction = checked_restriction(
        policy, clinic_row, request.restriction, request.restriction_reason
    )
    contact = checked_contact(request.patient, region=clinic_row.region)
    return Checked(policy, performed_at, contact, restriction, request.logged_by)


def checked_restriction(
    policy: Policy, clinic: Clinic, length: timedelta | None, reason: str | None
) -> Restriction:
    """The clinic's restriction, or one given for this patient with a reason: within what
    the policy's answers support, or the clinic's own sourced length."""
    clinic_length = parse_duration(clinic.restriction)
    given = length is not None
    length = clinic_length if length is None else length
    if given and not (reason or "").strip():
        raise InputError(
            "restriction_reason", "is required with a restriction given for this patient"
        )
    if reason and not given:
        raise InputError("restriction", "is required with a restriction_reason")
    if reason:
        reason = clean_text(reason, field="restriction_reason", longest=MAX_REASON)
    if policy.supports(length):
        return Restriction(length, reason)
    if clinic.restriction_source and length == clinic_length:
        return Restriction(length, reason, clinic.restriction_source)
    raise InputError(
        "restriction",
        f"{format_duration(length)} is outside what the answers cited for "
        f"{policy.treatment} support ({format_duration(policy.shortest)} to "
        f"{format_duration(policy.longest)})",
    )


MAX_REASON = 500


def check_all(
    policies: PolicySet, clinic_row: Clinic, requests: Sequence[TreatmentInput], now: datetime
) -> list[Checked]:
    """Check every request; a bad one raises an InputError whose field starts with its index."""
    checked: list[Checked] = []
    for index, request in enumerate(requests):
        with at_index(index):
            checked.append(check(policies, clinic_row, request, now))
    return checked


@dataclass
class Written:
    """A treatment as stored: its columns and id, its patient's, its messages' and events'."""

    treatment_id: int
    treatment: dict[str, Any]
    patient: PatientRecord
    messages: list[plans.StoredMessage]

    def as_row(self) -> Treatment:
        """The treatment as an ORM object not bound to any session, for presenting."""
        patient = Patient(**self.patient.columns())
        treatment = Treatment(id=self.treatment_id, **self.treatment)
        set_committed_value(treatment, "patient", patient)
        messages = []
        for stored in self.messages:
            message = Message(id=stored.id, **stored.columns)
            set_committed_value(message, "events", [MessageEvent(**stored.first_event)])
            messages.append(message)
        set_committed_value(treatment, "messages", messages)
        return treatment


def treatment_fields(clinic: Clinic, request: Checked, plan: Plan, now: datetime) -> dict[str, Any]:
    """A new, active treatment's columns, all but its patient."""
    restriction = request.restriction
    return {
        "clinic_id": clinic.id,
        "treatment_type": request.policy.treatment,
        "performed_at": plan.treatment_at,
        "logged_at": now,
        "status": TreatmentStatus.ACTIVE.value,
        "policy_version": request.policy.version,
        "restriction": format_duration(restriction.length),
        "restriction_reason": restriction.reason,
        "restriction_source": restriction.source,
        "logged_by": request.logged_by,
        "created_at": now,
        "updated_at": now,
    }


def write(
    connection: Connection,
    clinic: ClinicProfile,
    clinic_row: Clinic,
    checked: Sequence[Checked],
    now: datetime,
    *,
    one: bool = False,
) -> list[Written]:
    """Store checked requests: patients found or added, treatments, messages, events.

    Errors name the request's index (`[3].phone`) unless `one` request is written.
    """
    clinic_id = clinic_row.id
    patients = _patients(connection, clinic_id, [c.contact for c in checked], now)
    planned: list[Plan] = []
    for index, (request, patient) in enumerate(zip(checked, patients, strict=True)):
        with nullcontext() if one else at_index(index):
            profile = reachable_profile(patient)
        planned.append(
            plan_treatment(
                treatment_at=request.performed_at,
                policy=request.policy,
                clinic=clinic,
                patient=profile,
                now=now,
                restriction=request.restriction.length,
            )
        )
    _store_patients(connection, clinic_id, patients, now)
    treatments = [
        {**treatment_fields(clinic_row, request, plan, now), "patient_id": patient.id}
        for request, plan, patient in zip(checked, planned, patients, strict=True)
    ]
    treatment_ids = bulk.insert_with_ids(connection, table_of(Treatment), treatments)
    stored = plans.insert_plans(
        connection,
        [
            (clinic_id, treatment_id, plan)
            for treatment_id, plan in zip(treatment_ids, planned, strict=True)
        ],
        now,
        event=EventKind.PLANNED,
    )
    written = [
        Written(treatment_id, columns, patient, [])
        for treatment_id, columns, patient in zip(treatment_ids, treatments, patients, strict=True)
    ]
    by_id = {w.treatment_id: w for w in written}
    for message in stored:
        by_id[message.columns["treatment_id"]].messages.append(message)
    return written


_Key = tuple[str, str]


def _patients(
    connection: Connection, clinic_id: int, contacts: list[PatientInput], now: datetime
) -> list[PatientRecord]:
    """The patient for each contact, matched by name and phone, else by name and email,
    else new (once per batch); see reminders.patients on matching.

    Each is returned with the batch's contact details applied, in request order.
    """
    by_phone, by_email = _existing(connection, clinic_id, contacts)
    found = []
    for contact in contacts:
        key = name_key(contact.name)
        match = (by_phone.get((key, contact.phone)) if contact.phone else None) or (
            by_email.get((key, contact.email)) if contact.email else None
        )
        patient = match or PatientRecord(None, "", None, None, None, None, None, now)
        patient.apply(contact, now)
        _index(patient, by_phone, by_email)
        found.append(patient)
    return found


def _index(
    patient: PatientRecord, by_phone: dict[_Key, PatientRecord], by_email: dict[_Key, PatientRecord]
) -> None:
    key = name_key(patient.name)
    if patient.phone:
        by_phone.setdefault((key, patient.phone), patient)
    if patient.email:
        by_email.setdefault((key, patient.email), patient)


def _existing(
    connection: Connection, clinic_id: int, contacts: list[PatientInput]
) -> tuple[dict[_Key, PatientRecord], dict[_Key, PatientRecord]]:
    """The clinic's patients with any of these phones or emails, by name and phone and by
    name and email. Where two share both, the oldest wins, as for a single treatment."""
    phones = {c.phone for c in contacts if c.phone}
    emails = {c.email for c in contacts if c.email}
    table = table_of(Patient)
    names = [field.name for field in fields(PatientRecord)]
    rows = connection.execute(
        select(*(table.c[name] for name in names))
        .where(table.c.clinic_id == clinic_id)
        .where(or_(table.c.phone.in_(phones), table.c.email.in_(emails)))
        .order_by(table.c.id)
    )
    by_phone: dict[_Key, PatientRecord] = {}
    by_email: dict[_Key, PatientRecord] = {}
    for row in rows:
        _index(PatientRecord(*row), by_phone, by_email)
    return by_phone, by_email


def _store_patients(
    connection: Connection, clinic_id: int, patients: list[PatientRecord], now: datetime
) -> None:
    """Insert the new patients (giving them ids) and update the others, once each."""
    unique = list({id(patient): patient for patient in patients}.values())
    table = table_of(Patient)
    bulk.update_by_id(connection, table, [p.columns() for p in unique if p.id is not None])
    new = [patient for patient in unique if patient.id is None]
    ids = bulk.insert_with_ids(
        connection,
        table,
        [{**p.columns(), "clinic_id": clinic_id, "created_at": now} for p in new],
    )
    for patient, patient_id in zip(new, ids, strict=True):
        patient.id = patient_id


class at_index:
    """Prefixes an InputError's field with the request's index: `[3].phone`."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __enter__(self) -> None:
        return None

    def __exit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        if isinstance(exc, InputError):
            raise InputError(f"[{self.index}].{exc.field}", exc.message) from exc


def unreachable(
    connection: Connection, clinic_id: int, checked: Sequence[Checked], now: datetime
) -> dict[int, InputError]:
    """The requests whose patient, matched as `write` would match them, no channel may
    reach, by index: what `write` would refuse, found without writing."""
    patients = _patients(connection, clinic_id, [c.contact for c in checked], now)
    problems: dict[int, InputError] = {}
    for index, patient in enumerate(patients):
        try:
            reachable_profile(patient)
        except InputError as exc:
            problems[index] = exc
    return problems
