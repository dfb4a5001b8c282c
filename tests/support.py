"""Test helpers: a provider that records what it was asked to send, and request builders."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from reminders.bootstrap import App
from reminders.channels.base import ChannelRegistry, Outgoing, Receipt
from reminders.db.models import Treatment
from reminders.dispatch import Dispatcher
from reminders.domain import ChannelKind
from reminders.errors import ChannelError
from reminders.intake import TreatmentInput
from reminders.patients import PatientInput

# Consent to texts, given at the desk before the pinned test clock's "now".
CONSENT_AT = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


class RecordingChannel:
    """Stands in for the provider's server: records every send, can be told to fail."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.failures: list[ChannelError] = []
        self.before_send: Callable[[Outgoing], None] | None = None
        self._lock = threading.Lock()

    def fail_next(self, *errors: ChannelError) -> None:
        self.failures.extend(errors)

    def send(self, outgoing: Outgoing) -> Receipt:
        if self.before_send:
            self.before_send(outgoing)
        with self._lock:
            if self.failures:
                raise self.failures.pop(0)
            self.sent.append(outgoing)
            return Receipt(f"rec-{outgoing.message_id}-{len(self.sent)}")

    def registry(self) -> ChannelRegistry:
        return ChannelRegistry({ChannelKind.SMS: self, ChannelKind.EMAIL: self})

    def sent_ids(self) -> list[int]:
        return [o.message_id for o in self.sent]


def treatment_input(
    *,
    treatment: str = "botox",
    at: datetime | None = None,
    name: str = "Jane Doe",
    phone: str | None = "+12125550199",
    email: str | None = None,
    channel: ChannelKind | None = None,
    sms_consent_at: datetime | None = CONSENT_AT,
    restriction: timedelta | None = None,
    restriction_reason: str | None = None,
) -> TreatmentInput:
    return TreatmentInput(
        restriction=restriction,
        restriction_reason=restriction_reason,
        patient=PatientInput(
            name=name,
            phone=phone,
            email=email,
            preferred_channel=channel,
            sms_consent_at=sms_consent_at if phone else None,
        ),
        treatment_type=treatment,
        performed_at=at,
    )


def log(app: App, **kwargs: object) -> Treatment:
    return app.service.log_treatment(app.clinic.id, treatment_input(**kwargs))  # type: ignore[arg-type]


def dispatcher(app: App, channel: RecordingChannel, worker_id: str = "test-worker") -> Dispatcher:
    return app.dispatcher(channel.registry(), worker_id=worker_id)
