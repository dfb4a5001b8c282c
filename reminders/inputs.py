"""Turns what a person typed into checked values, or an InputError naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from reminders.durations import parse_duration
from reminders.errors import InputError

MAX_PAST = timedelta(days=1)
MAX_FUTURE = timedelta(days=365)


def parse_phone(text: str, *, region: str, field: str = "phone") -> str:
    """E.164 from an international or national (clinic region) number."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InputError(field, f"{text!r} is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InputError(field, f"{text!r} is not a valid phone number for region {region}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_email(text: str, *, field: str = "email") -> str:
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InputError(field, f"{text!r} is not a valid email address: {exc}") from exc


def parse_length(text: str, *, field: str) -> timedelta:
    """A length of time like `6h` or `1d`."""
    try:
        length = parse_duration(text)
    except ValueError as exc:
        raise InputError(field, str(exc)) from exc
    except OverflowError as exc:
        raise InputError(field, f"{text!r} is longer than any restriction could be") from exc
    if length <= timedelta(0):
        raise InputError(field, "must be longer than zero")
    return length


def parse_zone(text: str, *, field: str = "tz") -> ZoneInfo:
    """An IANA zone by its exact name; a folder of zones ("America"), a path or a name
    with stray characters is refused like any unknown name."""
    if not is_zone_name(text):
        raise InputError(field, f"unknown time zone {text!r} (use an IANA name)")
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InputError(field, f"unknown time zone {text!r} (use an IANA name)") from exc


def is_zone_name(text: str) -> bool:
    """Whether `text` names a zone (checked against the zone database's own list, not
    the file system, which also holds folders)."""
    return text in _zone_names()


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def parse_when(text: str, *, zone: ZoneInfo, field: str = "at") -> datetime:
    """An instant from ISO 8601 text; a time with no offset is read in `zone`.

    A local time that a DST change skips or repeats is refused, never guessed.
    """
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InputError(
            field, f"{text!r} is not a time like 2026-03-08 14:30 or 2026-03-08T14:30-05:00"
        ) from exc
    if parsed.tzinfo is not None:
        return aware_to_utc(parsed, field=field)
    return local_to_utc(parsed, zone, field=field)


def local_to_utc(naive: datetime, zone: ZoneInfo, *, field: str = "at") -> datetime:
    try:
        return _local_to_utc(naive, zone, field)
    except OverflowError as exc:
        raise InputError(field, "is outside the range of representable times") from exc


def aware_to_utc(value: datetime, *, field: str = "at") -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise InputError(field, "is outside the range of representable times") from exc


def _local_to_utc(naive: datetime, zone: ZoneInfo, field: str) -> datetime:
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)
    round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if round_trip != naive:
        raise InputError(field, f"{naive:%Y-%m-%d %H:%M} does not exist in {zone.key} (DST gap)")
    raise InputError(
        field,
        f"{naive:%Y-%m-%d %H:%M} happens twice in {zone.key} (DST change): "
        f"give an offset, e.g. {first.isoformat(timespec='minutes')} "
        f"or {second.isoformat(timespec='minutes')}",
    )


def check_treatment_time(performed_at: datetime, *, now: datetime, field: str = "at") -> None:
    """Aftercare is planned for treatments from the last day up to a year ahead."""
    if performed_at < now - MAX_PAST:
        raise InputError(field, "is more than a day in the past; aftercare would be stale")
    if performed_at > now + MAX_FUTURE:
        raise InputError(field, "is more than a year in the future")
