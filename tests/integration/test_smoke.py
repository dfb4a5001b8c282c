from __future__ import annotations

from datetime import timedelta

from reminders.bootstrap import App
from reminders.clock import FixedClock
from tests.support import RecordingChannel, dispatcher, log


def test_logged_treatment_sends_avoid_now_and_all_clear_after_restriction(
    app: App, clock: FixedClock, channel: RecordingChannel
) -> None:
    treatment = log(app)
    worker = dispatcher(app, channel)
    assert worker.dispatch_due().sent == 1
    clock.advance(timedelta(hours=4) - timedelta(seconds=1))
    assert worker.dispatch_due().sent == 0
    clock.advance(timedelta(seconds=1))
    assert worker.dispatch_due().sent == 1
    steps = {m.id: m.step_id for m in app.service.treatment(app.clinic.id, treatment.id).messages}
    assert [steps[i] for i in channel.sent_ids()] == ["avoid", "all_clear"]
