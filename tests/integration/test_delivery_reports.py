"""Delivery reports applied concurrently: two reports for one message, one kept early and
applied by a worker's housekeeping while the API applies another, never lose the newer one.

The interleaving is forced: while one transaction is about to write its report, another
report for the same message arrives in a thread. The message row is locked by the first,
so the second waits, then reads what the first wrote.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from reminders import inbound
from reminders.bootstrap import App
from reminders.db.models import EarlyDeliveryReport, Message
from reminders.inbound import ProviderReports, ReportOutcome
from tests.support import RecordingChannel, dispatcher, log

ApplyStatus = Callable[[Session, Message, str, str | None, datetime], bool]


def reports(app: App) -> ProviderReports:
    return ProviderReports(
        sessions=app.sessions, clock=app.clock, reroutes=app.reroutes, triage=app.triage
    )


@pytest.fixture
def sent_message(app: App) -> Message:
    log(app)
    dispatcher(app, RecordingChannel()).dispatch_due()
    with app.sessions() as session:
        message = session.scalars(sa.select(Message).where(Message.step_id == "avoid")).one()
    assert message.provider_id is not None
    return message


class Interleaving:
    """The first apply_status call lets a report for the same message race it."""

    def __init__(self, app: App, provider_id: str, status: str) -> None:
        self.app, self.provider_id, self.status = app, provider_id, status
        self.thread: threading.Thread | None = None
        self.outcome: ReportOutcome | None = None
        self.blocked = False

    def wrap(self, real: ApplyStatus) -> ApplyStatus:
        def apply(
            session: Session, message: Message, status: str, error: str | None, at: datetime
        ) -> bool:
            if self.thread is None:
                self.thread = threading.Thread(target=self._race)
                self.thread.start()
                self.thread.join(timeout=0.5)
                # It must wait for this transaction: it may not read the row before we write.
                self.blocked = self.thread.is_alive()
            return real(session, message, status, error, at)

        return apply

    def _race(self) -> None:
        self.outcome = reports(self.app).delivery_status(
            provider_id=self.provider_id, status=self.status, error_code=None
        )

    def finish(self) -> None:
        assert self.thread is not None, "no report raced"
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


@pytest.fixture
def interleaving(app: App, sent_message: Message, monkeypatch: pytest.MonkeyPatch) -> Interleaving:
    assert sent_message.provider_id is not None
    race = Interleaving(app, sent_message.provider_id, "delivered")
    monkeypatch.setattr(inbound, "apply_status", race.wrap(inbound.apply_status))
    return race


def history(app: App, message_id: int) -> list[str | None]:
    with app.sessions() as session:
        message = session.get(Message, message_id)
        assert message is not None
        return [e.detail for e in message.events if e.kind == "delivery"]


def status(app: App, message_id: int) -> str | None:
    with app.sessions() as session:
        message = session.get(Message, message_id)
        assert message is not None
        return message.delivery_status


def test_two_reports_for_one_message_at_once_keep_the_newer(
    app: App, sent_message: Message, interleaving: Interleaving
) -> None:
    assert sent_message.provider_id is not None
    first = reports(app).delivery_status(
        provider_id=sent_message.provider_id, status="sent", error_code=None
    )
    interleaving.finish()
    assert interleaving.blocked
    assert (first, interleaving.outcome) == (ReportOutcome.APPLIED, ReportOutcome.APPLIED)
    assert status(app, sent_message.id) == "delivered"
    assert history(app, sent_message.id) == ["sent", "delivered"]


def test_a_kept_report_applied_by_housekeeping_does_not_undo_one_the_api_applies_meanwhile(
    app: App, sent_message: Message, interleaving: Interleaving
) -> None:
    with app.sessions.begin() as session:
        session.add(
            EarlyDeliveryReport(
                provider_id=sent_message.provider_id,
                status="sent",
                error_code=None,
                received_at=app.clock.now(),
            )
        )
    with app.sessions.begin() as session:
        applied, dropped = inbound.apply_early_reports(session, now=app.clock.now())
    interleaving.finish()
    assert interleaving.blocked
    assert (applied, dropped) == (1, 0)
    assert interleaving.outcome == ReportOutcome.APPLIED
    assert status(app, sent_message.id) == "delivered"
    assert history(app, sent_message.id) == ["sent", "delivered"]
    with app.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(EarlyDeliveryReport)) == 0
