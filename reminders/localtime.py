"""Wall-clock helpers: instants are UTC; people read local time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def wall_time_to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The instant a wall time occurs on a day.

    A wall time skipped by a spring-forward gap resolves to the same elapsed
    offset past the gap (02:30 becomes 03:30); a repeated one to its first occurrence.
    """
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def start_of_local_day(instant: datetime, zone: ZoneInfo) -> datetime:
    """The instant the local day holding `instant` began (its first wall time)."""
    return wall_time_to_utc(instant.astimezone(zone).date(), time(0), zone)


def is_ambiguous(local: datetime) -> bool:
    """True when this wall time happens twice in its zone (the fall-back hour)."""
    other = local.replace(fold=1 - local.fold)
    return other.utcoffset() != local.utcoffset()


def format_clock(instant: datetime, zone: ZoneInfo, *, clock_24h: bool = False) -> str:
    """`6:30 PM` or `18:30`; where the wall time repeats, which of the two it is."""
    return _wall_clock(instant.astimezone(zone), clock_24h)


def _wall_clock(local: datetime, clock_24h: bool) -> str:
    # Digits by hand rather than strftime: planning formats several times per
    # message, and strftime is most of that cost. (`%p` is AM/PM in the C locale.)
    hour, minute = local.hour, local.minute
    if clock_24h:
        text = f"{hour:02d}:{minute:02d}"
    else:
        text = f"{hour % 12 or 12}:{minute:02d} {'AM' if hour < 12 else 'PM'}"
    if is_ambiguous(local):
        text += f" {_which_reading(local)}"
    return text


def _which_reading(local: datetime) -> str:
    """Names which of a repeated hour's readings this is: the zone's abbreviation where it
    has one (EDT or EST); where it has only a numeric one (+11), which no patient should
    have to read, "old time" before the clocks go back and "new time" after."""
    abbreviation = local.tzname() or ""
    if abbreviation.isalpha():
        return abbreviation
    return "(new time)" if local.fold else "(old time)"


def format_clock_relative(
    instant: datetime, reference: datetime, zone: ZoneInfo, *, clock_24h: bool = False
) -> str:
    """A clock time as read on the reference day.

    `6:30 PM`, `6:30 PM tomorrow`, `6:30 PM yesterday` or `6:30 PM on Sat 3 Mar`.
    """
    local = instant.astimezone(zone)
    text = _wall_clock(local, clock_24h)
    days = (local.date() - reference.astimezone(zone).date()).days
    if days == 0:
        return text
    if days in _NEAR_DAYS:
        return f"{text} {_NEAR_DAYS[days]}"
    return f"{text} on {local:%a} {local.day} {local:%b}"


_NEAR_DAYS = {1: "tomorrow", -1: "yesterday"}


def format_staff(instant: datetime, zone: ZoneInfo) -> str:
    """What staff screens show: `2026-03-08 05:30 EDT`."""
    return f"{instant.astimezone(zone):%Y-%m-%d %H:%M %Z}"


def in_span(wall: time, start: time, end: time) -> bool:
    if start <= end:
        return start <= wall < end
    return wall >= start or wall < end


def next_wall_time(after: datetime, wall: time, zone: ZoneInfo) -> datetime:
    """The first instant at or after `after` whose local wall time is `wall`."""
    local = after.astimezone(zone)
    for days in range(3):
        day = local.date() + timedelta(days=days)
        # Both readings of a wall time the fall-back hour repeats; one of a gap time.
        readings = sorted({wall_time_to_utc(day, wall, zone), _second_reading(day, wall, zone)})
        for candidate in readings:
            if candidate >= after:
                return candidate
    raise AssertionError("a wall time recurs within three days")


def _second_reading(day: date, wall: time, zone: ZoneInfo) -> datetime:
    second = datetime.combine(day, wall, tzinfo=zone).replace(fold=1)
    if second.astimezone(UTC).astimezone(zone).time() != wall:
        return wall_time_to_utc(day, wall, zone)  # a gap: no second reading
    return second.astimezone(UTC)
