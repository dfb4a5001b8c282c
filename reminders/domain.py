"""Value types shared by planning, storage and the service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class ChannelKind(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class MessageState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset(
    {MessageState.SENT, MessageState.FAILED, MessageState.SKIPPED, MessageState.CANCELLED}
)


class EventKind(StrEnum):
    """What happened to a message, as its history records it."""

    PLANNED = "planned"
    REPLANNED = "replanned"
    CLAIMED = "claimed"
    SENT = "sent"
    RETRY_SCHEDULED = "retry_scheduled"
    RELEASED = "released"  # a claim handed back unused
    HELD = "held"  # not sent yet on purpose: quiet hours, not before the restriction ends
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LEASE_EXPIRED = "lease_expired"
    # Looked for at the provider after a call whose outcome was unknown: found there
    # (its id adopted, not sent again), or not found (sent again).
    RECONCILED = "reconciled"
    DELIVERY = "delivery"  # the provider reported a delivery status


class AlertKind(StrEnum):
    """Why staff are asked to act."""

    NEEDS_CALL = "needs_call"  # the service can no longer reach the patient with their aftercare
    # The clinic's monthly SMS budget is 80 % used, or used up with texts held for staff.
    SMS_BUDGET = "sms_budget"


class TreatmentStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class QuietHours:
    """A nightly span in local time during which steps that may wait are held."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class ClinicProfile:
    """What planning needs to know about a clinic."""

    name: str
    phone_display: str
    timezone: ZoneInfo
    restriction: timedelta
    quiet_hours: QuietHours | None
    default_channel: ChannelKind
    show_patient_name: bool = False
    show_product_name: bool = False
    clock_24h: bool = False


@dataclass(frozen=True)
class PatientProfile:
    """What planning needs to know about a patient."""

    name: str
    has_phone: bool
    has_email: bool
    preferred_channel: ChannelKind | None = None
    timezone: ZoneInfo | None = None
