"""Claim-then-send: the worker's one pass over due messages.

A message moves pending -> sending in one conditional UPDATE (the claim) that
is committed before any provider is called, so a second worker or a restart
cannot pick it up while this one holds it. Each outcome is written fenced by
the claim token. The window no database can close: a worker that dies after
the provider accepted a message but before its outcome commits leaves the
claim to expire. Such a message, and one whose call ended in a 5xx or a
timeout, is marked uncertain; before it is sent again the provider is asked
whether it holds it (`decisions.after_lookup`), where the channel can be asked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from reminders import inbound, metrics, reroute, spend, test_mode
from reminders.breaker import ChannelBreaker
from reminders.channels.base import ChannelRegistry, Outgoing
from reminders.clinic_rules import ClinicRulesCache
from reminders.clinics import ClinicProfiles
from reminders.clock import Clock
from reminders.db import claims, repo
from reminders.db.claims import ClaimedMessage, SentMessage
from reminders.db.models import Clinic
from reminders.decisions import (
    Adopt,
    Fail,
    Hold,
    OverBudget,
    Reroute,
    Retry,
    Send,
    SendAgain,
    SendContext,
    Skip,
    Unknown,
    Wait,
    after_lookup,
    after_refusal,
    before_send,
)
from reminders.domain import ChannelKind, EventKind, MessageState
from reminders.durations import parse_duration
from reminders.errors import ChannelError, FaultScope
from reminders.lookups import look_up
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
# Housekeeping (expired leases, expired steps, early delivery reports) runs at
# most this often, by the service's clock: a pass at a steady rate is then one claim.
SWEEP_INTERVAL = timedelta(seconds=1)
# Send contexts kept (a few per clinic); the cache starts over when full.
MAX_CONTEXTS = 1024


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    held: int = 0
    recovered: int = 0
    released: int = 0
    lost_claims: int = 0
    reconciled: int = 0  # uncertain sends settled by asking the provider: found, or not
    sent_ids: list[int] = field(default_factory=list)

    def merge(self, other: DispatchReport) -> None:
        for name in (
            "sent",
            "retried",
            "failed",
            "skipped",
            "held",
            "recovered",
            "released",
            "lost_claims",
            "reconciled",
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
        self.profiles = ClinicProfiles()
        # Its own profiles: rerouting reads clinic rows, versioned as times, not as text.
        self._reroutes = reroute.Reroutes(self.policies, ClinicProfiles())
        self._contexts: dict[tuple[object, ...], SendContext] = {}
        self.spend = spend.SpendGuard(sessions, ClinicRulesCache(self._clinic))
        # Channels that may be recorded as waiting for their settings to be fixed: all of
        # them at start (a problem recorded before a restart), then those this worker
        # recorded. The first send that works on one clears its record.
        self._waiting_channels: set[ChannelKind] = set(ChannelKind)
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
                report.skipped = spend.sweep(session, now=now)  # texts held over budget
                report.skipped += len(repo.skip_expired(session, now=now))
                metrics.housekeeping(recovered=report.recovered, expired=report.skipped)
                # Delivery reports that came before their send was recorded.
                inbound.apply_early_reports(session, now=now)
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
        metrics.CLAIMS.inc(len(queue))
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
        """Send a few claimed messages: one commit marking them handed over, then for each
        the send-time decision and the provider call, then one commit recording what
        was sent.

        The slice is sized so its provider calls take about SLICE_SECONDS: for a
        slow provider that is one message (the crash window stays one send), for
        a fast one a whole batch (two commits instead of two per message).
        """
        begun = self.clock.now()
        self.spend.new_slice()
        handed = self._with_database(
            lambda session: claims.start_sends(
                session,
                ids=[m.id for m in messages],
                token=token,
                now=begun,
                lease=self.lease,
            )
        )
        sent: list[SentMessage] = []
        delivered: list[int] = []  # by channels that deliver as they send
        not_called: list[ClaimedMessage] = []
        started = time.monotonic()
        for message in messages:
            if message.id not in handed:
                report.lost_claims += 1  # cancelled (or taken over) after we claimed it
            elif stopping():
                not_called.append(message)
            else:
                # Decided just before the call, on the clock read now: a step that
                # expires while earlier messages are being sent does not go out.
                decided = self._decide(message, token, report)
                if decided is not None:
                    self._call_provider(message, decided, begun, token, report, sent, delivered)
        self._resize_slice(time.monotonic() - started, len(messages))
        recorded = self._record_sent(sent, token, report)
        _count_sent(messages, sent, recorded)
        if delivered:
            self._with_database(
                lambda session: inbound.delivered_as_sent(
                    session, message_ids=delivered, now=self.clock.now()
                )
            )
        for message in not_called:
            # Marked as started, but the provider was never called: safe to hand back.
            self._release(message, token, report, "worker stopping before sending")

    def _decide(
        self, message: ClaimedMessage, token: str, report: DispatchReport
    ) -> tuple[Send, str | None] | None:
        """The send-time decision for one message, read against the clock now; settles
        whatever is not to be sent now and returns what is, with why an uncertain
        earlier call of it is not in the way (not found at the provider)."""
        now = self.clock.now()
        if self.breaker.paused(message.channel, now):
            self._release(message, token, report, "provider paused after errors")
            return None
        reconciled = None
        if message.uncertain_since is not None:
            again = self._reconcile(message, token, report, now)
            if again is None:
                return None
            reconciled = again.why
        context = self.spend.context(message, self._context(message), now)
        decision = before_send(message, now=now, context=context)
        if isinstance(decision, Send):
            self.spend.note_send(message, decision, context)
            return decision, reconciled
        if reconciled is not None and not self._start_attempt(
            message, token, report, None, f"{reconciled}; not sent again now"
        ):
            return None
        self._not_now(message, token, report, decision)
        return None

    def _not_now(
        self,
        message: ClaimedMessage,
        token: str,
        report: DispatchReport,
        decision: Hold | Skip | Reroute | Fail | OverBudget,
    ) -> None:
        """Settle a claimed message that is not to be sent now, as `decision` says."""
        if isinstance(decision, Hold):
            self._hold(message, token, report, decision)
        elif isinstance(decision, Skip):
            self._skip(message, token, report, decision.why)
        elif isinstance(decision, Fail):
            self._settle(
                message,
                token,
                report,
                MessageState.FAILED,
                EventKind.FAILED,
                decision.why,
                reason=decision.why,
            )
        elif isinstance(decision, OverBudget):
            then = self.spend.over_budget(message, decision, self._stop_texts, self.clock.now())
            self._settle(
                message, token, report, then.state, then.event, then.why, then.then, **then.values
            )
        else:
            # Consent and opt-outs are checked now, not only when the message was planned.
            self._skip(
                message,
                token,
                report,
                decision.why,
                then=self._stop_texts(message, decision.why, patient=True),
            )

    def _taken_by_another(self, message: ClaimedMessage) -> Callable[[str], bool]:
        """Whether another message already carries a provider id: not this one's to adopt."""

        def taken(provider_id: str) -> bool:
            with self.sessions() as session:
                holder = repo.message_by_provider_id(session, provider_id=provider_id)
            return holder is not None and holder.id != message.id

        return taken

    def _reconcile(
        self, message: ClaimedMessage, token: str, report: DispatchReport, now: datetime
    ) -> SendAgain | None:
        """Ask the provider about an uncertain earlier call and act on the answer; what is
        returned is to be decided and sent afresh."""
        since = message.uncertain_since
        assert since is not None
        assert message.uncertain_body is not None
        channel = self.channels.lookup_for(message.channel)
        asked = Send(message.subject, message.uncertain_body, None)
        outcome = after_lookup(
            look_up(
                channel, message, self._outgoing(message, asked)[0], self._taken_by_another(message)
            )
            if channel
            else None,
            since=since,
            now=now,
            lag=channel.listing_lag if channel else timedelta(0),
            retry_at=now + self.retry.delay(message.attempts),
            expires_at=message.expires_at,
            attempts=message.attempts,
            max_attempts=self.retry.max_attempts,
        )
        if isinstance(outcome, SendAgain):
            report.reconciled += 1
            metrics.RECONCILIATIONS.labels("not_found").inc()
            return outcome
        if isinstance(outcome, Adopt):
            self._adopt(message, token, report, outcome)
        else:
            self._not_now(message, token, report, outcome)
        return None

    def _adopt(
        self, message: ClaimedMessage, token: str, report: DispatchReport, adopt: Adopt
    ) -> None:
        adopted = self._with_database(
            lambda session: claims.settle_adopted(
                session,
                message=message,
                token=token,
                now=self.clock.now(),
                provider_id=adopt.provider_id,
                detail=adopt.why,
                worker=self.worker_id,
            )
        )
        if not adopted:
            report.lost_claims += 1
            return
        report.reconciled += 1
        metrics.RECONCILIATIONS.labels("found").inc()
        log.info("message found at the provider", extra={"message_id": message.id})

    def _start_attempt(
        self,
        message: ClaimedMessage,
        token: str,
        report: DispatchReport,
        body: str | None,
        reconciled: str | None,
    ) -> bool:
        """Record what must be known should this worker die during the call: the text
        written anew, and that an uncertain earlier call was not found."""
        started = self._with_database(
            lambda session: claims.start_attempt(
                session,
                message_id=message.id,
                token=token,
                now=self.clock.now(),
                body=body,
                reconciled=reconciled,
                worker=self.worker_id,
            )
        )
        if not started:
            report.lost_claims += 1
        return started

    def _hold(
        self, message: ClaimedMessage, token: str, report: DispatchReport, hold: Hold
    ) -> None:
        self._settle(
            message,
            token,
            report,
            MessageState.PENDING,
            EventKind.HELD,
            hold.why,
            attempts=message.attempts - 1,
            send_after=hold.until,
            expires_at=hold.expires_at,
        )

    def _context(self, message: ClaimedMessage) -> SendContext:
        # Messages of one clinic, treatment type, zone and restriction share their
        # context: one dictionary look-up per message at burst rates.
        key = (
            message.clinic_id,
            message.clinic_updated_at,
            message.treatment_type,
            message.patient_timezone,
            message.restriction,
        )
        context = self._contexts.get(key)
        if context is None:
            clinic = self.profiles.get(
                message.clinic_id,
                message.clinic_updated_at,
                lambda: self._clinic(message.clinic_id),
            )
            zone = ZoneInfo(message.patient_timezone) if message.patient_timezone else None
            context = SendContext(
                clinic,
                self.policies.get(message.treatment_type),
                zone or clinic.timezone,
                parse_duration(message.restriction),
            )
            if len(self._contexts) >= MAX_CONTEXTS:
                self._contexts.clear()
            self._contexts[key] = context
        return context

    def _outgoing(self, message: ClaimedMessage, send: Send) -> tuple[Outgoing, str | None]:
        rules = self.spend.rules(message)
        return test_mode.redirect(rules, _outgoing(message, send))

    def _clinic(self, clinic_id: int) -> Clinic:
        with self.sessions() as session:
            clinic = session.get(Clinic, clinic_id)
        assert clinic is not None  # a message's clinic is never deleted
        return clinic

    def _call_provider(
        self,
        message: ClaimedMessage,
        decided: tuple[Send, str | None],
        begun: datetime,
        token: str,
        report: DispatchReport,
        sent: list[SentMessage],
        delivered: list[int],
    ) -> None:
        send, reconciled = decided
        again = f"{reconciled}; sending again" if reconciled else None
        rewritten = send.body if send.rewritten is not None else None
        if (rewritten or again) and not self._start_attempt(
            message, token, report, rewritten, again
        ):
            return
        kind = message.channel
        called = time.monotonic()
        try:
            outgoing, redirected = self._outgoing(message, send)
            receipt = self.channels.for_kind(kind).send(outgoing)
        except ChannelError as exc:
            metrics.provider_call(kind.value, time.monotonic() - called, ok=False)
            self._provider_refused(message, token, report, exc, (send, begun))
            return
        metrics.provider_call(kind.value, time.monotonic() - called, ok=True)
        self.breaker.succeeded(kind)
        if kind in self._waiting_channels:
            self._channel_works(kind)
        if receipt.delivered:
            delivered.append(message.id)
        anew = send.rewritten is not None
        sent.append(
            SentMessage(
                message.id,
                receipt.provider_id,
                self.clock.now(),
                send.subject if anew else None,
                send.body if anew else None,
                "; ".join(filter(None, (send.rewritten, redirected))) or None,
            )
        )

    def _record_sent(
        self,
        sent: list[SentMessage],
        token: str,
        report: DispatchReport,
    ) -> set[int]:
        """Record the slice's sends; returns the ids recorded (a lost claim's are not)."""
        if not sent:
            return set()
        recorded = self._with_database(
            lambda session: self.spend.record(
                session,
                claims.settle_sent(session, token=token, sent=sent, worker=self.worker_id),
                self.clock.now(),
            )
        )
        logging_sends = log.isEnabledFor(logging.INFO)
        for message in sent:
            message_id = message.message_id
            if message_id in recorded:
                report.sent += 1
                report.sent_ids.append(message_id)
                if logging_sends:
                    log.info("message sent", extra={"message_id": message_id})
            else:
                report.lost_claims += 1
                log.warning(
                    "claim lost before outcome was recorded",
                    extra={"message_id": message_id, "outcome": "sent"},
                )
        return set(recorded)

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
        self,
        message: ClaimedMessage,
        token: str,
        report: DispatchReport,
        exc: ChannelError,
        call: tuple[Send, datetime],
    ) -> None:
        """What a failed call means; `call` is what it sent and when it began."""
        kind = message.channel
        now = self.clock.now()
        outage = False
        retry_at = now + self.retry.delay(message.attempts, retry_after=exc.retry_after)
        if not exc.permanent and exc.scope is not FaultScope.MESSAGE:
            # One recipient's temporary refusal says nothing of the channel: no pause.
            outage = self.breaker.failed(
                kind, now, message_id=message.id, retry_after=exc.retry_after
            )
        outcome = after_refusal(
            exc,
            channel=kind,
            attempts=message.attempts,
            max_attempts=self.retry.max_attempts,
            retry_at=retry_at,
            expires_at=message.expires_at,
            outage=outage,
            look_at=self._look_at(kind, call[1], retry_at),
        )
        error = str(exc)
        if isinstance(outcome, Unknown):
            send, begun = call
            self._settle(
                message,
                token,
                report,
                MessageState.PENDING,
                EventKind.HELD,
                outcome.why,
                last_error=error,
                send_after=outcome.at,
                uncertain_since=begun,
                uncertain_body=send.body,
            )
        elif isinstance(outcome, Wait):
            # The provider is down, or our settings were refused: not this message's
            # fault. It keeps its place and its attempts, and waits for the channel.
            self._release(message, token, report, outcome.why, last_error=error)
            if outcome.configuration:
                self._channel_waits(kind, outcome.why, now)
        elif isinstance(outcome, Retry):
            self._settle(
                message,
                token,
                report,
                MessageState.PENDING,
                EventKind.RETRY_SCHEDULED,
                outcome.why,
                last_error=error,
                send_after=outcome.at,
            )
        elif isinstance(outcome, Skip):
            self._skip(message, token, report, outcome.why, last_error=error)
        else:
            self._settle(
                message,
                token,
                report,
                MessageState.FAILED,
                EventKind.FAILED,
                outcome.why,
                last_error=error,
                reason=outcome.why,
                then=self._after_failure(message, outcome, exc),
            )

    def _look_at(self, kind: ChannelKind, begun: datetime, retry_at: datetime) -> datetime | None:
        """When to ask the provider about a call begun at `begun` whose outcome is unknown:
        when it would have been retried, or once its listing is sure to show it if
        that is sooner. None: this channel's provider cannot be asked."""
        channel = self.channels.lookup_for(kind)
        return None if channel is None else min(retry_at, begun + channel.listing_lag)

    def _after_failure(
        self, message: ClaimedMessage, outcome: Fail, exc: ChannelError
    ) -> Callable[[Session], object]:
        """What a failed message means for the rest of the patient's plan."""
        if outcome.opted_out:
            source = f"provider error {exc.code}" if exc.code else "provider"
            why = f"the patient opted out of texts ({source})"

            def opted_out(session: Session) -> object:
                if message.phone:
                    repo.record_opt_out(
                        session,
                        clinic_id=message.clinic_id,
                        phone=message.phone,
                        source=source,
                        now=self.clock.now(),
                    )
                return self._stop_texts(message, why, patient=False)(session)

            return opted_out
        if outcome.stops_texts:
            return self._stop_texts(message, f"the number cannot take texts ({exc})", patient=False)

        def this_step(session: Session) -> object:
            return reroute.reroute(
                session, self._reroutes, [message.id], why=str(exc), now=self.clock.now()
            )

        return this_step

    def _stop_texts(
        self, message: ClaimedMessage, why: str, *, patient: bool
    ) -> Callable[[Session], object]:
        """Texts to this patient (no consent) or to their phone (STOP, a bad number) stop:
        the message and the rest of their texts move to email, or staff are told."""

        def stop(session: Session) -> object:
            return reroute.stop_texts(
                session,
                self._reroutes,
                clinic_id=message.clinic_id,
                phone=None if patient else message.phone,
                patient_id=message.patient_id if patient or not message.phone else None,
                why=why,
                now=self.clock.now(),
                also=[message.id],
            )

        return stop

    def _channel_waits(self, kind: ChannelKind, why: str, now: datetime) -> None:
        resumes = self.breaker.resumes_at(now)
        log.warning(
            "channel waiting for its settings to be fixed",
            extra={"channel": kind.value, "retry_at": resumes.isoformat() if resumes else None},
        )
        self._with_database(
            lambda session: repo.set_channel_problem(
                session, channel=kind.value, problem=why, now=now, retry_at=resumes
            )
        )
        self._waiting_channels.add(kind)

    def _channel_works(self, kind: ChannelKind) -> None:
        log.info("channel working again", extra={"channel": kind.value})
        self._with_database(lambda session: repo.clear_channel_problem(session, channel=kind.value))
        self._waiting_channels.discard(kind)

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

    def _skip(
        self,
        message: ClaimedMessage,
        token: str,
        report: DispatchReport,
        why: str,
        then: Callable[[Session], object] | None = None,
        **values: Any,
    ) -> None:
        self._settle(
            message,
            token,
            report,
            MessageState.SKIPPED,
            EventKind.SKIPPED,
            why,
            then=then,
            reason=why,
            **values,
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
        counter = _COUNTERS[event]
        setattr(report, counter, getattr(report, counter) + 1)
        metrics.settled(message.channel.value, counter)
        log.info(
            "message %s",
            event,
            extra={"message_id": message.id, "clinic_id": message.clinic_id, "state": state.value},
        )


def _count_sent(
    messages: list[ClaimedMessage], sent: list[SentMessage], recorded: set[int]
) -> None:
    claimed = {message.id: message for message in messages}
    for done in sent:
        if done.message_id in recorded:
            message = claimed[done.message_id]
            metrics.sent(message.channel.value, due_at=message.due_at, sent_at=done.sent_at)


_COUNTERS = {
    EventKind.SKIPPED: "skipped",
    EventKind.FAILED: "failed",
    EventKind.RETRY_SCHEDULED: "retried",
    EventKind.RELEASED: "released",
    EventKind.HELD: "held",
}


def _outgoing(message: ClaimedMessage, send: Send) -> Outgoing:
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
        subject=send.subject,
        body=send.body,
        clinic_id=message.clinic_id,
        sms_from=message.sms_from,
        messaging_service_sid=message.messaging_service_sid,
        valid_for=send.valid_for,
    )
