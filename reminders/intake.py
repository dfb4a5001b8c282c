"""Logging many treatments in one transaction: an import, or a day's list at once.

The same checks, planning and rows as logging one (the same helpers build them),
with the database work batched: one query for the patients, then one executemany
per table, straight to the tables: these rows are only inserted, and the ORM's
unit of work would cost more than the inserts themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, or_, select
from sqlalchemy.orm.attributes import set_committed_value

from reminders.db import bulk
from reminders.db.models import Clinic, Message, MessageEvent, Patient, Treatment
from reminders.errors import InputError
from reminders.inputs import check_treatment_time
from reminders.planning import Plan, plan_treatment
from reminders.policies import Policy
from reminders.service import (
    PatientInput,
    ReminderService,
    TreatmentInput,
    checked_contact,
    contact_fields,
    plan_rows,
    reachable_profile,
    treatment_fields,
)


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


def log_many(
    service: ReminderService, clinic_id: int, requests: Sequence[TreatmentInput]
) -> list[int]:
    now = service.clock.now()
    clinic_row = service.clinic(clinic_id)
    checked: list[Checked] = []
    for index, request in enumerate(requests):
        with _at(index):
            checked.append(check(service, clinic_row, request, now))
    with service.sessions.begin() as session:
        written = write(session.connection(), service, clinic_row, checked, now)
        return [treatment.treatment_id for treatment in written]


@dataclass(frozen=True)
class Checked:
    """A request whose policy, time and contact details passed their checks."""

    policy: Policy
    performed_at: datetime
    contact: PatientInput


def check(
    service: ReminderService, clinic_row: Clinic, request: TreatmentInput, now: datetime
) -> Checked:
    policy = service.policy(request.treatment_type)
    performed_at = request.performed_at or now
    check_treatment_time(performed_at, now=now)
    return Checked(policy, performed_at, checked_contact(request.patient, region=clinic_row.region))


@dataclass
class Written:
    """A treatment as stored: its columns and id, its patient's, its messages' and events'."""

    treatment_id: int
    treatment: dict[str, Any]
    patient: PatientRecord
    messages: list[tuple[int, dict[str, Any], dict[str, Any]]]  # id, columns, first event

    def as_row(self) -> Treatment:
        """The treatment as an ORM object not bound to any session, for presenting."""
        patient = Patient(**self.patient.columns())
        treatment = Treatment(id=self.treatment_id, **self.treatment)
        set_committed_value(treatment, "patient", patient)
        messages = []
        for message_id, columns, first_event in self.messages:
            message = Message(id=message_id, **columns)
            set_committed_value(message, "events", [MessageEvent(**first_event)])
            messages.append(message)
        set_committed_value(treatment, "messages", messages)
        return treatment


def write(
    connection: Connection,
    service: ReminderService,
    clinic_row: Clinic,
    checked: Sequence[Checked],
    now: datetime,
    *,
    one: bool = False,
) -> list[Written]:
    """Store checked requests: patients found or added, treatments, messages, events.

    Errors name the request's index (`[3].phone`) unless `one` request is written.
    """
    clinic = service.planning_profile(clinic_row)
    clinic_id = clinic_row.id
    patients = _patients(connection, clinic_id, [c.contact for c in checked], now)
    plans: list[Plan] = []
    for index, (request, patient) in enumerate(zip(checked, patients, strict=True)):
        with nullcontext() if one else _at(index):
            profile = reachable_profile(patient)
        plans.append(
            plan_treatment(
                treatment_at=request.performed_at,
                policy=request.policy,
                clinic=clinic,
                patient=profile,
                now=now,
            )
        )
    _store_patients(connection, clinic_id, patients, now)
    treatments = [
        {**treatment_fields(clinic_row, request.policy, plan, now), "patient_id": patient.id}
        for request, plan, patient in zip(checked, plans, patients, strict=True)
    ]
    treatment_ids = bulk.insert_with_ids(connection, _table(Treatment), treatments)
    messages = _store_plans(connection, clinic_id, zip(treatment_ids, plans, strict=True), now)
    written = [
        Written(treatment_id, columns, patient, [])
        for treatment_id, columns, patient in zip(treatment_ids, treatments, patients, strict=True)
    ]
    by_id = {w.treatment_id: w for w in written}
    for message_id, columns, first_event in messages:
        by_id[columns["treatment_id"]].messages.append((message_id, columns, first_event))
    return written


def _patients(
    connection: Connection, clinic_id: int, contacts: list[PatientInput], now: datetime
) -> list[PatientRecord]:
    """The patient for each contact: found by phone, else by email, else new (once per batch).

    Each is returned with the batch's contact details applied, in request order.
    """
    by_phone, by_email = _existing(connection, clinic_id, contacts)
    found = []
    for contact in contacts:
        match = (by_phone.get(contact.phone) if contact.phone else None) or (
            by_email.get(contact.email) if contact.email else None
        )
        patient = match or PatientRecord(None, "", None, None, None, None, None, now)
        patient.apply(contact, now)
        if patient.phone:
            by_phone.setdefault(patient.phone, patient)
        if patient.email:
            by_email.setdefault(patient.email, patient)
        found.append(patient)
    return found


def _existing(
    connection: Connection, clinic_id: int, contacts: list[PatientInput]
) -> tuple[dict[str, PatientRecord], dict[str, PatientRecord]]:
    """The clinic's patients with any of these phones or emails, by phone and by email.

    Where two share a phone (or an email) the oldest wins, as for a single treatment.
    """
    phones = {c.phone for c in contacts if c.phone}
    emails = {c.email for c in contacts if c.email}
    table = _table(Patient)
    names = [field.name for field in fields(PatientRecord)]
    rows = connection.execute(
        select(*(table.c[name] for name in names))
        .where(table.c.clinic_id == clinic_id)
        .where(or_(table.c.phone.in_(phones), table.c.email.in_(emails)))
        .order_by(table.c.id)
    )
    by_phone: dict[str, PatientRecord] = {}
    by_email: dict[str, PatientRecord] = {}
    for row in rows:
        patient = PatientRecord(*row)
        if patient.phone:
            by_phone.setdefault(patient.phone, patient)
        if patient.email:
            by_email.setdefault(patient.email, patient)
    return by_phone, by_email


def _store_patients(
    connection: Connection, clinic_id: int, patients: list[PatientRecord], now: datetime
) -> None:
    """Insert the new patients (giving them ids) and update the others, once each."""
    unique = list({id(patient): patient for patient in patients}.values())
    table = _table(Patient)
    bulk.update_by_id(connection, table, [p.columns() for p in unique if p.id is not None])
    new = [patient for patient in unique if patient.id is None]
    ids = bulk.insert_with_ids(
        connection,
        table,
        [{**p.columns(), "clinic_id": clinic_id, "created_at": now} for p in new],
    )
    for patient, patient_id in zip(new, ids, strict=True):
        patient.id = patient_id


def _store_plans(
    connection: Connection, clinic_id: int, plans: Iterable[tuple[int, Plan]], now: datetime
) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
    """Each plan's messages and their first events, for treatments already inserted.

    Returns each message's id, columns and first event's columns, as stored.
    """
    rows = [
        ({**fields_, "clinic_id": clinic_id, "treatment_id": treatment_id}, first_event)
        for treatment_id, plan in plans
        for fields_, first_event in plan_rows(plan, now, event="planned")
    ]
    message_ids = bulk.insert_with_ids(
        connection, _table(Message), [message for message, _ in rows]
    )
    stored = [
        (message_id, message, {**first_event, "message_id": message_id})
        for (message, first_event), message_id in zip(rows, message_ids, strict=True)
    ]
    bulk.insert_rows(connection, _table(MessageEvent), [event for _, _, event in stored])
    return stored


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


class _at:
    """Prefixes an InputError's field with the request's index: `[3].phone`."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __enter__(self) -> None:
        return None

    def __exit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        if isinstance(exc, InputError):
            raise InputError(f"[{self.index}].{exc.field}", exc.message) from exc
