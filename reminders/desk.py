"""What the front desk does right after logging a treatment: watch the first message
arrive, and when a text does not, move the patient's texts to email at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from reminders import reroute
from reminders.clock import Clock
from reminders.db import repo
from reminders.db.engine import read_only_sessions
from reminders.db.models import Message, Treatment
from reminders.domain import ChannelKind, MessageState, TreatmentStatus
from reminders.errors import ConflictError, InputError, NotFoundError
from reminders.inputs import parse_email
from reminders.progress import FirstMessage, Reach, first_message

# How often a wait reads the message again: quick enough to look live at a desk.
WATCH_INTERVAL = 0.1
# The longest wait an API request may ask for: it holds a request thread meanwhile.
MAX_WAIT_SECONDS = 30


@dataclass
class Desk:
    sessions: sessionmaker[Session]
    clock: Clock
    reroutes: reroute.Reroutes
    # Channels whose provider reports delivery (the console channel at once, Twilio
    # when its status callbacks can reach us); for the others "sent" is the last word.
    reports_delivery: frozenset[ChannelKind]
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._reads = read_only_sessions(self.sessions)

    def first_message(self, clinic_id: int, treatment_id: int) -> FirstMessage | None:
        """Where the treatment's first message stands now."""
        with self._reads() as session:
            treatment = _owned(session, clinic_id, treatment_id)
            return self.progress(treatment, email_fallback=treatment.clinic.email_fallback)

    def patient_email(self, clinic_id: int, treatment_id: int) -> str | None:
        """The address on record for the treatment's patient."""
        with self._reads() as session:
            return _owned(session, clinic_id, treatment_id).patient.email

    def progress(self, treatment: Treatment, *, email_fallback: bool) -> FirstMessage | None:
        """Where the first message of a treatment already read stands now."""
        reach = Reach(
            reports_delivery=self.reports_delivery,
            email_fallback=email_fallback,
            has_email=bool(treatment.patient.email),
        )
        return first_message(treatment.messages, now=self.clock.now(), reach=reach)

    def wait_for_first_message(
        self,
        clinic_id: int,
        treatment_id: int,
        *,
        timeout: float,
        on_change: Callable[[FirstMessage], None] | None = None,
    ) -> FirstMessage | None:
        """Read the first message until it reaches its last word or `timeout` seconds pass;
        `on_change` hears each new stage as it happens."""
        deadline = self.monotonic() + timeout
        last: FirstMessage | None = None
        while True:
            current = self.first_message(clinic_id, treatment_id)
            if on_change is not None and current is not None and _moved(last, current):
                on_change(current)
            last = current
            left = deadline - self.monotonic()
            if current is None or current.final or left <= 0:
                return current
            self.sleep(min(WATCH_INTERVAL, left))

    def email_instead(
        self,
        clinic_id: int,
        treatment_id: int,
        *,
        email: str | None,
        why: str,
        field: str = "email",
    ) -> reroute.Rerouted:
        """Stop texting this patient: their texts not yet sent are cancelled, and those
        steps, and any text of this treatment that did not arrive, go by email as of
        now (`email` becomes the patient's address, if given)."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            treatment = _owned(session, clinic_id, treatment_id)
            if treatment.status != TreatmentStatus.ACTIVE.value:
                raise ConflictError(f"treatment {treatment_id} is cancelled")
            if not treatment.clinic.email_fallback:
                raise ConflictError("this clinic does not send email instead of texts")
            patient = treatment.patient
            if email is not None:
                patient.email = parse_email(email, field=field)
                patient.updated_at = now
            elif not patient.email:
                raise InputError(field, "the patient has no email address on record: give one")
            session.flush()
            return reroute.stop_texts(
                session,
                self.reroutes,
                clinic_id=clinic_id,
                patient_id=patient.id,
                why=f"the front desk moved the texts to email: {why}",
                now=now,
                also=[m.id for m in treatment.messages if _did_not_arrive(m)],
            )


def _owned(session: Session, clinic_id: int, treatment_id: int) -> Treatment:
    treatment = repo.get_treatment_brief(session, clinic_id=clinic_id, treatment_id=treatment_id)
    if treatment is None:
        raise NotFoundError(f"treatment {treatment_id} not found")
    return treatment


def _moved(last: FirstMessage | None, current: FirstMessage) -> bool:
    return last is None or (last.message_id, last.stage) != (current.message_id, current.stage)


def _did_not_arrive(message: Message) -> bool:
    if message.channel != ChannelKind.SMS.value:
        return False
    if message.state == MessageState.SENT.value:
        return message.delivery_status in ("undelivered", "failed")
    return message.state in (MessageState.FAILED.value, MessageState.SKIPPED.value)
