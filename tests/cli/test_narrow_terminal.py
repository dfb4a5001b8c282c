"""In an 80-column terminal the tables stay readable: every id, state and date is printed
whole (long names and reasons fold instead), and no line is wider than the terminal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from freezegun import freeze_time
from sqlalchemy import update

from reminders.bootstrap import App, build_app, default_channels
from reminders.db.models import Message
from reminders.inbound import ProviderReports
from reminders.settings import load_settings
from tests.cli.support import FROZEN, run
from tests.support import log

PHONE = "+12125550199"
LONG_NAME = "Bartholomew Featherstonehaugh-Worthington-Smythe of Little Snoring"
LONG_EMAIL = "bartholomew.featherstonehaugh-worthington@example.org"
DATE = r"2026-11-\d\d"


@dataclass(frozen=True)
class Row:
    id: int
    treatment_id: int
    step_id: str
    state: str


@pytest.fixture
def clinic(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Row]]:
    """Two patients with long names; one stopped texts (an alert), one text undelivered.
    The messages as stored."""
    monkeypatch.setenv("COLUMNS", "80")
    with freeze_time(FROZEN):
        application = build_app(load_settings())
        log(application, name=LONG_NAME, phone=PHONE, at=None)
        log(
            application,
            name=f"{LONG_NAME} the Younger",
            phone="+12125550198",
            email=LONG_EMAIL,
            at=None,
        )
        application.dispatcher(default_channels(application.settings)).dispatch_due()
        ProviderReports(
            sessions=application.sessions,
            clock=application.clock,
            reroutes=application.reroutes,
            triage=application.triage,
        ).inbound_text(from_phone=PHONE, to_sender="+12125550100", body="STOP", provider_id="SM1")
        _undelivered(application, treatment_id=2)
        yield _rows(application)
        application.close()


def _undelivered(application: App, *, treatment_id: int) -> None:
    now = application.clock.now()
    with application.sessions.begin() as session:
        session.execute(
            update(Message)
            .where(Message.treatment_id == treatment_id, Message.state == "sent")
            .values(delivery_status="undelivered", delivery_error="30003", delivery_updated_at=now)
        )


def _rows(application: App) -> list[Row]:
    rows = []
    for treatment_id in (1, 2):
        treatment = application.service.treatment(application.clinic.id, treatment_id)
        rows += [Row(m.id, treatment_id, m.step_id, m.state) for m in treatment.messages]
    return rows


def _fits(output: str) -> None:
    widest = max(len(line) for line in output.splitlines())
    assert widest <= 80, output


def test_list_prints_each_id_state_and_due_date_whole(clinic: list[Row]) -> None:
    with freeze_time(FROZEN):
        output = run("list")

    _fits(output)
    assert {(r.step_id, r.state) for r in clinic} == {
        ("avoid", "sent"),
        ("all_clear", "cancelled"),
        ("all_clear", "pending"),
    }
    for r in clinic:
        row = rf"│ {r.id} +│ {r.treatment_id} +│ {r.step_id} +│ {DATE} +│ {r.state} +│"
        assert re.search(row, output), f"no row {row!r} in\n{output}"


def test_show_prints_each_id_state_and_due_date_whole(clinic: list[Row]) -> None:
    with freeze_time(FROZEN):
        outputs = {t: run("show", str(t)) for t in (1, 2)}

    for output in outputs.values():
        _fits(output)
        assert "Featherstonehaugh" in output
    assert len(clinic) == 4
    for r in clinic:
        output = outputs[r.treatment_id]
        row = rf"│ {r.id} +│ {r.step_id} +│ {DATE} +│ {r.state} +│"
        assert re.search(row, output), f"no row {row!r} in\n{output}"
        history = rf"│ {r.id} +│ {DATE} \d\d:\d\d EST planned"
        assert re.search(history, output), f"no history {history!r} in\n{output}"
    assert "undelivered" in outputs[2]


def test_failures_prints_each_alert_and_message_id_and_date_whole(clinic: list[Row]) -> None:
    with freeze_time(FROZEN):
        output = run("failures")

    _fits(output)
    assert re.search(rf"│ 1 +│ 1 +│ {DATE} +│ the patient opted out of", output), output
    undelivered = [r for r in clinic if r.treatment_id == 2 and r.state == "sent"]
    assert len(undelivered) == 1
    row = rf"│ {undelivered[0].id} +│ 2 +│ avoid +│ {DATE} +│ not delivered:"
    assert re.search(row, output), f"no row {row!r} in\n{output}"
    assert "+12125550199" in output
