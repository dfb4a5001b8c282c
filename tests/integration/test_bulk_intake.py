"""Logging many treatments at once: the same plans as one by one, all or nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from reminders.bootstrap import App
from reminders.db.models import Message, MessageEvent, Patient, Treatment
from reminders.errors import InputError
from tests.conftest import NOW
from tests.support import treatment_input


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
        treatment_input(phone="+12125550101", name="Jane Q. Doe"),
    ]
    ids = app.service.log_treatments(app.clinic.id, requests)
    treatments = [app.service.treatment(app.clinic.id, i) for i in ids]
    assert treatments[0].performed_at == NOW - timedelta(minutes=30)
    assert treatments[0].patient_id == treatments[2].patient_id != treatments[1].patient_id
    assert treatments[2].patient.name == "Jane Q. Doe"
    assert counts(app)[0] == 2


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
