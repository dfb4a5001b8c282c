"""The worker process: APScheduler wakes the dispatcher at the next due instant.

Messages live in our table, not in APScheduler's job store (a persistent job
store cannot be shared by several processes). The scheduler holds two jobs:
`wake`, a one-shot date job moved to the next due instant after every pass,
and `poll`, a short interval job that notices expired claims, and work other
processes added where nothing told us (SQLite). New work wakes it at once: a
one-shot `rung` job, added when this process commits new messages (its `Bell`)
or when another process does (`reminders.db.wakeups`).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import Engine

from reminders.db.wakeups import Bell, listener_for
from reminders.dispatch import Dispatcher, DispatchReport
from reminders.on_call import OnCallSender

log = logging.getLogger(__name__)


# Housekeeping that is not about sending (removing contact details past their
# retention): hourly is soon enough, and cheap when there is nothing to do.
CHORE_INTERVAL = 3600


def _logged(chore: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            chore()
        except Exception:
            log.exception("housekeeping failed; will retry within the hour")

    return run


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        poll_interval: float,
        bell: Bell | None = None,
        listen: Engine | None = None,
        on_call: OnCallSender | None = None,
        chores: Sequence[Callable[[], object]] = (),
    ) -> None:
        self.dispatcher = dispatcher
        self.on_call = on_call
        self.chores = chores
        self.poll_interval = poll_interval
        self._bell = bell
        self._unsubscribe: Callable[[], None] | None = None
        self._listener = listener_for(listen, self.wake) if listen is not None else None
        self._stopping = threading.Event()
        self._tick_lock = threading.Lock()
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )

    def tick(self) -> DispatchReport:
        """One pass: send the on-call alerts due; recover, skip the expired, send what is
        due; then set the next wake."""
        with self._tick_lock:
            # On-call alerts first: a pass through a backlog of messages can take a while,
            # and an alert may be an emergency.
            if self.on_call is not None and not self._stopping.is_set():
                self.on_call.send_due()
            report = self.dispatcher.dispatch_due(stopping=self._stopping.is_set)
            if report.sent or report.failed or report.skipped or report.recovered:
                log.info(
                    "dispatch pass",
                    extra={
                        "sent": report.sent,
                        "failed": report.failed,
                        "skipped": report.skipped,
                        "recovered": report.recovered,
                    },
                )
            if not self._stopping.is_set():
                self._schedule_wake(self._next_wake())
            return report

    def _next_wake(self) -> datetime | None:
        times = [self.dispatcher.next_wake()]
        if self.on_call is not None:
            times.append(self.on_call.next_wake())
        known = [t for t in times if t is not None]
        return min(known) if known else None

    def _schedule_wake(self, at: datetime | None) -> None:
        if at is None or not self._scheduler.running:
            return
        self._scheduler.add_job(
            self._safe_tick, DateTrigger(run_date=at), id="wake", replace_existing=True
        )

    def wake(self) -> None:
        """Run a pass now: new messages were committed.

        At most one pass waits behind the one running: a wake during a pass is
        answered by the next one, which reads the database after it.
        """
        if self._stopping.is_set():
            return
        # Not started yet (its first pass is still to come) or stopped: nothing to wake.
        with suppress(SchedulerNotRunningError):
            self._scheduler.add_job(
                self._safe_tick, id="rung", replace_existing=True, max_instances=2
            )

    def _safe_tick(self) -> None:
        # A database hiccup must not kill the scheduler thread: the poll retries.
        try:
            self.tick()
        except Exception:
            log.exception("dispatch pass failed; will retry on the next poll")

    def start(self) -> None:
        self._add_jobs()
        self._scheduler.start()
        if self._bell is not None:
            self._unsubscribe = self._bell.subscribe(self.wake)
        if self._listener is not None:
            self._listener.start()

    def _add_jobs(self) -> None:
        self._scheduler.add_job(
            self._safe_tick,
            "interval",
            seconds=self.poll_interval,
            id="poll",
            next_run_time=self.dispatcher.clock.now(),
        )
        for number, chore in enumerate(self.chores):
            self._scheduler.add_job(
                _logged(chore), "interval", seconds=CHORE_INTERVAL, id=f"chore-{number}"
            )

    def stop(self) -> None:
        """Stop claiming, let the in-flight send finish and be recorded, hand back the rest."""
        self._stopping.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._listener is not None:
            self._listener.stop()
        # Let a pass already past its stopping check finish first: APScheduler's shutdown
        # holds its job store lock while it joins the pass's thread, so a pass scheduling
        # its next wake (which takes that lock) would otherwise wait for ever.
        with self._tick_lock:
            pass
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def run_until_signalled(self) -> None:
        done = threading.Event()

        def _on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("stopping on signal", extra={"signal": signum})
            done.set()

        previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        self.start()
        try:
            done.wait()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
