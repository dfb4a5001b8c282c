"""The desk after logging: the first message's progress, waited for, and texts moved to
email when they do not arrive; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from reminders.bootstrap import App
from reminders.channels.base import ChannelRegistry
from reminders.channels.console import ConsoleChannel
from reminders.clock import FixedClock
from reminders.db.models import Clinic, Message
from reminders.desk import Desk
from reminders.domain import ChannelKind, EventKind
from reminders.errors import ConflictError, InputError, NotFoundError
from reminders.inbound import ProviderReports
from reminders.progress import FirstMessage, Stage
from tests.support import RecordingChannel, dispatcher, log

REPORTING = frozenset({ChannelKind.SMS})


class FakeTime:
    """The wait's clock and sleep: each sleep runs `during_sleep` first (the worker)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.during_sleep: list[object] = []
        self.sleeps = 0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        if self.during_sleep:
            action = self.during_sleep.pop(0)
            assert callable(action)
            action()
        self.now += seconds


def desk(app: App, time: FakeTime) -> Desk:
    return Desk(
        app.sessions,
        app.clock,
        app.reroutes,
        REPORTING,
        sleep=time.sleep,
        monotonic=time.monotonic,
    )


def stages(seen: list[FirstMessage]) -> list[Stage]:
    return [progress.stage for progress in seen]


def messages(app: App, treatment_id: int) -> list[Message]:
    with app.sessions() as session:
        return list(
            session.scalars(
                sa.select(Message).where(Message.treatment_id == treatment_id).order_by(Message.id)
            )
        )


def test_the_console_channel_reports_delivered_as_it_sends(app: App, tmp_path: Path) -> None:
    console = ConsoleChannel(tmp_path / "outbox.log", stream=io.StringIO())
    treatment = log(app)
    channels = ChannelRegistry({ChannelKind.SMS: console, ChannelKind.EMAIL: console})
    app.dispatcher(channels).dispatch_due()
    first = app.desk.first_message(app.clinic.id, treatment.id)
    assert first is not None
    assert (first.stage, first.final, first.problem) == (Stage.DELIVERED, True, False)
    with app.sessions() as session:
        events = session.scalars(
            sa.text("SELECT kind FROM message_events WHERE message_id = :id ORDER BY id"),
            {"id": first.message_id},
        ).all()
    assert events[-2:] == [EventKind.SENT.value, EventKind.DELIVERY.value]
    sent = [json.loads(line) for line in (tmp_path / "outbox.log").read_text().splitlines()]
    assert [record["message_id"] for record in sent] == [first.message_id]


def test_waiting_follows_the_first_text_to_delivered(app: App, channel: RecordingChannel) -> None:
    treatment = log(app)
    time = FakeTime()
    worker = dispatcher(app, channel)
    reports = ProviderReports(
        sessions=app.sessions, clock=app.clock, reroutes=app.reroutes, triage=app.triage
    )

    def delivered() -> None:
        reports.delivery_status(
            provider_id=f"rec-{channel.sent_ids()[0]}-1", status="delivered", error_code=None
        )

    time.during_sleep = [worker.dispatch_due, delivered]
    seen: list[FirstMessage] = []
    result = desk(app, time).wait_for_first_message(
        app.clinic.id, treatment.id, timeout=10, on_change=seen.append
    )
    assert result is not None
    assert stages(seen) == [Stage.QUEUED, Stage.SENT, Stage.DELIVERED]
    assert result.final
    assert time.sleeps == 2


def test_waiting_gives_up_after_the_timeout(app: App) -> None:
    treatment = log(app)
    time = FakeTime()
    seen: list[FirstMessage] = []
    result = desk(app, time).wait_for_first_message(
        app.clinic.id, treatment.id, timeout=2, on_change=seen.append
    )
    assert result is not None
    assert (result.stage, result.final) == (Stage.QUEUED, False)
    assert stages(seen) == [Stage.QUEUED]  # told once, not at every read
    assert time.now == pytest.approx(2.0)


def test_an_undelivered_text_is_moved_to_email_with_the_address_the_desk_gives(
    app: App, channel: RecordingChannel, clock: FixedClock
) -> None:
    treatment = log(app)
    dispatcher(app, channel).dispatch_due()
    first_text = channel.sent_ids()[0]
    ProviderReports(
        sessions=app.sessions, clock=app.clock, reroutes=app.reroutes, triage=app.triage
    ).delivery_status(provider_id=f"rec-{first_text}-1", status="undelivered", error_code="30005")
    first = app.desk.first_message(app.clinic.id, treatment.id)
    assert first is not None
    assert (first.stage, first.problem, first.email_instead) == (Stage.UNDELIVERED, True, True)
    assert "(ask the patient for an address)" in first.what_to_do[1]

    rerouted = app.desk.email_instead(
        app.clinic.id, treatment.id, email=" Jane@Example.com ", why="wrong number"
    )
    rows = {m.id: m for m in messages(app, treatment.id)}
    by_state = sorted((m.step_id, m.channel, m.state) for m in rows.values())
    assert by_state == [
        ("all_clear", "email", "pending"),
        ("all_clear", "sms", "cancelled"),
        ("avoid", "email", "pending"),
        ("avoid", "sms", "sent"),
    ]
    assert sorted(rerouted.emailed) == sorted(m.id for m in rows.values() if m.channel == "email")
    assert rerouted.missed == []
    now_first = app.desk.first_message(app.clinic.id, treatment.id)
    assert now_first is not None
    assert (now_first.channel, now_first.stage) == (ChannelKind.EMAIL, Stage.QUEUED)
    assert app.service.treatment(app.clinic.id, treatment.id).patient.email == "Jane@example.com"


def test_email_instead_needs_an_address(app: App) -> None:
    treatment = log(app)
    with pytest.raises(InputError) as refused:
        app.desk.email_instead(app.clinic.id, treatment.id, email=None, why="no texts")
    assert refused.value.field == "email"
    with pytest.raises(InputError) as invalid:
        app.desk.email_instead(app.clinic.id, treatment.id, email="not an address", why="x")
    assert invalid.value.field == "email"
    assert [m.state for m in messages(app, treatment.id)] == ["pending", "pending"]


def test_email_instead_where_the_clinic_does_not_allow_it(app: App) -> None:
    treatment = log(app, email="jane@example.com")
    with app.sessions.begin() as session:
        session.execute(sa.update(Clinic).values(email_fallback=False))
    with pytest.raises(ConflictError, match="does not send email instead"):
        app.desk.email_instead(app.clinic.id, treatment.id, email=None, why="no texts")


def test_email_instead_for_a_cancelled_or_unknown_treatment(app: App) -> None:
    treatment = log(app, email="jane@example.com")
    app.service.cancel(app.clinic.id, treatment.id, reason="wrong patient")
    with pytest.raises(ConflictError):
        app.desk.email_instead(app.clinic.id, treatment.id, email=None, why="x")
    with pytest.raises(NotFoundError):
        app.desk.email_instead(app.clinic.id + 1, treatment.id, email=None, why="x")
