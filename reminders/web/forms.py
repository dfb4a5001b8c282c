"""What the pages' forms send, as the service's inputs; and where an InputError is shown.

A form's fields arrive as text. Each form is read into a frozen dataclass of strings
(so a page can show them again as typed), then turned into the same inputs the HTTP
API builds, with the same parsers: an error names the same field it does there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Self
from zoneinfo import ZoneInfo

from reminders.domain import ChannelKind
from reminders.errors import InputError
from reminders.inputs import parse_length, parse_when
from reminders.intake import TreatmentInput
from reminders.patients import PatientInput

# What a person could type into one field; longer is not a name, number or reason.
LONGEST_FIELD = 2000
# `<input type="datetime-local">`'s value: the clinic's wall time, to the minute.
LOCAL_INPUT = "%Y-%m-%dT%H:%M"
MINUTE = timedelta(minutes=1)

# The service's field names, as the forms' inputs are named.
INPUTS = {
    "at": "performed_at",
    "treatment": "treatment_type",
    "patient.sms_consent_at": "sms_consent",
}


def input_for(field: str) -> str:
    """The form input an InputError's field is shown at."""
    return INPUTS.get(field, field)


def error_text(label: str, message: str) -> str:
    """`Mobile phone is required`, or `Mobile phone: '+1 555' is not a phone number`."""
    if message.startswith(("is ", "must ", "has ")):
        return f"{label} {message}"
    return f"{label}: {message}"


def field_errors(exc: InputError, labels: Mapping[str, str]) -> dict[str, str]:
    """The error, keyed by the input it belongs to (`form` when no input is named)."""
    name = input_for(exc.field)
    if name not in labels:
        return {"form": exc.message if exc.field == "form" else f"{exc.field}: {exc.message}"}
    return {name: error_text(labels[name], exc.message)}


def local_input(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime(LOCAL_INPUT)


class Form:
    """A dataclass of strings (and booleans, for checkboxes) read from a posted form."""

    @classmethod
    def read(cls, form: Mapping[str, Any]) -> Self:
        values: dict[str, Any] = {}
        for item in fields(cls):  # type: ignore[arg-type]
            raw = form.get(item.name)
            if item.type == "bool":
                values[item.name] = raw is not None
                continue
            text = raw if isinstance(raw, str) else ""
            if len(text) > LONGEST_FIELD:
                raise InputError(item.name, f"is longer than {LONGEST_FIELD} characters")
            values[item.name] = text
        return cls(**values)


def _optional(text: str) -> str | None:
    return text.strip() or None


def _length(text: str, field: str) -> timedelta | None:
    return parse_length(text.strip(), field=field) if text.strip() else None


def _channel(text: str) -> ChannelKind | None:
    if not text:
        return None
    try:
        return ChannelKind(text)
    except ValueError as exc:
        raise InputError("preferred_channel", "is not sms or email") from exc


TREATMENT_LABELS = {
    "name": "Patient's name",
    "phone": "Mobile phone",
    "email": "Email",
    "sms_consent": "Consent to texts",
    "preferred_channel": "Send messages by",
    "treatment_type": "Treatment",
    "performed_at": "Performed at",
    "restriction": "Restriction length",
    "restriction_reason": "Why this restriction",
}


@dataclass(frozen=True)
class TreatmentForm(Form):
    """The log-a-treatment form, as typed."""

    name: str = ""
    phone: str = ""
    email: str = ""
    sms_consent: bool = False
    preferred_channel: str = ""
    treatment_type: str = ""
    performed_at: str = ""
    restriction: str = ""
    restriction_reason: str = ""

    def to_input(self, zone: ZoneInfo, now: datetime) -> TreatmentInput:
        """The treatment to log: consent to texts is given now, when ticked; a time
        without an offset is the clinic's wall time; an empty time is now."""
        when = self.performed_at.strip()
        performed_at = parse_when(when, zone=zone, field="at") if when else None
        if performed_at is not None and timedelta(0) <= now - performed_at < MINUTE:
            # The form shows now to the minute: that minute, sent as it was, means now,
            # not up to 59 seconds before (which texts would read as "3 hours and 59 minutes").
            performed_at = None
        return TreatmentInput(
            patient=PatientInput(
                name=self.name,
                phone=_optional(self.phone),
                email=_optional(self.email),
                preferred_channel=_channel(self.preferred_channel),
                sms_consent_at=now if self.sms_consent else None,
            ),
            treatment_type=self.treatment_type,
            performed_at=performed_at,
            restriction=_length(self.restriction, "restriction"),
            restriction_reason=_optional(self.restriction_reason),
        )


CORRECTION_LABELS = {
    "performed_at": "Performed at",
    "restriction": "Restriction length",
    "restriction_reason": "Why this restriction",
    "notify": "Tell the patient",
    "not_notified_reason": "Why the patient is not told",
}


@dataclass(frozen=True)
class CorrectionForm(Form):
    """A correction of a treatment's time or restriction, as typed."""

    performed_at: str = ""
    restriction: str = ""
    restriction_reason: str = ""
    notify: str = "yes"
    not_notified_reason: str = ""

    def performed(self, zone: ZoneInfo, stored: datetime) -> datetime | None:
        """The corrected time, or None when the field still shows the stored one."""
        when = self.performed_at.strip()
        if not when or when == local_input(stored, zone):
            return None
        return parse_when(when, zone=zone, field="at")

    def length(self) -> timedelta | None:
        return _length(self.restriction, "restriction")


CANCEL_LABELS = {
    "reason": "Why it is cancelled",
    "error": "Logged in error",
    "notify": "Tell whoever got its messages",
    "not_notified_reason": "Why they are not told",
}


@dataclass(frozen=True)
class CancelForm(Form):
    """A cancellation, as typed."""

    reason: str = ""
    error: bool = False
    notify: str = "yes"
    not_notified_reason: str = ""
