"""Claim-then-send: the worker's one pass over due messages.

A message moves pending -> sending in one conditional UPDATE (the claim) that
is committed before any provider is called, so a second worker or a restart
cannot pick it up while this one holds it. Each outcome is written fenced by
the claim token. The window no database can close: a worker that dies after
the provider accepted a message but before its outcome commits leaves the
claim to expire, and the message is sent again (at-least-once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from reminders import delivery
from reminders.breaker import ChannelBreaker
from reminders.channels.base import ChannelRegistry, Outgoing
from reminders.clock import Clock
from reminders.db import claims, repo
from reminders.db.claims import ClaimedMessage
from reminders.db.models import Message
from reminders.domain import ChannelKind, EventKind, MessageState
from reminders.errors import ChannelError
from reminders.policies import PolicySet
from reminders.retry import RetryPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")
# How long one slice's provider calls may take: bounds the crash window (sent
# but not yet recorded) to about this, whatever the provider's speed.
SLICE_SECONDS = 0.05
# How long one claim's sends may take: workers sharing a backlog take it in
# pieces of about this, so a slow provider does not leave one worker holding
# what the others could be sending.
CLAIM_SECONDS = 1.0
# The first claim of a worker, before it knows how fast its provider is.
FIRST_CLAIM = 10
# Housekeeping (expired leases, expired steps) runs at most this often, by the
# service's clock: a pass at a steady rate is then one claim.
SWEEP_INTERVAL = timedelta(seconds=1)


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    recovered: int = 0
    released: int = 0
    lost_claims: int = 0
    sent_ids: list[int] = field(default_factory=list)

    def merge(self, other: DispatchReport) -> None:
        for name in (
            "sent",
            "retried",
            EventKind.FAILED,
            EventKind.SKIPPED,
            "recovered",
            EventKind.RELEASED,
            "lost_claims",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.sent_ids += other.sent_ids


class Dispatcher:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Clock,
        channels: ChannelRegistry,
        retry: RetryPolicy,
        worker_id: str,
        policies: PolicySet | None = None,
        batch_size: int = 100,
        lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.channels = channels
        self.retry = retry
        self.worker_id = worker_id
        self.policies = policies or PolicySet({})
        self.batch_size = batch_size
        self.lease = lease
        self.breaker = ChannelBreaker()
        self._slice = 1  # messages per slice; grows while the provider is fast
        self._claim = min(batch_size, FIRST_CLAIM)  # messages per claim, likewise
        self._last_sweep: datetime | None = None
        self._pass_finished = True  # stays False if a pass is cut short by an error

    def dispatch_due(self, stopping: Callable[[], bool] = lambda: False) -> DispatchReport:
        """Send everything due now, batch by batch, until nothing is due or we are stopping."""
        report = DispatchReport()
        now = self.clock.now()
        interrupted = not self._pass_finished
        self._pass_finished = False
        last = self._last_sweep
        if interrupted or last is None or not last <= now < last + SWEEP_INTERVAL:
            with self.sessions.begin() as session:
                # Claims this worker still holds but never started were stranded by
                # an error in an earlier pass: hand them back now, not after the lease.
                report.released = len(
                    repo.release_unstarted(session, worker=self.worker_id, now=now)
                )
                report.recovered = len(repo.recover_expired_leases(session, now=now))
                report.skipped = len(repo.skip_expired(session, now=now))
            self._last_sweep = now
        while not stopping():
            batch, full = self._dispatch_batch(stopping)
            report.merge(batch)
            # A claim that was not full took everything due; unless an outcome
            # planned more (an email instead of a refused text), the pass is done.
            if not full and batch.failed + batch.skipped == 0:
                break
        self._pass_finished = True
        return report

    def next_wake(self) -> datetime | None:
        """When there is next something to do: a message due on a channel that is not
        paused, a paused channel resuming, or a lease to recover."""
        now = self.clock.now()
        with self.sessions() as session:
            times = [
                repo.next_send_after(session, exclude=self._paused(now)),
                repo.next_lease_expiry(session),
                self.breaker.resumes_at(now),
            ]
        known = [t for t in times if t is not None]
        return min(known) if known else None

    def _paused(self, now: datetime) -> list[str]:
        return sorted(kind.value for kind in self.breaker.paused_kinds(now))

    def _dispatch_batch(self, stopping: Callable[[], bool]) -> tuple[DispatchReport, bool]:
        """Claim and send one batch; also says whether the claim was full (more may be due)."""
        report = DispatchReport()
        now = self.clock.now()
        limit = self._claim
        with self.sessions.begin() as session:
            claim = claims.claim_due(
                session,
                now=now,
                worker=self.worker_id,
                lease=self.lease,
                limit=limit,
                exclude=self._paused(now),
            )
        queue = list(claim.messages)
        while queue:
            if stopping():
                for message in queue:
                    self._release(message, claim.token, report, "worker stopping before sending")
                break
            chunk, queue = queue[: self._slice], queue[self._slice :]
            self._send_slice(chunk, claim.token, report, stopping)
        return report, len(claim.messages) == limit

    def _send_slice(
        self,
        messages: list[ClaimedMessage],
        token: str,
        report: DispatchReport,
        stopping: Callable[[], bool],
    ) -> None:
        """Send a few claimed messages: checks, one commit marking them handed over,
        the provider calls, one commit recording what was sent.

        The slice is sized so its provider calls take about SLICE_SECONDS: for a
        slow provider that is one message (the crash window stays one send), for
        a fast one a whole batch (two commits instead of two per message).
        """
        ready = [
            m
            for m in messages
            if self._may_go(
                m,
                token,
                report,
                delivery.sms_block_reason(m) if m.channel is ChannelKind.SMS else None,
            )
        ]
        handed = self._with_database(
            lambda session: claims.start_sends(
                session,
                ids=[m.id for m in ready],
                token=token,
                now=self.clock.now(),
                lease=self.lease,
            )
        )
        sent: list[tuple[ClaimedMessage, str, datetime]] = []
        not_called: list[ClaimedMessage] = []
        started = time.monotonic()
        for message in ready:
            if message.id not in handed:
                report.lost_claims += 1  # cancelled (or taken over) after we claimed it
            elif stopping():
                not_called.append(message)
            elif self._may_go(message, token, report, None):
                self._call_provider(message, token, report, sent)
        self._resize_slice(time.monotonic() - started, len(ready))
        self._record_sent(sent, token, report)
        for message in not_called:
            # Marked as started, but the provider was never called: safe to hand back.
            self._release(message, token, report, "worker stopping before sending")

    def _may_go(
        self, message: ClaimedMessage, token: str, report: DispatchReport, blocked: str | None
    ) -> bool:
        """Checks made against the clock just before sending; settles what must not go."""
        # The clock is read per message, not per batch: a step that expires
        # while earlier messages are being sent must not go out.
        now = self.clock.now()
        if self.breaker.paused(message.channel, now):
            self._release(message, token, report, "provider paused after errors")
            return False
        if message.not_before is not None and now < message.not_before:
            # Never early: an all-clear waits for its restriction to end.
            self._release(
                message,
                token,
                report,
                "not before the restriction ends",
                send_after=message.not_before,
            )
            return False
        if message.expires_at is not None and now >= message.expires_at:
            why = "expired before it could be sent (the restriction or its usefulness ended)"
            self._settle(
                message, token, report, MessageState.SKIPPED, EventKind.SKIPPED, why, reason=why
            )
            return False
        if blocked:
            # Consent and opt-outs are checked now, not only when the message was planned.
            self._settle(
                message,
                token,
                report,
                MessageState.SKIPPED,
                EventKind.SKIPPED,
                blocked,
                reason=blocked,
                then=self._fallback(message, blocked),
            )
            return False
        return True

    def _call_provider(
        self,
        message: ClaimedMessage,
        token: str,
        report: DispatchReport,
        sent: list[tuple[ClaimedMessage, str, datetime]],
    ) -> None:
        kind = message.channel
        try:
            receipt = self.channels.for_kind(kind).send(_outgoing(message))
        except ChannelError as exc:
            self._provider_refused(message, token, report, exc)
            return
        self.breaker.succeeded(kind)
        sent.append((message, receipt.provider_id, self.clock.now()))

    def _record_sent(
        self,
        sent: list[tuple[ClaimedMessage, str, datetime]],
        token: str,
        report: DispatchReport,
    ) -> None:
        if not sent:
            return

        rows = [(message.id, provider_id, sent_at) for message, provider_id, sent_at in sent]
        recorded = self._with_database(
            lambda session: claims.settle_sent(
                session, token=token, sent=rows, worker=self.worker_id
            )
        )
        logging_sends = log.isEnabledFor(logging.INFO)
        for message, _, _ in sent:
            if message.id in recorded:
                report.sent += 1
                report.sent_ids.append(message.id)
                if logging_sends:
                    log.info(
                        "message sent",
                        extra={"message_id": message.id, "clinic_id": message.clinic_id},
                    )
            else:
                report.lost_claims += 1
                log.warning(
                    "claim lost before outcome was recorded",
                    extra={"message_id": message.id, "outcome": "sent"},
                )

    def _resize_slice(self, seconds: float, count: int) -> None:
        if count == 0:
            return
        per_send = seconds / count
        self._slice = self._fitting(SLICE_SECONDS, per_send, at_least=1)
        self._claim = self._fitting(CLAIM_SECONDS, per_send, at_least=self._slice)

    def _fitting(self, seconds: float, per_send: float, *, at_least: int) -> int:
        fits = int(seconds / per_send) if per_send > 0 else self.batch_size
        return max(at_least, min(self.batch_size, fits))

    def _provider_refused(
        self, message: ClaimedMessage, token: str, report: DispatchReport, exc: ChannelError
    ) -> None:
        kind = message.channel
        now = self.clock.now()
        if not exc.permanent:
            outage = self.breaker.failed(
                kind, now, message_id=message.id, retry_after=exc.retry_after
            )
            if outage:
                # The provider is down, not this message: it keeps its place
                # and its attempts, and waits for the channel to resume.
                self._release(message, token, report, f"provider unavailable: {exc}")
                return
            self._failed_attempt(message, token, report, exc)
            return
        then: Callable[[Session], object] | None = None
        if exc.opted_out:
            source = f"provider error {exc.code}" if exc.code else "provider"

            def then(session: Session) -> object:
                row = _message_row(session, message)
                delivery.record_opt_out(session, row, source=source, now=now)
                # STOP ends texts, not aftercare: email this step if the clinic allows.
                return delivery.email_fallback(
                    session, row, policies=self.policies, now=now, why=str(exc)
                )

        elif exc.bad_recipient and kind is ChannelKind.SMS:
            then = self._fallback(message, str(exc))
        self._settle(
            message,
            token,
            report,
            MessageState.FAILED,
            EventKind.FAILED,
            str(exc),
            last_error=str(exc),
            reason=str(exc),
            then=then,
        )

    def _fallback(self, message: ClaimedMessage, why: str) -> Callable[[Session], object]:
        def plan_email(session: Session) -> object:
            return delivery.email_fallback(
                session,
                _message_row(session, message),
                policies=self.policies,
                now=self.clock.now(),
                why=why,
            )

        return plan_email

    def _with_database(self, work: Callable[[Session], T]) -> T:
        """Run one transaction for a claimed message, riding out a short database outage.

        Giving up while the claim still holds would strand the message until
        its lease expires (and, after a send, have it sent again): waiting is
        the cheaper way. Every write here is fenced by the claim token, so
        running it again is safe.
        """
        deadline = time.monotonic() + self.lease.total_seconds() / 2
        delay = 0.25
        while True:
            try:
                with self.sessions.begin() as session:
                    return work(session)
            except DBAPIError as exc:
                transient = isinstance(exc, OperationalError) or exc.connection_invalidated
                if not transient or time.monotonic() + delay > deadline:
                    raise
                log.warning("database unavailable; retrying", extra={"delay": delay})
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _failed_attempt(
        self, message: ClaimedMessage, token: str, report: DispatchReport, exc: ChannelError
    ) -> None:
        error = str(exc)
        now = self.clock.now()
        if exc.permanent or not self.retry.should_retry(message.attempts):
            why = error if exc.permanent else f"gave up after {message.attempts} attempts: {error}"
            self._settle(
                message,
                token,
                report,
                MessageState.FAILED,
                EventKind.FAILED,
                why,
                last_error=error,
                reason=why,
            )
            return
        next_try = now + self.retry.delay(message.attempts, retry_after=exc.retry_after)
        if message.expires_at is not None and next_try >= message.expires_at:
            why = f"expired before it could be retried; last error: {error}"
            self._settle(
                message,
                token,
                report,
                MessageState.SKIPPED,
                EventKind.SKIPPED,
                why,
                last_error=error,
                reason=why,
            )
            return
        self._settle(
            message,
            token,
            report,
            MessageState.PENDING,
            EventKind.RETRY_SCHEDULED,
            f"{error}; next attempt at {next_try.isoformat(timespec='seconds')}",
            last_error=error,
            send_after=next_try,
        )

    def _release(
        self,
        message: ClaimedMessage,
        token: str,
        report: DispatchReport,
        why: str,
        **values: Any,
    ) -> None:
        """Hand back a claim unused, without waiting for the lease; the attempt does not count."""
        self._settle(
            message,
            token,
            report,
            MessageState.PENDING,
            EventKind.RELEASED,
            why,
            attempts=message.attempts - 1,
            **values,
        )

    def _settle(
        self,
        message: ClaimedMessage,
        token: str,
        report: DispatchReport,
        state: MessageState,
        event: EventKind,
        detail: str | None,
        then: Callable[[Session], object] | None = None,
        **values: object,
    ) -> None:
        """Record the outcome, fenced by the claim, and its consequences in one transaction."""

        def write(session: Session) -> bool:
            settled = claims.settle(
                session,
                message_id=message.id,
                token=token,
                now=self.clock.now(),
                state=state,
                event=event,
                detail=detail,
                worker=self.worker_id,
                **values,
            )
            if settled and then is not None:
                then(session)
            return settled

        ok = self._with_database(write)
        if not ok:
            report.lost_claims += 1
            log.warning(
                "claim lost before outcome was recorded",
                extra={"message_id": message.id, "outcome": event},
            )
            return
        counter = {
            "sent": "sent",
            "skipped": "skipped",
            "failed": "failed",
            "retry_scheduled": "retried",
            "released": "released",
        }[event]
        setattr(report, counter, getattr(report, counter) + 1)
        if event == "sent":
            report.sent_ids.append(message.id)
        log.info(
            "message %s",
            event,
            extra={"message_id": message.id, "clinic_id": message.clinic_id, "state": state.value},
        )


def _message_row(session: Session, message: ClaimedMessage) -> Message:
    """The full row, for the rare outcomes that plan or cancel other messages."""
    row = session.get(Message, message.id)
    assert row is not None  # messages are never deleted
    return row


def _outgoing(message: ClaimedMessage) -> Outgoing:
    kind = message.channel
    to = message.phone if kind is ChannelKind.SMS else message.email
    if not to:
        raise ChannelError(
            f"patient has no {'phone' if kind is ChannelKind.SMS else 'email'}", permanent=True
        )
    return Outgoing(
        message_id=message.id,
        kind=kind,
        to=to,
        subject=message.subject,
        body=message.body,
        clinic_id=message.clinic_id,
        sms_from=message.sms_from,
        messaging_service_sid=message.messaging_service_sid,
    )
