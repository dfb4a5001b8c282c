"""Elapsed-time durations written as `90m`, `4h`, `1h30m`, `2d`."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache

_PART = re.compile(r"(\d+)([dhms])")
_WHOLE = re.compile(r"(?:\d+[dhms])+")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


@lru_cache(maxsize=256)
def parse_duration(text: str) -> timedelta:
    """Parse a compact duration; raises ValueError naming the accepted form.

    Cached: the worker reads each message's restriction length as text.
    """
    cleaned = text.strip().lower().replace(" ", "")
    if not _WHOLE.fullmatch(cleaned):
        raise ValueError(f"{text!r} is not a duration like 0m, 90m, 4h, 1h30m or 2d")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(cleaned))
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Compact form that parse_duration reads back: `4h`, `1h30m`, `0m`."""
    total = int(delta.total_seconds())
    if total == 0:
        return "0m"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, total = divmod(total, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def describe_duration(delta: timedelta) -> str:
    """Words a patient reads: `4 hours`, `2 hours and 40 minutes`, `1 day and 6 hours`,
    `7 days`. Up to a day and an hour it counts hours ("24 hours" reads more naturally
    than "1 day" for the day after a treatment); beyond, days.

    Rounded down to the minute so a text never promises more time than is left.
    """
    minutes = int(delta.total_seconds()) // 60
    hours, minutes = divmod(minutes, 60)
    days = 0
    if hours * 60 + minutes > DAYS_FROM_MINUTES:
        days, hours = divmod(hours, 24)
    parts = [
        _count(count, unit)
        for count, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"))
        if count
    ]
    if not parts:
        return "0 minutes"
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


# Durations longer than this read in days: 25 hours is "1 day and 1 hour".
DAYS_FROM_MINUTES = 24 * 60


def _count(count: int, unit: str) -> str:
    return f"{count} {unit}{'s' if count != 1 else ''}"
