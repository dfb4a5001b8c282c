"""Whatever a person types, a command ends in its result (exit 0) or in a refusal naming
the option (exit 2, `error: <field>: ...`): never a traceback (exit 1). Hypothesis tries
numbers of every size, times at the ends of the calendar and text of every kind, including
what Python makes of bytes on a command line that are not UTF-8 (lone surrogates)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli.support import FROZEN, assert_ends_cleanly, invoke

# Bounded and reproducible; no .hypothesis/ example database in the tree. Each example is
# a command run in this process (about 40 ms: the app is built and its schema checked);
# the data folder is the test's own, shared by its examples.
PROPERTY = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any size of number, with the edges that matter written out: 32- and 64-bit, zero, negative.
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 10**20, 999999999]),
).map(str)
# Text of every kind: controls, markup, bidirectional overrides, lone surrogates.
any_text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(exclude_categories=()), max_size=12),
    st.sampled_from(["", " ", "[/b]", "[link=https://evil.example]x[/link]", "\x1b]8;;x\x07"]),
)
zones = [
    UTC,
    timezone(timedelta(hours=14)),
    timezone(-timedelta(hours=12)),
    ZoneInfo("America/New_York"),
    ZoneInfo("Asia/Tokyo"),
    None,
]
# Times from year 1 to 9999, with and without an offset, and at the calendar's very ends.
instants = st.one_of(
    st.datetimes(timezones=st.sampled_from(zones)).map(lambda d: d.isoformat()),
    st.datetimes(
        min_value=datetime(2026, 11, 25), max_value=datetime(2027, 12, 1), timezones=st.none()
    ).map(lambda d: d.isoformat(sep=" ", timespec="minutes")),
    st.sampled_from(
        [
            "9999-12-31T23:59:59+00:00",
            "9999-12-31T23:59:59-14:00",
            "9999-12-31 23:59",
            "0001-01-01T00:00:00+00:00",
            "0001-01-01T00:00:00+14:00",
            "0001-01-01 00:00",
            "2026-03-08 02:30",
            "2026-11-01 01:30",
        ]
    ),
)
times = st.one_of(instants, any_text)
lengths = st.one_of(
    st.from_regex(r"\A[0-9]{1,25}[dhms]\Z"),
    st.sampled_from(["4h", "6h", "1d", "0m", "99999999999999999999h", "999999999d"]),
    any_text,
)
tz_names = st.one_of(
    st.sampled_from(["America/New_York", "Asia/Tokyo", "UTC", "America", "Etc/GMT+12", ".."]),
    any_text,
)


def ends_cleanly(*args: str) -> None:
    with freeze_time(FROZEN):
        result = invoke(*args)
    assert_ends_cleanly(result)


ID_COMMANDS = {
    "show": (),
    "cancel": ("--dry-run",),
    "acknowledge": ("--by", "Front desk"),
    "reschedule": ("--restriction", "6h", "--reason", "runner", "--dry-run"),
}


@PROPERTY
@given(command=st.sampled_from(sorted(ID_COMMANDS)), number=numbers)
def test_any_id(env: dict[str, str], command: str, number: str) -> None:
    ends_cleanly(command, number, *ID_COMMANDS[command])


@settings(PROPERTY, max_examples=60)
@given(days=numbers, limit=numbers, hours=numbers)
def test_any_period_and_limit(env: dict[str, str], days: str, limit: str, hours: str) -> None:
    ends_cleanly("list", f"--days={days}", f"--limit={limit}")
    ends_cleanly("failures", f"--hours={hours}")


@PROPERTY
@given(at=times, tz=tz_names, restriction=lengths, logged_at=st.none() | times)
def test_preview_any_time_zone_and_restriction(
    env: dict[str, str], at: str, tz: str, restriction: str, logged_at: str | None
) -> None:
    logged = (f"--logged-at={logged_at}",) if logged_at is not None else ()
    ends_cleanly(
        "preview",
        "--treatment=botox",
        f"--at={at}",
        f"--tz={tz}",
        f"--restriction={restriction}",
        *logged,
    )


@PROPERTY
@given(
    name=any_text,
    phone=st.one_of(any_text, st.sampled_from(["2125550199", "+442071838750"])),
    at=times,
)
def test_log_any_name_phone_and_time(env: dict[str, str], name: str, phone: str, at: str) -> None:
    ends_cleanly(
        "log", "--treatment=botox", "--sms-consent", f"--phone={phone}", f"--at={at}", "--", name
    )


@pytest.fixture
def logged(env: dict[str, str]) -> str:
    """A treatment to correct, logged once for all the examples: its id."""
    with freeze_time(FROZEN):
        result = invoke(
            "log", "Jane Doe", "--treatment=botox", "--phone=2125550199", "--sms-consent"
        )
    assert result.exit_code == 0, result.output
    return "1"


@PROPERTY
@given(at=times, tz=tz_names, restriction=st.none() | lengths)
def test_reschedule_any_time_and_restriction(
    logged: str, at: str, tz: str, restriction: str | None
) -> None:
    length = (f"--restriction={restriction}", "--reason=runner") if restriction else ()
    ends_cleanly("reschedule", logged, f"--at={at}", f"--tz={tz}", *length, "--no-notify=called")


@settings(PROPERTY, max_examples=60)
@given(restriction=lengths, quiet_hours=any_text)
def test_clinic_add_any_restriction_and_quiet_hours(
    env: dict[str, str], restriction: str, quiet_hours: str
) -> None:
    ends_cleanly(
        "clinic",
        "add",
        "--slug=north",
        "--name=North Clinic",
        "--phone=+442071838750",
        "--timezone=Europe/London",
        f"--restriction={restriction}",
        f"--quiet-hours={quiet_hours}",
    )
