"""A clinic's monthly SMS budget, on real databases: counted as texts are recorded, a
warning at 80 %, texts over it by email or held for staff, released when staff allow
more, the budget is raised or the clinic's month ends; skipped with a reason if their
step expires meanwhile."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from reminders.bootstrap import App, build_app
from reminders.clock import FixedClock
from reminders.db import usage
from reminders.db.models import Alert, Message, SmsUsage
from reminders.domain import AlertKind, ChannelKind
from reminders.sms_encoding import sms_cost
from reminders.spend import EXPIRED_HELD, Budgets
from tests.conftest import make_settings
from tests.support import RecordingChannel, dispatcher, log

NOW = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)  # 2:00 PM in New York
BUDGET = 100
SWEEP = timedelta(seconds=2)  # past the worker's housekeeping interval


@pytest.fixture
def app(tmp_path: Path, database_url: str, clock: FixedClock) -> Iterator[App]:
    settings = make_settings(tmp_path, database_url, sms_monthly_segments=BUDGET)
    application = build_app(settings, clock=clock)
    yield application
    application.close()


def messages(app: App) -> list[Message]:
    with app.sessions() as session:
        return list(
            session.scalars(
                sa.select(Message).options(selectinload(Message.events)).order_by(Message.id)
            )
        )


def texts(app: App, step_id: str = "avoid") -> Message:
    [text] = [m for m in messages(app) if m.step_id == step_id and m.channel == "sms"]
    return text


def alerts(app: App) -> list[Alert]:
    with app.sessions() as session:
        return list(session.scalars(sa.select(Alert).where(Alert.kind == "sms_budget")))


def used(app: App, month: str = "2026-11") -> int:
    with app.sessions() as session:
        return usage.used(session, clinic_id=app.clinic.id, month=month)[0]


def spend(app: App, segments: int, month: str = "2026-11") -> None:
    """Segments already sent this month."""
    with app.sessions.begin() as session:
        usage.add_segments(
            session, clinic_id=app.clinic.id, month=month, segments=segments, now=NOW
        )


def avoid_segments(app: App) -> int:
    return sms_cost(texts(app).body).segments


def test_sent_texts_count_their_segments_in_the_clinic_s_month(
    app: App, channel: RecordingChannel
) -> None:
    log(app)
    dispatcher(app, channel).dispatch_due()
    [sent] = channel.sent
    assert used(app) == sms_cost(sent.body).segments == 2


@pytest.mark.parametrize(("reached", "warned"), [(79, False), (80, True)])
def test_the_clinic_is_warned_once_when_the_month_s_texts_reach_80_percent(
    app: App,
    channel: RecordingChannel,
    caplog: pytest.LogCaptureFixture,
    reached: int,
    warned: bool,
) -> None:
    log(app)
    spend(app, reached - avoid_segments(app))
    with caplog.at_level(logging.WARNING, logger="reminders.spend"):
        dispatcher(app, channel).dispatch_due()
    assert used(app) == reached
    warnings = [r for r in caplog.records if r.name == "reminders.spend"]
    assert len(warnings) == warned
    budget_alerts = alerts(app)
    assert len(budget_alerts) == warned
    if warned:
        assert warnings[0].getMessage() == "SMS budget 80% used"
        assert budget_alerts[0].detail.startswith("SMS budget 80 % used: 80 of 100 segments")
        assert budget_alerts[0].treatment_id is None
        # Another text this month: no second warning.
        log(app, phone="+12125550111", name="Ann Lee")
        dispatcher(app, channel).dispatch_due()
        assert len(channel.sent) == 2
        assert [a.detail for a in alerts(app)] == [budget_alerts[0].detail]


def test_over_budget_a_patient_with_an_email_gets_their_aftercare_by_email(
    app: App, channel: RecordingChannel
) -> None:
    log(app, email="jane@example.org")
    spend(app, BUDGET)
    dispatcher(app, channel).dispatch_due()
    assert [(o.kind, o.to) for o in channel.sent] == [(ChannelKind.EMAIL, "jane@example.org")]
    text = texts(app)
    assert text.state == "skipped"
    assert text.reason is not None
    assert text.reason.startswith("over the clinic's SMS budget: 100 of 100 segments used in")
    assert "the patient's texts go by email instead" in text.reason
    # The rest of the patient's texts move to email too, each saying why.
    assert texts(app, "all_clear").state == "cancelled"
    emails = [m for m in messages(app) if m.channel == "email"]
    assert [m.step_id for m in emails] == ["avoid", "all_clear"]
    assert all("over the clinic's SMS budget" in (m.note or "") for m in emails)
    assert used(app) == BUDGET  # emails are not counted


def held_text(app: App, channel: RecordingChannel) -> Message:
    log(app)
    spend(app, BUDGET)
    dispatcher(app, channel).dispatch_due()
    assert channel.sent == []
    return texts(app)


def test_over_budget_a_text_with_no_email_to_go_by_is_held_for_staff(
    app: App, channel: RecordingChannel
) -> None:
    text = held_text(app, channel)
    assert (text.state, text.attempts, text.held_for) == ("pending", 0, "sms_budget")
    # At the latest until midnight starting December in New York.
    assert text.send_after == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert text.events[-1].kind == "held"
    assert text.events[-1].detail is not None
    assert "held for a staff decision" in text.events[-1].detail
    [alert] = alerts(app)
    assert alert.kind == AlertKind.SMS_BUDGET.value
    assert "SMS budget used up (100 of 100 segments used in 2026-11): 1 text(s) held" in (
        alert.detail
    )
    # The desk sees it with the patients to call.
    assert alert.id in [a.id for a in app.service.needs_call(app.clinic.id)]
    # Held, not retried: the next passes send nothing and spend no attempt.
    clock = app.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(minutes=30))
    dispatcher(app, channel).dispatch_due()
    assert channel.sent == []
    assert texts(app).attempts == 0


def test_staff_allowing_more_this_month_lets_held_texts_go(
    app: App, channel: RecordingChannel
) -> None:
    held_text(app, channel)
    status = Budgets(app.sessions, app.clock).allow("default", segments=10, by="Dr Lee")
    assert (status.budget, status.allowed, status.used, status.held) == (BUDGET, 10, BUDGET, 1)
    clock = app.clock
    assert isinstance(clock, FixedClock)
    clock.advance(SWEEP)
    dispatcher(app, channel).dispatch_due()
    assert [o.kind for o in channel.sent] == [ChannelKind.SMS]
    text = texts(app)
    assert (text.state, text.held_for) == ("sent", None)
    [released] = [e for e in text.events if e.kind == "released"]
    assert released.detail == (
        "released: the SMS budget has room (100 of 110 segments used in 2026-11)"
    )
    # The decision is on the alert, acknowledged (the month was never warned at 80 %:
    # its use was set up directly, so the text sent now warns of 102 of 110).
    [alert] = [a for a in alerts(app) if a.acknowledged_at is not None]
    assert alert.acknowledged_by == "Dr Lee"
    assert "10 more segments allowed for 2026-11 by Dr Lee" in alert.detail
    with app.sessions() as session:
        row = session.get(SmsUsage, (app.clinic.id, "2026-11"))
        assert row is not None
        assert (row.allowed_segments, row.allowed_by) == (10, "Dr Lee")


def test_a_higher_budget_in_the_settings_lets_held_texts_go(
    app: App, channel: RecordingChannel
) -> None:
    held_text(app, channel)
    app.service.sync_clinic(
        app.settings.clinic.model_copy(update={"sms_monthly_segments": 2 * BUDGET})
    )
    clock = app.clock
    assert isinstance(clock, FixedClock)
    clock.advance(SWEEP)
    dispatcher(app, channel).dispatch_due()
    assert [o.kind for o in channel.sent] == [ChannelKind.SMS]


def test_a_held_text_whose_step_expires_is_skipped_and_the_alert_says_so(
    app: App, channel: RecordingChannel
) -> None:
    held_text(app, channel)
    clock = app.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(hours=4, seconds=1))
    dispatcher(app, channel).dispatch_due()
    assert channel.sent == []
    text = texts(app)
    assert (text.state, text.reason, text.held_for) == ("skipped", EXPIRED_HELD, None)
    [alert] = alerts(app)
    assert f"{EXPIRED_HELD}, never sent: avoid of treatment" in alert.detail
    # The all-clear, due now, waits over the budget in its turn.
    assert texts(app, "all_clear").held_for == "sms_budget"
    assert "1 text(s) held" in alerts(app)[0].detail


def test_a_new_month_in_the_clinic_s_zone_resets_the_count_and_held_texts_go(
    app: App, channel: RecordingChannel
) -> None:
    clock = app.clock
    assert isinstance(clock, FixedClock)
    clock.set(datetime(2026, 12, 1, 4, 30, tzinfo=UTC))  # 11:30 PM on 30 November in New York
    log(app)
    spend(app, BUDGET, month="2026-11")
    dispatcher(app, channel).dispatch_due()
    assert texts(app).held_for == "sms_budget"
    # December already in UTC, still November in New York: held.
    clock.set(datetime(2026, 12, 1, 4, 59, 59, tzinfo=UTC))
    dispatcher(app, channel).dispatch_due()
    assert channel.sent == []
    clock.set(datetime(2026, 12, 1, 5, 0, tzinfo=UTC))  # midnight in New York
    dispatcher(app, channel).dispatch_due()
    assert [o.kind for o in channel.sent] == [ChannelKind.SMS]
    assert texts(app).state == "sent"
    assert used(app, "2026-12") == sms_cost(channel.sent[0].body).segments
    assert used(app, "2026-11") == BUDGET


def test_a_clinic_without_a_budget_counts_nothing(
    tmp_path: Path, database_url: str, clock: FixedClock, channel: RecordingChannel
) -> None:
    application = build_app(make_settings(tmp_path, database_url), clock=clock)
    try:
        log(application)
        dispatcher(application, channel).dispatch_due()
        assert len(channel.sent) == 1
        with application.sessions() as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(SmsUsage)) == 0
    finally:
        application.close()
