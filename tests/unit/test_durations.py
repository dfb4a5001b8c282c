"""Compact durations (`4h`, `1h30m`) and the words patients read (`4 hours`)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reminders.durations import describe_duration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0m", timedelta(0)),
        ("90m", timedelta(minutes=90)),
        ("4h", timedelta(hours=4)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("45s", timedelta(seconds=45)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ],
)
def test_parse_duration_reads_compact_form(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" 4h ", timedelta(hours=4)),
        ("4H", timedelta(hours=4)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
    ],
)
def test_parse_duration_ignores_case_and_spaces(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "4", "h", "4x", "-4h", "4.5h", "1h30", "four hours", "4hours", "4h-"],
)
def test_parse_duration_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(0), "0m"),
        (timedelta(hours=4), "4h"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=2), "2d"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4), "1d2h3m4s"),
    ],
)
def test_format_duration_writes_compact_form(delta: timedelta, expected: str) -> None:
    assert format_duration(delta) == expected


@pytest.mark.parametrize("text", ["0m", "4h", "6h", "1d", "1h30m", "2d", "15m", "1d2h3m4s"])
def test_format_duration_of_parsed_canonical_text_is_the_same_text(text: str) -> None:
    assert format_duration(parse_duration(text)) == text


def test_format_duration_writes_whole_days_as_days() -> None:
    assert format_duration(parse_duration("24h")) == "1d"


@pytest.mark.parametrize(
    "delta",
    [
        timedelta(0),
        timedelta(seconds=1),
        timedelta(minutes=15),
        timedelta(hours=4) - timedelta(seconds=1),
        timedelta(hours=24),
        timedelta(days=7),
    ],
)
def test_parse_duration_reads_back_format_duration(delta: timedelta) -> None:
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(hours=4), "4 hours"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(hours=24), "24 hours"),
        (timedelta(hours=24, minutes=1), "1 day and 1 minute"),
        (timedelta(hours=30), "1 day and 6 hours"),
        (timedelta(days=1, hours=6, minutes=5), "1 day, 6 hours and 5 minutes"),
        (timedelta(days=7), "7 days"),
        (timedelta(days=2, minutes=1), "2 days and 1 minute"),
        (timedelta(hours=2, minutes=40), "2 hours and 40 minutes"),
        (timedelta(hours=1, minutes=1), "1 hour and 1 minute"),
        (timedelta(minutes=45), "45 minutes"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(0), "0 minutes"),
    ],
)
def test_describe_duration_wording(delta: timedelta, expected: str) -> None:
    assert describe_duration(delta) == expected


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=59), "0 minutes"),
        (timedelta(seconds=119), "1 minute"),
        (timedelta(hours=4) - timedelta(seconds=1), "3 hours and 59 minutes"),
        (timedelta(hours=3, seconds=59), "3 hours"),
        (timedelta(minutes=15) - timedelta(microseconds=1), "14 minutes"),
    ],
)
def test_describe_duration_rounds_down_to_the_minute(delta: timedelta, expected: str) -> None:
    assert describe_duration(delta) == expected
