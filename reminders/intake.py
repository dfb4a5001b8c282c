"""Logging many treatments in one transaction: an import, or a day's list at once.

The same checks and planning as logging one, with the database work batched:
one query per lookup, one flush per table, one insert for the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from reminders.db.models import Patient
from reminders.errors import InputError
from reminders.inputs import check_treatment_time
from reminders.planning import plan_treatment
from reminders.policies import Policy
from reminders.service import (
    PatientInput,
    ReminderService,
    TreatmentInput,
    apply_contact,
    checked_contact,
    reachable_profile,
    store_plans,
    treatment_row,
)


def log_many(
    service: ReminderService, clinic_id: int, requests: Sequence[TreatmentInput]
) -> list[int]:
    now = service.clock.now()
    clinic_row = service.clinic(clinic_id)
    clinic = service.planning_profile(clinic_row)
    checked: list[tuple[Policy, datetime, PatientInput]] = []
    for index, request in enumerate(requests):
        with _at(index):
            policy = service.policy(request.treatment_type)
            performed_at = request.performed_at or now
            check_treatment_time(performed_at, now=now)
            checked.append(
                (policy, performed_at, checked_contact(request.patient, region=clinic_row.region))
            )
    with service.sessions.begin() as session:
        patients = _patients(session, clinic_id, [contact for _, _, contact in checked], now)
        planned = []
        for index, ((policy, performed_at, _), patient) in enumerate(
            zip(checked, patients, strict=True)
        ):
            with _at(index):
                profile = reachable_profile(patient)
            plan = plan_treatment(
                treatment_at=performed_at, policy=policy, clinic=clinic, patient=profile, now=now
            )
            treatment = treatment_row(clinic_row, patient, policy, plan, now)
            planned.append((treatment, plan))
        session.add_all([treatment for treatment, _ in planned])
        session.flush()
        store_plans(session, planned, now, event="planned")
        return [treatment.id for treatment, _ in planned]


def _patients(
    session: Session, clinic_id: int, contacts: list[PatientInput], now: datetime
) -> list[Patient]:
    """The patient for each contact: found by phone, else by email, else new (once per batch)."""
    phones = {c.phone for c in contacts if c.phone}
    emails = {c.email for c in contacts if c.email}
    existing = session.scalars(
        select(Patient)
        .where(Patient.clinic_id == clinic_id)
        .where(or_(Patient.phone.in_(phones), Patient.email.in_(emails)))
        .order_by(Patient.id)
    ).all()
    by_phone: dict[str, Patient] = {}
    by_email: dict[str, Patient] = {}
    for patient in existing:
        if patient.phone:
            by_phone.setdefault(patient.phone, patient)
        if patient.email:
            by_email.setdefault(patient.email, patient)
    found = []
    for contact in contacts:
        match = (by_phone.get(contact.phone) if contact.phone else None) or (
            by_email.get(contact.email) if contact.email else None
        )
        patient = match or Patient(clinic_id=clinic_id, created_at=now)
        if match is None:
            session.add(patient)
        apply_contact(patient, contact, now)
        if patient.phone:
            by_phone.setdefault(patient.phone, patient)
        if patient.email:
            by_email.setdefault(patient.email, patient)
        found.append(patient)
    session.flush()
    return found


class _at:
    """Prefixes an InputError's field with the request's index: `[3].phone`."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __enter__(self) -> None:
        return None

    def __exit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        if isinstance(exc, InputError):
            raise InputError(f"[{self.index}].{exc.field}", exc.message) from exc
