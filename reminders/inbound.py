"""What providers tell us after a send: delivery reports and patients' replies.

A reply that is not a keyword is triaged (`reminders.triage`): a flagged one is
answered at once with the clinic's phone (and the emergency number for an
emergency), and its on-call alerts are written in the same transaction, for a
worker to send (`reminders.on_call`).

Reports can arrive twice or out of order, and a captured request can be
replayed (Twilio's signature has no timestamp): every handler here is
idempotent, and a message's delivery status only moves forward.

A report can also arrive before the worker has recorded the provider's id for
the message (Twilio may call back before the worker commits, or while a crashed
worker's send waits to be taken back). Such a report is kept, and applied by
the worker's housekeeping once a message carries the id; one that no message
claims within EARLY_REPORT_KEEP is dropped as foreign.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import phonenumbers
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from reminders import metrics, on_call, reroute
from reminders.clock import Clock
from reminders.db import history, repo
from reminders.db.models import Clinic, EarlyDeliveryReport, InboundMessage, Message, Patient
from reminders.domain import EventKind, MessageState
from reminders.reply_texts import patient_answer
from reminders.triage import Category, Triage, TriagePolicy, triage

log = logging.getLogger(__name__)

# Twilio's opt-out, opt-in and help keywords: the whole message, any case.
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "UNSTOP", "YES"})
HELP = frozenset({"HELP", "INFO"})

# Later statuses outrank earlier ones; the three final ones share the top rank,
# so the first final report wins and a late "sent" never undoes "delivered".
DELIVERY_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
}


# How long a report may wait for its message: a worker records a send within its
# lease (two minutes by default) or never; an hour leaves a wide margin.
EARLY_REPORT_KEEP = timedelta(hours=1)


class ReportOutcome(StrEnum):
    APPLIED = "applied"  # the message's delivery status moved forward
    STALE = "stale"  # a replay, or older than what the message already has
    KEPT = "kept"  # no message carries the id yet: kept for when one does
    IGNORED = "ignored"  # a status we do not track


@dataclass(frozen=True)
class InboundResult:
    kind: str  # opt_out, opt_in, help, reply
    reply: str | None  # text to answer with, if any


def keyword_kind(body: str) -> str:
    word = body.strip().upper()
    if word in OPT_OUT:
        return "opt_out"
    if word in OPT_IN:
        return "opt_in"
    if word in HELP:
        return "help"
    return "reply"


class ProviderReports:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Clock,
        reroutes: reroute.Reroutes,
        triage: TriagePolicy,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.reroutes = reroutes
        self.triage = triage

    def delivery_status(
        self, *, provider_id: str, status: str, error_code: str | None
    ) -> ReportOutcome:
        """Apply a delivery report, or keep it for a message that does not carry its id yet."""
        if status not in DELIVERY_RANK or not provider_id:
            return ReportOutcome.IGNORED
        now = self.clock.now()
        with self.sessions.begin() as session:
            message = repo.message_by_provider_id(session, provider_id=provider_id)
            if message is None:
                session.add(
                    EarlyDeliveryReport(
                        provider_id=provider_id,
                        status=status,
                        error_code=error_code or None,
                        received_at=now,
                    )
                )
                outcome = ReportOutcome.KEPT
            elif apply_status(session, message, status, error_code, now):
                outcome = ReportOutcome.APPLIED
            else:
                outcome = ReportOutcome.STALE
        log.info("delivery report", extra={"outcome": outcome.value, "delivery": status})
        return outcome

    def inbound_text(
        self, *, from_phone: str, to_sender: str, body: str, provider_id: str | None
    ) -> InboundResult:
        """Handle a patient's text: STOP, START and HELP keywords; any other reply is
        triaged, kept for staff, and a flagged one sent to the clinic's on-call contact."""
        kind = keyword_kind(body)
        result = triage(body, self.triage) if kind == "reply" else None
        now = self.clock.now()
        phone = _e164(from_phone)
        reply = None
        alerts = 0
        with self.sessions.begin() as session:
            clinics = repo.clinics_for_sender(session, sender=to_sender)
            for clinic in clinics:
                patients = repo.patients_with_phone(session, clinic_id=clinic.id, phone=phone)
                patient = patients[0] if patients else None
                row = InboundMessage(
                    clinic_id=clinic.id,
                    patient_id=patient.id if patient else None,
                    treatment_id=(
                        repo.latest_treatment_id(session, patient_id=patient.id)
                        if patient
                        else None
                    ),
                    provider_id=f"{provider_id}:{clinic.id}" if provider_id else None,
                    from_phone=phone,
                    to_sender=to_sender,
                    body=body,
                    kind=kind,
                    triage=result.category.value if result else None,
                    flags=",".join(result.flags) if result and result.flags else None,
                    received_at=now,
                )
                if not repo.add_inbound(session, row):
                    # A retried webhook: already handled. Twilio retries when our answer
                    # did not reach it, so the patient has not had it: answer again.
                    assert row.provider_id is not None
                    reply = reply or repo.inbound_answer(session, provider_id=row.provider_id)
                    continue
                if kind == "opt_out":
                    keyword = body.strip().upper()
                    stop_texts(
                        session,
                        self.reroutes,
                        clinic_id=clinic.id,
                        phone=phone,
                        source=keyword,
                        why=f"the patient opted out of texts ({keyword})",
                        now=now,
                    )
                elif kind == "opt_in":
                    repo.remove_opt_out(session, clinic_id=clinic.id, phone=phone)
                elif kind == "help" and reply is None:
                    reply = help_text(clinic.name, clinic.phone)
                elif result is not None:
                    alerts += self._triaged(session, clinic, row, result, patient, now)
                    if reply is None and row.answer is not None:
                        reply = row.answer
                    elif row.answer is not None:
                        row.answer = None  # only one answer goes back, the first clinic's
        metrics.REPLIES.labels(kind).inc()
        if result is not None and result.category is not Category.ORDINARY:
            metrics.FLAGS.labels(result.category.value).inc()
        log.info(
            "inbound text",
            extra={
                "kind": kind,
                "clinics": len(clinics),
                "triage": result.category.value if result else None,
                "flags": list(result.flags) if result else [],
                "on_call_alerts": alerts,
            },
        )
        return InboundResult(kind, reply)

    def _triaged(
        self,
        session: Session,
        clinic: Clinic,
        row: InboundMessage,
        result: Triage,
        patient: Patient | None,
        now: datetime,
    ) -> int:
        """Answer a triaged reply and, if it is flagged, queue the on-call alerts."""
        row.answer = patient_answer(
            result.category,
            clinic_name=clinic.name,
            clinic_phone=clinic.phone,
            region=clinic.region,
            auto_answer=clinic.reply_auto_answer,
        )
        if not result.category.flagged:
            return 0
        return on_call.queue_alerts(
            session,
            clinic=clinic,
            reply=row,
            result=result,
            labels=self.triage.labels(result.flags),
            patient_name=patient.name if patient else None,
            now=now,
        )


def stop_texts(
    session: Session,
    reroutes: reroute.Reroutes,
    *,
    clinic_id: int,
    phone: str,
    source: str,
    why: str,
    now: datetime,
) -> None:
    """Record an opt-out and move what is left of the patient's aftercare off texts."""
    repo.record_opt_out(session, clinic_id=clinic_id, phone=phone, source=source, now=now)
    # STOP ends texts, not aftercare: what is left goes by email, or to staff.
    reroute.stop_texts(session, reroutes, clinic_id=clinic_id, phone=phone, why=why, now=now)


def apply_status(
    session: Session, message: Message, status: str, error_code: str | None, now: datetime
) -> bool:
    """Move the message's delivery status forward; False if the report is not newer."""
    rank = DELIVERY_RANK[status]
    if rank <= DELIVERY_RANK.get(message.delivery_status or "", -1):
        return False
    message.delivery_status = status
    message.delivery_error = error_code or None
    message.delivery_updated_at = now
    history.record(
        session,
        message_id=message.id,
        kind=EventKind.DELIVERY,
        state=message.state,
        at=now,
        detail=status + (f" (error {error_code})" if error_code else ""),
    )
    return True


def delivered_as_sent(session: Session, *, message_ids: Sequence[int], now: datetime) -> None:
    """Messages whose channel delivers as it sends (the console): the receipt is the report."""
    for message in repo.messages_with_treatments(session, ids=message_ids):
        if message.state == MessageState.SENT.value:
            apply_status(session, message, "delivered", None, now)


def apply_early_reports(session: Session, *, now: datetime) -> tuple[int, int]:
    """Apply kept reports whose id a message now carries; drop those too old to be ours.

    Returns how many were applied and how many dropped as foreign.
    """
    matched = session.execute(
        select(EarlyDeliveryReport, Message)
        .join(Message, Message.provider_id == EarlyDeliveryReport.provider_id)
        .order_by(EarlyDeliveryReport.id)
        # Several workers sweep: each report is applied by one of them, and never while
        # a callback is applying another report to the same message (its row is locked;
        # the next sweep gets it).
        .with_for_update(of=(EarlyDeliveryReport, Message), skip_locked=True)
    ).all()
    for report, message in matched:
        apply_status(session, message, report.status, report.error_code, report.received_at)
        session.delete(report)
    dropped = session.execute(
        delete(EarlyDeliveryReport)
        .where(EarlyDeliveryReport.received_at < now - EARLY_REPORT_KEEP)
        .returning(EarlyDeliveryReport.id)
    ).all()
    if matched or dropped:
        log.info(
            "early delivery reports",
            extra={"applied": len(matched), "dropped_as_foreign": len(dropped)},
        )
    return len(matched), len(dropped)


def help_text(clinic_name: str, clinic_phone: str) -> str:
    number = phonenumbers.format_number(
        phonenumbers.parse(clinic_phone, None), phonenumbers.PhoneNumberFormat.NATIONAL
    )
    return (
        f"{clinic_name}: aftercare reminders after your treatment. Questions? Call {number}. "
        "Reply STOP to stop texts, START to resume."
    )


def _e164(phone: str) -> str:
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return phone.strip()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
