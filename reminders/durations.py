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
    """Words a patient reads: `4 hours`, `2 hours 40 minutes`, `45 minutes`.

    Rounded down to the minute so a text never promises more time than is left.
    """
    minutes = int(delta.total_seconds()) // 60
    hours, minutes = divmod(minutes, 60)
    words = []
    if hours:
        words.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if minutes or not hours:
        words.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(words)
