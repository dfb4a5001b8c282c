"""What a person typed becomes a checked value, or an InputError naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reminders.errors import InputError, ReminderError
from reminders.inputs import (
    check_treatment_time,
    clean_text,
    parse_email,
    parse_mobile,
    parse_phone,
    parse_when,
    parse_zone,
)

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)


def test_input_error_is_a_reminder_error() -> None:
    assert issubclass(InputError, ReminderError)


# --- parse_phone -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("(212) 555-0143", "US", "+12125550143"),
        ("212-555-0143", "US", "+12125550143"),
        ("212 555 0143", "US", "+12125550143"),
        ("+1 212 555 0143", "US", "+12125550143"),
        ("+12125550143", "GB", "+12125550143"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 20 7946 0958", "US", "+442079460958"),
    ],
)
def test_parse_phone_returns_e164(text: str, region: str, expected: str) -> None:
    assert parse_phone(text, region=region) == expected


@pytest.mark.parametrize("text", ["", "hello", "12345", "555-0143", "+1 212 555 014"])
def test_parse_phone_rejects_invalid_numbers_naming_the_phone_field(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_phone(text, region="US")
    assert caught.value.field == "phone"


def test_parse_phone_error_names_a_custom_field() -> None:
    with pytest.raises(InputError) as caught:
        parse_phone("12345", region="US", field="clinic_phone")
    assert caught.value.field == "clinic_phone"


# --- parse_email -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ann@example.com", "ann@example.com"),
        ("Ann.Lee@Example.COM", "Ann.Lee@example.com"),
    ],
)
def test_parse_email_returns_the_normalised_address(text: str, expected: str) -> None:
    assert parse_email(text) == expected


@pytest.mark.parametrize("text", ["", "ann", "ann@", "@example.com", "ann@@example.com", "a b@c.d"])
def test_parse_email_rejects_invalid_addresses_naming_the_email_field(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_email(text)
    assert caught.value.field == "email"


# --- parse_zone --------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["America/New_York", "Europe/London", "UTC"])
def test_parse_zone_accepts_iana_names(text: str) -> None:
    assert parse_zone(text) == ZoneInfo(text)


@pytest.mark.parametrize("text", ["Mars/Olympus_Mons", "EST5EDT/Nowhere", "", "../etc/passwd"])
def test_parse_zone_rejects_unknown_names_naming_the_tz_field(text: str) -> None:
    with pytest.raises(InputError, match="unknown time zone") as caught:
        parse_zone(text)
    assert caught.value.field == "tz"


# --- parse_when --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-08T14:30-05:00", datetime(2026, 3, 8, 19, 30, tzinfo=UTC)),
        ("2026-03-08T14:30+00:00", datetime(2026, 3, 8, 14, 30, tzinfo=UTC)),
        ("2026-03-08T14:30Z", datetime(2026, 3, 8, 14, 30, tzinfo=UTC)),
        # An explicit offset settles a repeated wall time.
        ("2026-11-01T01:30-04:00", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
        ("2026-11-01T01:30-05:00", datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
    ],
)
def test_parse_when_with_an_offset_ignores_the_zone(text: str, expected: datetime) -> None:
    parsed = parse_when(text, zone=LONDON)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("2026-03-07 14:30", NY, datetime(2026, 3, 7, 19, 30, tzinfo=UTC)),  # EST
        ("2026-03-08 14:30", NY, datetime(2026, 3, 8, 18, 30, tzinfo=UTC)),  # EDT
        ("2026-03-08T03:00", NY, datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),  # just after the gap
        ("2026-11-01 02:00", NY, datetime(2026, 11, 1, 7, 0, tzinfo=UTC)),  # just after repeat
        ("2026-07-01 09:00", LONDON, datetime(2026, 7, 1, 8, 0, tzinfo=UTC)),  # BST
        (" 2026-12-01 09:00 ", LONDON, datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),  # GMT
    ],
)
def test_parse_when_reads_a_naive_time_in_the_zone(
    text: str, zone: ZoneInfo, expected: datetime
) -> None:
    parsed = parse_when(text, zone=zone)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("2026-03-08 02:30", NY),
        ("2026-03-08 02:00", NY),
        ("2026-03-29 01:30", LONDON),
    ],
)
def test_parse_when_refuses_a_time_in_a_dst_gap(text: str, zone: ZoneInfo) -> None:
    with pytest.raises(InputError, match="does not exist") as caught:
        parse_when(text, zone=zone)
    assert caught.value.field == "at"


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("2026-11-01 01:30", NY),
        ("2026-11-01 01:00", NY),
        ("2026-10-25 01:30", LONDON),
    ],
)
def test_parse_when_refuses_a_repeated_time(text: str, zone: ZoneInfo) -> None:
    with pytest.raises(InputError, match="happens twice") as caught:
        parse_when(text, zone=zone)
    assert caught.value.field == "at"


def test_parse_when_repeated_time_error_offers_both_offsets() -> None:
    with pytest.raises(InputError) as caught:
        parse_when("2026-11-01 01:30", zone=NY)
    assert "2026-11-01T01:30-04:00" in caught.value.message
    assert "2026-11-01T01:30-05:00" in caught.value.message


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01 10:00", "2026-03-08 25:00"])
def test_parse_when_rejects_unreadable_text(text: str) -> None:
    with pytest.raises(InputError, match="is not a time") as caught:
        parse_when(text, zone=NY)
    assert caught.value.field == "at"


def test_parse_when_error_names_a_custom_field() -> None:
    with pytest.raises(InputError) as caught:
        parse_when("2026-03-08 02:30", zone=NY, field="performed_at")
    assert caught.value.field == "performed_at"


# --- check_treatment_time ----------------------------------------------------------------


@pytest.mark.parametrize(
    "performed_at",
    [
        NOW,
        NOW - timedelta(hours=1),
        NOW - timedelta(days=1),  # boundary: exactly a day ago
        NOW + timedelta(days=30),
        NOW + timedelta(days=365),  # boundary: exactly a year ahead
    ],
)
def test_check_treatment_time_accepts_the_last_day_up_to_a_year_ahead(
    performed_at: datetime,
) -> None:
    check_treatment_time(performed_at, now=NOW)


def test_check_treatment_time_rejects_more_than_a_day_in_the_past() -> None:
    with pytest.raises(InputError, match="more than a day in the past") as caught:
        check_treatment_time(NOW - timedelta(days=1, seconds=1), now=NOW)
    assert caught.value.field == "at"


def test_check_treatment_time_rejects_more_than_a_year_ahead() -> None:
    with pytest.raises(InputError, match="more than a year in the future") as caught:
        check_treatment_time(NOW + timedelta(days=365, seconds=1), now=NOW)
    assert caught.value.field == "at"


# --- numbers an aftercare text can reach -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("212 555 0199", "US", "+12125550199"),  # US: mobile and landline look alike
        ("+44 7400 123456", "US", "+447400123456"),  # a UK mobile, given in a US clinic
        ("07400 123456", "GB", "+447400123456"),
    ],
)
def test_a_mobile_number_is_accepted_for_texts(text: str, region: str, expected: str) -> None:
    assert parse_mobile(text, region=region) == expected


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("+44 20 7946 0958", "is a landline"),
        ("+1 900 555 1234", "is a premium-rate number"),
        ("+1 800 555 1234", "is a toll-free number"),
        ("+44 70 1234 5678", "is a personal (forwarding) number"),
        ("+44 55 1234 5678", "is a universal access number"),
        ("+44 76 4012 3456", "is a pager"),
        ("+8816 3123 4567", "is a satellite or other non-geographic number"),
        ("212 555 0199 ext. 12", "has an extension"),
    ],
)
def test_a_number_no_aftercare_text_can_reach_is_refused_saying_why(text: str, what: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_mobile(text, region="US")
    assert caught.value.field == "phone"
    assert caught.value.message.startswith(what)


def test_an_invalid_number_with_a_country_code_is_judged_by_that_country() -> None:
    # 07700 900xxx is reserved for drama in the UK: never a real number.
    with pytest.raises(InputError) as caught:
        parse_phone("+44 7700 900123", region="US")
    assert (
        caught.value.message == "'+44 7700 900123' is not a valid phone number for +44 (GB/GG/IM)"
    )


def test_an_email_pasted_with_white_space_is_trimmed() -> None:
    assert parse_email("  jane.doe@example.com \n") == "jane.doe@example.com"


# --- free text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Jane\t Doe \n", "Jane Doe"),
        ("Jane\u00a0Doe", "Jane Doe"),  # any white space becomes one space
        ("Jose\u0301", "Jos\u00e9"),  # NFC: one character for e with an accent
        ("\u0645\u06cc\u200c\u0631\u0632\u0627", "\u0645\u06cc\u200c\u0631\u0632\u0627"),  # ZWNJ
        ("Ann [/b] Markup", "Ann [/b] Markup"),  # markup is only text here: the CLI prints text
    ],
)
def test_free_text_is_normalised(text: str, expected: str) -> None:
    assert clean_text(text, field="name", longest=120) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Ann\x1b[31mRed", "must not contain U+001B (a control or unassigned character)"),
        ("Ann\x07", "must not contain U+0007 (a control or unassigned character)"),
        ("Ann\x9b31m", "must not contain U+009B (a control or unassigned character)"),
        ("Ann \u202egnp.exe", "must not contain U+202E (it reorders text)"),
        ("Ann \u2067Doe", "must not contain U+2067 (it reorders text)"),
        ("Ann\ud800", "must not contain U+D800 (a control or unassigned character)"),
        ("Ann\ue000", "must not contain U+E000 (a control or unassigned character)"),
        ("\u200b\u200b", "is required"),
        ("\ufeff \u200d", "is required"),
        ("   ", "is required"),
        ("x" * 121, "is longer than 120 characters"),
    ],
    ids=[
        "escape",
        "bell",
        "c1-control-sequence-introducer",
        "right-to-left-override",
        "isolate",
        "unpaired-surrogate",
        "private-use",
        "zero-width-only",
        "bom-and-joiner-only",
        "blank",
        "too-long",
    ],
)
def test_free_text_no_person_types_is_refused(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        clean_text(text, field="name", longest=120)
    assert (caught.value.field, caught.value.message) == ("name", message)


def test_a_time_zone_folder_is_not_a_time_zone() -> None:
    with pytest.raises(InputError) as caught:
        parse_zone("America")
    assert caught.value.message == "unknown time zone 'America' (use an IANA name)"
