"""Turns what a person typed into checked values, or an InputError naming the field."""

from __future__ import annotations

import unicodedata
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
    """E.164 from an international or national (clinic region) number.

    A national number is read in the clinic's region; one given with its country
    code is judged by that country, and errors name it.
    """
    number = _number(text, region, field)
    if not phonenumbers.is_valid_number(number):
        where = _country(number) or f"region {region}"
        raise InputError(field, f"{text!r} is not a valid phone number for {where}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# What phonenumbers can tell of a number that an aftercare text can reach. Mobile
# numbers, and those a country does not tell apart from landlines (the US and
# Canada), take texts; VoIP numbers often do. Landlines, pagers, premium-rate,
# shared-cost and toll-free numbers, personal and universal numbers, voicemail,
# and satellite or other non-geographic numbers (+88x) do not, or cost the clinic
# (and invite SMS pumping) if a key leaks.
TEXTABLE = frozenset(
    {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        phonenumbers.PhoneNumberType.VOIP,
    }
)
_KINDS = {
    phonenumbers.PhoneNumberType.FIXED_LINE: "a landline",
    phonenumbers.PhoneNumberType.TOLL_FREE: "a toll-free number",
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    phonenumbers.PhoneNumberType.SHARED_COST: "a shared-cost number",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "a personal (forwarding) number",
    phonenumbers.PhoneNumberType.PAGER: "a pager",
    phonenumbers.PhoneNumberType.UAN: "a universal access number",
    phonenumbers.PhoneNumberType.VOICEMAIL: "a voicemail number",
}


def parse_mobile(text: str, *, region: str, field: str = "phone") -> str:
    """A patient's number for texts: E.164, and of a kind a text can reach (see TEXTABLE).

    An extension is refused rather than dropped: no text reaches one.
    """
    e164 = parse_phone(text, region=region, field=field)
    number = _number(text, region, field)
    if number.extension:
        raise InputError(field, "has an extension: texts cannot reach one; give a mobile number")
    if phonenumbers.region_code_for_number(number) == phonenumbers.UNKNOWN_REGION or (
        phonenumbers.region_code_for_number(number) == "001"
    ):
        raise InputError(
            field, "is a satellite or other non-geographic number: texts cannot reach it"
        )
    kind = phonenumbers.number_type(number)
    if kind not in TEXTABLE:
        what = _KINDS.get(kind, "not a mobile number")
        raise InputError(
            field,
            f"is {what}: aftercare texts cannot reach it; give a mobile number or an email",
        )
    return e164


def _number(text: str, region: str, field: str) -> phonenumbers.PhoneNumber:
    try:
        # The raw input is kept so a number's source (with its country code or not) is known.
        return phonenumbers.parse(text, region, keep_raw_input=True)
    except phonenumbers.NumberParseException as exc:
        raise InputError(field, f"{text!r} is not a phone number") from exc


def _country(number: phonenumbers.PhoneNumber) -> str | None:
    """`+44 (GB)` for a number given with its country code."""
    if number.country_code_source not in (
        phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_PLUS_SIGN,
        phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_IDD,
        phonenumbers.CountryCodeSource.FROM_NUMBER_WITHOUT_PLUS_SIGN,
    ):
        return None
    if number.country_code is None:
        return None
    regions = phonenumbers.region_codes_for_country_code(number.country_code)
    return f"+{number.country_code} ({'/'.join(regions[:3])})" if regions else None


def parse_email(text: str, *, field: str = "email") -> str:
    """A normalised address; white space around it (pasted from elsewhere) is trimmed."""
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InputError(field, f"{text!r} is not a valid email address: {exc}") from exc


# Free text a person types: names, reasons. Refused: control characters, the
# invisible characters that reorder or hide text (bidirectional overrides and
# isolates), unpaired surrogates and private-use characters; text that is only
# white space and invisible characters. Normalised: Unicode NFC, white space of
# any kind collapsed to single spaces. Joiners (ZWJ, ZWNJ) stay: scripts such as
# Persian and Hindi need them inside a word.
_REORDERING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")


def clean_text(text: str, *, field: str, longest: int) -> str:
    """Free text as stored: checked and normalised (see the rules above)."""
    for ch in text:
        category = unicodedata.category(ch)
        if ch in _REORDERING:
            raise InputError(field, f"must not contain U+{ord(ch):04X} (it reorders text)")
        if category in ("Cc", "Cs", "Co") and not ch.isspace():
            raise InputError(
                field, f"must not contain U+{ord(ch):04X} (a control or unassigned character)"
            )
    cleaned = " ".join(unicodedata.normalize("NFC", text).split())
    if not any(ch not in _INVISIBLE for ch in cleaned.replace(" ", "")):
        raise InputError(field, "is required")
    if len(cleaned) > longest:
        raise InputError(field, f"is longer than {longest} characters")
    return cleaned


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
