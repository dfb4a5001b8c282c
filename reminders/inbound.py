"""What providers tell us after a send: delivery reports and patients' replies.

Reports can arrive twice or out of order, and a captured request can be
replayed (Twilio's signature has no timestamp): every handler here is
idempotent, and a message's delivery status only moves forward.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import phonenumbers
from sqlalchemy.orm import Session, sessionmaker

from reminders.clock import Clock
from reminders.db import history, repo
from reminders.db.models import InboundMessage
from reminders.domain import EventKind

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
    def __init__(self, *, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def delivery_status(self, *, provider_id: str, status: str, error_code: str | None) -> bool:
        """Apply a delivery report; returns whether it moved the message forward."""
        rank = DELIVERY_RANK.get(status)
        if rank is None:
            return False
        now = self.clock.now()
        with self.sessions.begin() as session:
            message = repo.message_by_provider_id(session, provider_id=provider_id)
            if message is None:
                return False
            current = DELIVERY_RANK.get(message.delivery_status or "", -1)
            if rank <= current:
                return False
            message.delivery_status = status
            message.delivery_error = error_code or None
            message.delivery_updated_at = now
            detail = status + (f" (error {error_code})" if error_code else "")
            history.record(
                session,
                message_id=message.id,
                kind=EventKind.DELIVERY,
                state=message.state,
                at=now,
                detail=detail,
            )
        log.info("delivery report", extra={"message_id": message.id, "delivery": status})
        return True

    def inbound_text(
        self, *, from_phone: str, to_sender: str, body: str, provider_id: str | None
    ) -> InboundResult:
        """Handle a patient's text: STOP, START and HELP keywords; anything else is kept."""
        kind = keyword_kind(body)
        now = self.clock.now()
        phone = _e164(from_phone)
        reply = None
        with self.sessions.begin() as session:
            clinics = repo.clinics_for_sender(session, sender=to_sender)
            for clinic in clinics:
                patients = repo.patients_with_phone(session, clinic_id=clinic.id, phone=phone)
                stored = repo.add_inbound(
                    session,
                    InboundMessage(
                        clinic_id=clinic.id,
                        patient_id=patients[0].id if patients else None,
                        provider_id=f"{provider_id}:{clinic.id}" if provider_id else None,
                        from_phone=phone,
                        to_sender=to_sender,
                        body=body,
                        kind=kind,
                        received_at=now,
                    ),
                )
                if not stored:
                    continue  # a retried webhook: already handled
                if kind == "opt_out":
                    repo.record_opt_out(
                        session,
                        clinic_id=clinic.id,
                        phone=phone,
                        source=body.strip().upper(),
                        now=now,
                    )
                    repo.cancel_unsent_sms(
                        session,
                        clinic_id=clinic.id,
                        phone=phone,
                        reason=f"patient opted out of texts ({body.strip().upper()})",
                        now=now,
                    )
                elif kind == "opt_in":
                    repo.remove_opt_out(session, clinic_id=clinic.id, phone=phone)
                elif kind == "help" and reply is None:
                    reply = help_text(clinic.name, clinic.phone)
        log.info("inbound text", extra={"kind": kind, "clinics": len(clinics)})
        return InboundResult(kind, reply)


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
