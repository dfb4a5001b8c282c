"""The provider is down for a minute: nothing is lost, the backlog drains in due
order once it returns, and steps that went stale meanwhile are skipped."""

from __future__ import annotations

from datetime import timedelta

from reminders.bootstrap import App
from reminders.channels.base import Outgoing
from reminders.clock import FixedClock
from reminders.domain import MessageState
from reminders.errors import ChannelError
from tests.conftest import NOW
from tests.support import RecordingChannel, dispatcher, log


class FlakyProvider(RecordingChannel):
    """Refuses every send (transiently) while `down` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.refused = 0

    def send(self, outgoing: Outgoing) -> object:  # type: ignore[override]
        if self.down:
            self.refused += 1
            raise ChannelError("503 from provider", permanent=False)
        return super().send(outgoing)


def test_backlog_after_a_provider_outage_drains_in_due_order_and_loses_nothing(
    app: App, clock: FixedClock
) -> None:
    provider = FlakyProvider()
    worker = dispatcher(app, provider)  # type: ignore[arg-type]
    # Twelve treatments logged for the coming minute, five seconds apart.
    treatments = [
        log(app, at=NOW + timedelta(seconds=5 * i), phone=f"+1212555{100 + i:04d}")
        for i in range(12)
    ]
    provider.down = True
    for second in range(61):
        clock.set(NOW + timedelta(seconds=second))
        worker.dispatch_due()
    assert provider.sent == []
    provider.down = False
    for second in range(61, 121):
        clock.set(NOW + timedelta(seconds=second))
        worker.dispatch_due()

    avoid_ids = [
        next(
            m.id
            for m in app.service.treatment(app.clinic.id, t.id).messages
            if m.step_id == "avoid"
        )
        for t in treatments
    ]
    assert provider.sent_ids() == avoid_ids  # each once, in due order
    # An outage costs one attempt per pause, not one per queued message per tick.
    assert provider.refused < 15
    for treatment in treatments:
        avoid = next(
            m
            for m in app.service.treatment(app.clinic.id, treatment.id).messages
            if m.step_id == "avoid"
        )
        assert avoid.state == MessageState.SENT.value
        assert avoid.attempts <= 2


def test_steps_that_expire_during_the_outage_are_skipped_not_sent_late(
    app: App, clock: FixedClock
) -> None:
    provider = FlakyProvider()
    worker = dispatcher(app, provider)  # type: ignore[arg-type]
    # Logged 3 h 44 min after treatment: its avoid expires 16 minutes from now.
    treatment = log(app, at=NOW - timedelta(hours=3, minutes=44))
    other = log(app, at=NOW, phone="+12125550188")
    provider.down = True
    for second in range(0, 16 * 60, 5):
        clock.set(NOW + timedelta(seconds=second))
        worker.dispatch_due()
    provider.down = False
    for second in range(16 * 60, 18 * 60, 5):
        clock.set(NOW + timedelta(seconds=second))
        worker.dispatch_due()
    avoid = next(
        m
        for m in app.service.treatment(app.clinic.id, treatment.id).messages
        if m.step_id == "avoid"
    )
    assert avoid.state == MessageState.SKIPPED.value
    # Skipped at the first attempt with under the policy's 15 minutes left, as planning would.
    assert avoid.reason == (
        "only 14 minutes left when it could be sent, under the 15 minutes worth a message"
    )
    assert avoid.id not in provider.sent_ids()
    other_avoid = next(
        m for m in app.service.treatment(app.clinic.id, other.id).messages if m.step_id == "avoid"
    )
    all_clear = next(
        m
        for m in app.service.treatment(app.clinic.id, treatment.id).messages
        if m.step_id == "all_clear"
    )
    # The other patient's avoid, then the first patient's all-clear, due at 16 minutes.
    assert provider.sent_ids() == [other_avoid.id, all_clear.id]
