"""Tell the clinic's on-call contact of a flagged reply: claim-then-send, once.

The alert rows are written in the transaction that stores the reply (so a reply
is never kept without its alerts, nor alerted without being kept) and the
workers are woken at its commit. A worker moves a row pending -> sending in one
conditional UPDATE, committed before the provider is called, so a second worker
never sends it too; the outcome is written fenced by the claim token. A retried
webhook stores no second reply, so it writes no second alert, and the unique
(reply, channel) pair refuses one all the same.

The window no database closes: a worker that dies after the provider took the
alert but before its outcome commits leaves the claim to expire, and the alert
is sent again. For an alert that may be an emergency, twice is better than never.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from reminders.channels.base import ChannelRegistry, Outgoing
from reminders.clock import Clock
from reminders.db import wakeups
from reminders.db.models import Clinic, InboundMessage, OnCallAlert
from reminders.domain import ChannelKind
from reminders.errors import ChannelError
from reminders.reply_texts import on_call_subject, on_call_text
from reminders.retry import RetryPolicy
from reminders.triage import Triage

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
# Alerts one pass claims: there are few, and each may be an emergency.
CLAIM_LIMIT = 20


def queue_alerts(
    session: Session,
    *,
    clinic: Clinic,
    reply: InboundMessage,
    result: Triage,
    labels: list[str],
    patient_name: str | None,
    now: datetime,
) -> int:
    """Write the on-call alerts of a flagged reply, in the reply's transaction, and wake
    the workers at its commit. Returns how many: none without an on-call contact."""
    targets = [
        (ChannelKind.SMS, clinic.on_call_phone),
        (ChannelKind.EMAIL, clinic.on_call_email),
    ]
    rows = [
        OnCallAlert(
            clinic_id=clinic.id,
            inbound_id=reply.id,
            channel=kind.value,
            to=to,
            subject=on_call_subject(clinic.name, result.category)
            if kind is ChannelKind.EMAIL
            else None,
            body=on_call_text(
                reply_id=reply.id,
                clinic_name=clinic.name,
                category=result.category,
                labels=labels,
                patient_name=patient_name,
                treatment_id=reply.treatment_id,
                reply=reply.body,
                for_sms=kind is ChannelKind.SMS,
            ),
            state=PENDING,
            send_after=now,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        for kind, to in targets
        if to
    ]
    if rows:
        session.add_all(rows)
        session.flush()
        wakeups.planned(session.connection())
    return len(rows)


@dataclass
class OnCallReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    recovered: int = 0


@dataclass(frozen=True)
class _Claimed:
    id: int
    clinic_id: int
    channel: ChannelKind
    to: str
    subject: str | None
    body: str
    attempts: int
    sms_from: str | None
    messaging_service_sid: str | None


class OnCallSender:
    """The worker's part for on-call alerts: recover, claim what is due, send, record."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Clock,
        channels: ChannelRegistry,
        retry: RetryPolicy,
        worker_id: str,
        lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.channels = channels
        self.retry = retry
        self.worker_id = worker_id
        self.lease = lease

    def send_due(self) -> OnCallReport:
        """Send every alert due now, each by one worker only."""
        report = OnCallReport()
        now = self.clock.now()
        with self.sessions.begin() as session:
            report.recovered = _recover_expired(session, now)
            token, claimed = self._claim(session, now)
        for alert in claimed:
            self._send(alert, token, report)
        if claimed or report.recovered:
            log.info(
                "on-call alerts pass",
                extra={
                    "sent": report.sent,
                    "retried": report.retried,
                    "failed": report.failed,
                    "recovered": report.recovered,
                },
            )
        return report

    def next_wake(self) -> datetime | None:
        """When an alert is next due, or a claim on one expires."""
        with self.sessions() as session:
            due = session.scalar(
                select(func.min(OnCallAlert.send_after)).where(OnCallAlert.state == PENDING)
            )
            lease = session.scalar(
                select(func.min(OnCallAlert.lease_until)).where(OnCallAlert.state == SENDING)
            )
        known = [t for t in (due, lease) if t is not None]
        return min(known) if known else None

    def _claim(self, session: Session, now: datetime) -> tuple[str, list[_Claimed]]:
        token = str(uuid.uuid4())
        due = (
            select(OnCallAlert.id)
            .where(OnCallAlert.state == PENDING, OnCallAlert.send_after <= now)
            .order_by(OnCallAlert.id)
            .limit(CLAIM_LIMIT)
        )
        if session.get_bind().dialect.name == "postgresql":
            # Workers pass each other's locked rows; `state = pending` below is checked
            # again on the row as it is after another worker's claim committed.
            due = due.with_for_update(skip_locked=True)
        session.execute(
            update(OnCallAlert)
            .where(OnCallAlert.id.in_(due.scalar_subquery()), OnCallAlert.state == PENDING)
            .values(
                state=SENDING,
                claim_token=token,
                claimed_by=self.worker_id,
                lease_until=now + self.lease,
                attempts=OnCallAlert.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        rows = session.execute(
            select(OnCallAlert, Clinic.sms_from, Clinic.messaging_service_sid)
            .join(Clinic, Clinic.id == OnCallAlert.clinic_id)
            .where(OnCallAlert.claim_token == token)
            .order_by(OnCallAlert.id)
        ).all()
        return token, [
            _Claimed(
                a.id, a.clinic_id, ChannelKind(a.channel), a.to, a.subject, a.body, a.attempts, f, m
            )
            for a, f, m in rows
        ]

    def _send(self, alert: _Claimed, token: str, report: OnCallReport) -> None:
        outgoing = Outgoing(
            message_id=alert.id,
            kind=alert.channel,
            to=alert.to,
            subject=alert.subject,
            body=alert.body,
            clinic_id=alert.clinic_id,
            sms_from=alert.sms_from,
            messaging_service_sid=alert.messaging_service_sid,
            reference=f"on-call-{alert.id}",
        )
        try:
            receipt = self.channels.for_kind(alert.channel).send(outgoing)
        except ChannelError as exc:
            self._failed(alert, token, report, exc)
            return
        now = self.clock.now()
        self._settle(
            alert, token, state=SENT, provider_id=receipt.provider_id, sent_at=now, last_error=None
        )
        report.sent += 1
        log.info(
            "on-call alert sent",
            extra={
                "on_call_alert_id": alert.id,
                "clinic_id": alert.clinic_id,
                "channel": alert.channel.value,
            },
        )

    def _failed(self, alert: _Claimed, token: str, report: OnCallReport, exc: ChannelError) -> None:
        # Channel errors name codes and statuses, never the address or the text.
        again = not exc.permanent and self.retry.should_retry(alert.attempts)
        if again:
            delay = self.retry.delay(alert.attempts, retry_after=exc.retry_after)
            self._settle(
                alert,
                token,
                state=PENDING,
                send_after=self.clock.now() + delay,
                last_error=str(exc),
            )
            report.retried += 1
        else:
            self._settle(alert, token, state=FAILED, last_error=str(exc))
            report.failed += 1
        log.warning(
            "on-call alert not sent",
            extra={
                "on_call_alert_id": alert.id,
                "clinic_id": alert.clinic_id,
                "channel": alert.channel.value,
                "error": str(exc),
                "will_retry": again,
            },
        )

    def _settle(self, alert: _Claimed, token: str, **values: object) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(OnCallAlert)
                .where(
                    OnCallAlert.id == alert.id,
                    OnCallAlert.claim_token == token,
                    OnCallAlert.state == SENDING,
                )
                .values(**values, claim_token=None, lease_until=None, updated_at=self.clock.now())
                .execution_options(synchronize_session=False)
            )


def _recover_expired(session: Session, now: datetime) -> int:
    """Claims whose worker is presumed dead go back to be sent (see the module's note)."""
    result = session.execute(
        update(OnCallAlert)
        .where(OnCallAlert.state == SENDING, OnCallAlert.lease_until < now)
        .values(state=PENDING, claim_token=None, lease_until=None, send_after=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
