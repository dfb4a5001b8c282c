"""Logging many treatments at once: the same plans as one by one, all or nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from reminders.bootstrap import App
from reminders.db import history
from reminders.db.models import Base, Message, MessageEvent, Patient, Treatment
from reminders.domain import ChannelKind
from reminders.errors import InputError
from reminders.intake import TreatmentInput
from reminders.patients import PatientInput
from tests.conftest import NOW
from tests.support import CONSENT_AT, log, treatment_input


def counts(app: App) -> tuple[int, ...]:
    with app.sessions() as session:
        return tuple(
            session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
            for model in (Patient, Treatment, Message, MessageEvent)
        )


def test_bulk_plans_the_same_messages_as_logging_one_by_one(app: App) -> None:
    (bulk_id,) = app.service.log_treatments(app.clinic.id, [treatment_input(phone="+12125550101")])
    single = app.service.log_treatment(app.clinic.id, treatment_input(phone="+12125550102"))
    bulk = app.service.treatment(app.clinic.id, bulk_id)
    shape = [(m.step_id, m.state, m.due_at, m.expires_at, m.body) for m in bulk.messages]
    assert shape == [(m.step_id, m.state, m.due_at, m.expires_at, m.body) for m in single.messages]
    assert [e.kind for m in bulk.messages for e in m.events] == ["planned", "planned"]


def test_bulk_returns_ids_in_request_order_and_reuses_a_patient_within_the_batch(
    app: App,
) -> None:
    requests = [
        treatment_input(phone="+12125550101", at=NOW - timedelta(minutes=30)),
        treatment_input(phone="+12125550102"),
        treatment_input(phone="+12125550101", name="jane  DOE"),
        # Another name on a phone already in the batch: another person (a family's phone).
        treatment_input(phone="+12125550101", name="Amy Doe"),
    ]
    ids = app.service.log_treatments(app.clinic.id, requests)
    treatments = [app.service.treatment(app.clinic.id, i) for i in ids]
    assert treatments[0].performed_at == NOW - timedelta(minutes=30)
    assert treatments[0].patient_id == treatments[2].patient_id != treatments[1].patient_id
    assert treatments[3].patient_id not in {t.patient_id for t in treatments[:3]}
    assert [t.patient.name for t in treatments] == ["Jane Doe", "Jane Doe", "Jane Doe", "Amy Doe"]
    assert counts(app)[0] == 3


def test_one_bad_request_stores_nothing_and_names_its_index(app: App) -> None:
    requests = [treatment_input(phone="+12125550101"), treatment_input(phone="123")]
    before = counts(app)
    with pytest.raises(InputError) as raised:
        app.service.log_treatments(app.clinic.id, requests)
    assert raised.value.field == "[1].phone"
    assert counts(app) == before


def test_a_patient_without_consent_fails_the_whole_batch(app: App) -> None:
    requests = [
        treatment_input(phone="+12125550101"),
        treatment_input(phone="+12125550102", sms_consent_at=None),
    ]
    before = counts(app)
    with pytest.raises(InputError) as raised:
        app.service.log_treatments(app.clinic.id, requests)
    assert raised.value.field == "[1].sms_consent"
    assert counts(app) == before


TABLES = ("patients", "treatments", "messages", "message_events")


def stored_rows(app: App) -> dict[str, list[dict[str, object]]]:
    with app.sessions() as session:
        return {
            name: [
                dict(row._mapping) for row in session.execute(sa.select(table).order_by(table.c.id))
            ]
            for name in TABLES
            for table in [Base.metadata.tables[name]]
        }


def forget_treatments(app: App) -> None:
    """Back to an empty schedule (the clinic stays), ids starting again from 1."""
    with app.sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                sa.text(
                    "TRUNCATE patients, treatments, messages, message_events "
                    "RESTART IDENTITY CASCADE"
                )
            )
        else:  # ids restart by themselves: the tables are not AUTOINCREMENT
            for name in reversed(TABLES):
                session.execute(sa.delete(Base.metadata.tables[name]))


def test_bulk_stores_exactly_the_rows_logging_one_by_one_stores(app: App) -> None:
    def known_patients() -> None:
        log(app, phone="+12125550101", name="Ann Known")
        log(app, phone=None, email="ben@example.org", name="Ben Known")

    requests = [
        # Ann again (her consent is on record); then a new name on a known phone: another patient.
        treatment_input(phone="+12125550101", name="ann  KNOWN", sms_consent_at=None),
        treatment_input(phone="+12125550102", at=NOW - timedelta(hours=3)),
        treatment_input(phone="+12125550103", at=NOW + timedelta(hours=6)),  # held to 8 AM
        treatment_input(phone=None, email="cara@example.org", channel=ChannelKind.EMAIL),
        treatment_input(phone="+12125550104", email="ben@example.org", name="Ben Known"),
        treatment_input(phone="+12125550102", name="Dee Shares", at=NOW - timedelta(hours=5)),
        TreatmentInput(
            patient=PatientInput(
                name="Eve Abroad",
                phone="+447400123451",
                sms_consent_at=CONSENT_AT,
                timezone=ZoneInfo("Europe/London"),
            ),
            treatment_type="botox",
        ),
    ]
    known_patients()
    for request in requests:
        app.service.log_treatment(app.clinic.id, request)
    one_by_one = stored_rows(app)
    forget_treatments(app)
    known_patients()
    app.service.log_treatments(app.clinic.id, requests)
    in_bulk = stored_rows(app)
    assert [len(in_bulk[table]) for table in TABLES] == [7, 9, 18, 18]
    for table in TABLES:
        for bulk_row, single_row in zip(in_bulk[table], one_by_one[table], strict=True):
            assert bulk_row == single_row, table
    assert {event["kind"] for event in in_bulk["message_events"]} == {"planned", "skipped"}


def test_a_failure_after_rows_were_inserted_stores_nothing(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    log(app, phone="+12125550101", name="Ann Known")
    before = stored_rows(app)

    def failing_events(connection: sa.Connection, rows: Any) -> None:
        raise RuntimeError("the database went away")

    # The history is written last: the patients, treatments and messages are in by then.
    monkeypatch.setattr(history, "record_rows", failing_events)
    requests = [treatment_input(phone="+12125550101", name="Ann Known", email="ann@example.org")]
    requests.append(treatment_input(phone="+12125550102"))
    with pytest.raises(RuntimeError):
        app.service.log_treatments(app.clinic.id, requests)
    assert stored_rows(app) == before
