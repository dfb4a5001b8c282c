"""Wall-clock helpers: instants are UTC, people read local time, DST days included."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from reminders.localtime import (
    format_clock,
    format_clock_relative,
    format_staff,
    in_span,
    is_ambiguous,
    next_wall_time,
    wall_time_to_utc,
)

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- wall_time_to_utc --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "wall", "zone", "expected"),
    [
        (date(2026, 3, 7), time(14, 30), NY, utc(2026, 3, 7, 19, 30)),  # EST
        (date(2026, 3, 9), time(14, 30), NY, utc(2026, 3, 9, 18, 30)),  # EDT
        (date(2026, 7, 1), time(8, 0), LONDON, utc(2026, 7, 1, 7, 0)),  # BST
        (date(2026, 12, 1), time(8, 0), LONDON, utc(2026, 12, 1, 8, 0)),  # GMT
    ],
)
def test_wall_time_to_utc_uses_the_offset_in_force_that_day(
    day: date, wall: time, zone: ZoneInfo, expected: datetime
) -> None:
    assert wall_time_to_utc(day, wall, zone) == expected


@pytest.mark.parametrize(
    ("day", "wall", "zone", "expected", "expected_local"),
    [
        # 02:30 does not exist in New York on 2026-03-08: it resolves to 03:30 EDT.
        (date(2026, 3, 8), time(2, 30), NY, utc(2026, 3, 8, 7, 30), time(3, 30)),
        (date(2026, 3, 8), time(2, 0), NY, utc(2026, 3, 8, 7, 0), time(3, 0)),
        # 01:15 does not exist in London on 2026-03-29: it resolves to 02:15 BST.
        (date(2026, 3, 29), time(1, 15), LONDON, utc(2026, 3, 29, 1, 15), time(2, 15)),
    ],
)
def test_wall_time_to_utc_in_a_spring_forward_gap_resolves_forward(
    day: date, wall: time, zone: ZoneInfo, expected: datetime, expected_local: time
) -> None:
    instant = wall_time_to_utc(day, wall, zone)
    assert instant == expected
    assert instant.astimezone(zone).time() == expected_local


@pytest.mark.parametrize(
    ("day", "wall", "zone", "expected"),
    [
        (date(2026, 11, 1), time(1, 30), NY, utc(2026, 11, 1, 5, 30)),  # 01:30 EDT, not EST
        (date(2026, 10, 25), time(1, 30), LONDON, utc(2026, 10, 25, 0, 30)),  # BST, not GMT
    ],
)
def test_wall_time_to_utc_of_a_repeated_time_is_its_first_occurrence(
    day: date, wall: time, zone: ZoneInfo, expected: datetime
) -> None:
    assert wall_time_to_utc(day, wall, zone) == expected


def test_wall_time_to_utc_returns_a_utc_instant() -> None:
    assert wall_time_to_utc(date(2026, 3, 8), time(12, 0), NY).tzinfo is UTC


# --- is_ambiguous ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "zone", "expected"),
    [
        (utc(2026, 11, 1, 5, 30), NY, True),  # 01:30 EDT
        (utc(2026, 11, 1, 6, 30), NY, True),  # 01:30 EST
        (utc(2026, 11, 1, 4, 59), NY, False),  # 00:59 EDT
        (utc(2026, 11, 1, 7, 0), NY, False),  # 02:00 EST
        (utc(2026, 3, 8, 7, 30), NY, False),  # 03:30 EDT, just after the gap
        (utc(2026, 10, 25, 0, 30), LONDON, True),  # 01:30 BST
        (utc(2026, 10, 25, 1, 30), LONDON, True),  # 01:30 GMT
        (utc(2026, 10, 25, 2, 0), LONDON, False),  # 02:00 GMT
        (utc(2026, 7, 1, 12, 0), LONDON, False),
    ],
)
def test_is_ambiguous_only_in_the_fall_back_hour(
    instant: datetime, zone: ZoneInfo, expected: bool
) -> None:
    assert is_ambiguous(instant.astimezone(zone)) is expected


# --- format_clock ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "expected_12h", "expected_24h"),
    [
        (utc(2026, 3, 7, 23, 30), "6:30 PM", "18:30"),
        (utc(2026, 3, 7, 5, 5), "12:05 AM", "00:05"),
        (utc(2026, 3, 7, 17, 0), "12:00 PM", "12:00"),
        (utc(2026, 3, 8, 9, 30), "5:30 AM", "05:30"),  # EDT, after the gap
        (utc(2026, 3, 7, 15, 45), "10:45 AM", "10:45"),
        (utc(2026, 3, 7, 16, 59), "11:59 AM", "11:59"),
        (utc(2026, 3, 8, 4, 59), "11:59 PM", "23:59"),
    ],
)
def test_format_clock_12h_and_24h(instant: datetime, expected_12h: str, expected_24h: str) -> None:
    assert format_clock(instant, NY) == expected_12h
    assert format_clock(instant, NY, clock_24h=True) == expected_24h


@pytest.mark.parametrize(
    ("instant", "zone", "expected"),
    [
        (utc(2026, 11, 1, 5, 30), NY, "1:30 AM EDT"),
        (utc(2026, 11, 1, 6, 30), NY, "1:30 AM EST"),
        (utc(2026, 10, 25, 0, 30), LONDON, "1:30 AM BST"),
        (utc(2026, 10, 25, 1, 30), LONDON, "1:30 AM GMT"),
    ],
)
def test_format_clock_names_the_zone_for_a_repeated_wall_time(
    instant: datetime, zone: ZoneInfo, expected: str
) -> None:
    assert format_clock(instant, zone) == expected


def test_format_clock_24h_names_the_zone_for_a_repeated_wall_time() -> None:
    assert format_clock(utc(2026, 11, 1, 6, 30), NY, clock_24h=True) == "01:30 EST"


@pytest.mark.parametrize(
    "instant",
    [utc(2026, 11, 1, 7, 30), utc(2026, 11, 1, 4, 30), utc(2026, 3, 8, 7, 30)],
)
def test_format_clock_omits_the_zone_for_an_unrepeated_wall_time(instant: datetime) -> None:
    assert format_clock(instant, NY)[-2:] in {"AM", "PM"}


# --- format_clock_relative ---------------------------------------------------------------


def test_format_clock_relative_same_local_day_is_the_bare_time() -> None:
    reference = utc(2026, 3, 7, 15, 0)  # 10:00 EST Sat
    assert format_clock_relative(utc(2026, 3, 7, 23, 30), reference, NY) == "6:30 PM"


def test_format_clock_relative_next_local_day_says_tomorrow() -> None:
    reference = utc(2026, 3, 7, 23, 0)  # 18:00 EST Sat 7 Mar
    assert format_clock_relative(utc(2026, 3, 8, 9, 30), reference, NY) == "5:30 AM tomorrow"


def test_format_clock_relative_counts_days_in_local_time_not_utc() -> None:
    # Both instants are 2026-03-08 in UTC, but 7 Mar and 8 Mar in New York.
    reference = utc(2026, 3, 8, 2, 0)  # 21:00 EST Sat 7 Mar
    assert format_clock_relative(utc(2026, 3, 8, 14, 0), reference, NY) == "10:00 AM tomorrow"


def test_format_clock_relative_two_days_ahead_names_the_day() -> None:
    reference = utc(2026, 3, 5, 15, 0)  # Thu 5 Mar
    assert format_clock_relative(utc(2026, 3, 7, 23, 30), reference, NY) == "6:30 PM on Sat 7 Mar"


def test_format_clock_relative_the_day_before_is_yesterday() -> None:
    reference = utc(2026, 3, 8, 13, 0)  # 09:00 EDT Sun 8 Mar
    assert format_clock_relative(utc(2026, 3, 8, 3, 0), reference, NY) == "10:00 PM yesterday"


def test_format_clock_relative_an_earlier_day_names_the_day() -> None:
    reference = utc(2026, 3, 9, 13, 0)  # 09:00 EDT Mon 9 Mar
    assert format_clock_relative(utc(2026, 3, 8, 3, 0), reference, NY) == "10:00 PM on Sat 7 Mar"


def test_a_repeated_hour_is_named_by_the_zones_abbreviation() -> None:
    # 1:30 AM happens twice in New York on 2026-11-01: EDT, then EST.
    assert format_clock(utc(2026, 11, 1, 5, 30), NY) == "1:30 AM EDT"
    assert format_clock(utc(2026, 11, 1, 6, 30), NY) == "1:30 AM EST"


def test_a_repeated_hour_in_a_zone_with_numeric_abbreviations_says_old_or_new_time() -> None:
    # Lord Howe goes back half an hour at 2:00 AM; its abbreviations are +11 and +1030.
    zone = ZoneInfo("Australia/Lord_Howe")
    first, second = utc(2026, 4, 4, 14, 45), utc(2026, 4, 4, 15, 15)
    assert format_clock(first, zone) == "1:45 AM (old time)"
    assert format_clock(second, zone) == "1:45 AM (new time)"


def test_format_clock_relative_24h() -> None:
    reference = utc(2026, 3, 7, 23, 0)
    assert (
        format_clock_relative(utc(2026, 3, 8, 9, 30), reference, NY, clock_24h=True)
        == "05:30 tomorrow"
    )


def test_format_clock_relative_keeps_the_zone_on_a_repeated_time() -> None:
    reference = utc(2026, 11, 1, 2, 30)  # 22:30 EDT Sat 31 Oct
    assert format_clock_relative(utc(2026, 11, 1, 6, 30), reference, NY) == "1:30 AM EST tomorrow"


# --- format_staff ------------------------------------------------------------------------


def test_format_staff_shows_date_time_and_abbreviation() -> None:
    assert format_staff(utc(2026, 3, 8, 9, 30), NY) == "2026-03-08 05:30 EDT"


# --- in_span -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        (time(20, 59), False),
        (time(21, 0), True),
        (time(23, 59), True),
        (time(0, 0), True),
        (time(2, 0), True),
        (time(7, 59, 59), True),
        (time(8, 0), False),
        (time(12, 0), False),
    ],
)
def test_in_span_across_midnight(wall: time, expected: bool) -> None:
    assert in_span(wall, time(21, 0), time(8, 0)) is expected


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        (time(0, 59), False),
        (time(1, 0), True),
        (time(5, 59), True),
        (time(6, 0), False),
        (time(23, 0), False),
    ],
)
def test_in_span_within_one_day(wall: time, expected: bool) -> None:
    assert in_span(wall, time(1, 0), time(6, 0)) is expected


# --- next_wall_time ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "wall", "zone", "expected"),
    [
        # 02:00 EST -> 08:00 EST the same morning.
        (utc(2026, 3, 7, 7, 0), time(8, 0), NY, utc(2026, 3, 7, 13, 0)),
        # 23:00 EST -> 08:00 the next morning.
        (utc(2026, 3, 7, 4, 0), time(8, 0), NY, utc(2026, 3, 7, 13, 0)),
        # Exactly 08:00 is "at or after".
        (utc(2026, 3, 7, 13, 0), time(8, 0), NY, utc(2026, 3, 7, 13, 0)),
        # One second past 08:00 -> the next day's 08:00.
        (utc(2026, 3, 7, 13, 0, 1), time(8, 0), NY, utc(2026, 3, 8, 12, 0)),
        # Spring-forward morning: 08:00 is EDT (UTC-4).
        (utc(2026, 3, 8, 7, 0), time(8, 0), NY, utc(2026, 3, 8, 12, 0)),
        # Fall-back morning: 08:00 is EST (UTC-5).
        (utc(2026, 11, 1, 6, 0), time(8, 0), NY, utc(2026, 11, 1, 13, 0)),
        # London on both change days.
        (utc(2026, 3, 29, 1, 0), time(8, 0), LONDON, utc(2026, 3, 29, 7, 0)),
        (utc(2026, 10, 25, 1, 0), time(8, 0), LONDON, utc(2026, 10, 25, 8, 0)),
    ],
)
def test_next_wall_time_is_the_first_matching_instant_at_or_after(
    after: datetime, wall: time, zone: ZoneInfo, expected: datetime
) -> None:
    assert next_wall_time(after, wall, zone) == expected


def test_next_wall_time_in_a_gap_resolves_forward() -> None:
    # 02:30 does not exist on 2026-03-08 in New York; the first instant reading past it is 03:30.
    assert next_wall_time(utc(2026, 3, 8, 5, 0), time(2, 30), NY) == utc(2026, 3, 8, 7, 30)


def test_next_wall_time_finds_the_second_occurrence_of_a_repeated_time() -> None:
    # At 01:15 EST (second pass through the repeated hour), 01:30 EST is 15 minutes away.
    after = utc(2026, 11, 1, 6, 15)
    assert next_wall_time(after, time(1, 30), NY) == utc(2026, 11, 1, 6, 30)
