"""Patients as the desk describes them: checked contact details, and who is the same person.

Matching: within a clinic, a logged patient is someone already on record when
the name is the same (ignoring case and spacing) and so is the phone number,
or, when no phone is given or none matches, the email address. Families share
phones, so a phone alone never identifies a person: another name on a known
phone is a new patient, and a match never renames anyone, so earlier
treatments keep the patient as logged. Contact details given for a matched
patient add to or replace the ones on record, for messages still to come.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from reminders.domain import ChannelKind, PatientProfile
from reminders.errors import InputError
from reminders.inputs import clean_text, parse_email, parse_mobile

MAX_NAME = 120


@dataclass(frozen=True)
class PatientInput:
    name: str
    phone: str | None = None
    email: str | None = None
    preferred_channel: ChannelKind | None = None
    timezone: ZoneInfo | None = None
    sms_consent_at: datetime | None = None  # when the patient agreed to texts, if they did


class PatientContact(Protocol):
    """A patient's contact columns: a Patient row, or one about to be inserted."""

    @property
    def name(self) -> str: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def preferred_channel(self) -> str | None: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def sms_consent_at(self) -> datetime | None: ...


def name_key(name: str) -> str:
    """What two spellings of one name share: `Jane  doe` is `Jane Doe`."""
    return " ".join(name.split()).casefold()


def patient_profile_of(patient: PatientContact) -> PatientProfile:
    return PatientProfile(
        name=patient.name,
        # A phone without consent to texts does not make the patient reachable by SMS.
        has_phone=bool(patient.phone) and patient.sms_consent_at is not None,
        has_email=bool(patient.email),
        preferred_channel=ChannelKind(patient.preferred_channel)
        if patient.preferred_channel
        else None,
        timezone=ZoneInfo(patient.timezone) if patient.timezone else None,
    )


def checked_contact(patient: PatientInput, *, region: str) -> PatientInput:
    name = clean_text(patient.name, field="name", longest=MAX_NAME)
    phone = parse_mobile(patient.phone, region=region) if patient.phone else None
    email = parse_email(patient.email) if patient.email else None
    if not phone and not email:
        raise InputError("phone", "a phone number or an email address is required")
    if patient.preferred_channel is ChannelKind.SMS and not phone:
        raise InputError("phone", "is required when the preferred channel is sms")
    if patient.preferred_channel is ChannelKind.EMAIL and not email:
        raise InputError("email", "is required when the preferred channel is email")
    if patient.sms_consent_at and not phone:
        raise InputError("sms_consent", "consent to texts needs a phone number")
    return PatientInput(
        name, phone, email, patient.preferred_channel, patient.timezone, patient.sms_consent_at
    )


def reachable_profile(patient: PatientContact) -> PatientProfile:
    """The patient's profile, refusing one that no channel may reach."""
    profile = patient_profile_of(patient)
    if profile.preferred_channel is ChannelKind.SMS and not profile.has_phone:
        raise InputError("sms_consent", "the patient has not consented to texts (SMS)")
    if not profile.has_phone and not profile.has_email:
        raise InputError(
            "sms_consent", "the patient has not consented to texts and has no email address"
        )
    return profile


def contact_fields(patient: PatientContact, contact: PatientInput, now: datetime) -> dict[str, Any]:
    """A matched patient's contact columns once checked details are applied to them.

    The name stays as first recorded (see the module's note on matching); a new
    patient takes the contact's.
    """
    return {
        "name": patient.name or contact.name,
        "phone": contact.phone or patient.phone,
        "email": contact.email or patient.email,
        "preferred_channel": contact.preferred_channel.value
        if contact.preferred_channel
        else patient.preferred_channel,
        "timezone": contact.timezone.key if contact.timezone else patient.timezone,
        "sms_consent_at": patient.sms_consent_at or contact.sms_consent_at,
        "updated_at": now,
    }
