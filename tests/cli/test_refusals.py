"""Values no command can use are refused with exit 2 and one `error: <field>: <message>` line
naming the option, never a traceback: ids beyond the database's 32-bit range, periods and
times at the ends of the calendar, lengths too long for it, text the database cannot hold."""

from __future__ import annotations

import pytest
from freezegun import freeze_time

from reminders.bootstrap import build_app
from reminders.settings import load_settings
from tests.cli.support import FROZEN, refused
from tests.support import log

LOG = ("log", "Jane Doe", "--treatment", "botox", "--phone", "2125550199", "--sms-consent")
CLINIC = (
    "clinic",
    "add",
    "--slug",
    "north",
    "--name",
    "North Clinic",
    "--phone",
    "+442071838750",
    "--timezone",
    "Europe/London",
)
TOO_BIG = "99999999999999999999"
BEYOND_32_BITS = str(2**31)


@pytest.fixture
def logged(any_database: str) -> int:
    """A treatment at 2:00 PM on the frozen clock."""
    with freeze_time(FROZEN):
        application = build_app(load_settings())
        treatment = log(application, at=None)
        application.close()
    return treatment.id


REFUSALS = [
    pytest.param(("show", TOO_BIG), "treatment_id: ", id="show-huge-id"),
    pytest.param(("show", BEYOND_32_BITS), "treatment_id: ", id="show-id-beyond-32-bits"),
    pytest.param(("show", "0"), "treatment_id: ", id="show-id-zero"),
    pytest.param(("show", "twelve"), "treatment_id: ", id="show-id-not-a-number"),
    pytest.param(("show", "-5"), "-5: no such option", id="show-negative-id"),
    pytest.param(("cancel", BEYOND_32_BITS), "treatment_id: ", id="cancel-id-beyond-32-bits"),
    pytest.param(
        ("reschedule", BEYOND_32_BITS, "--at", "2026-11-27 15:00"),
        "treatment_id: ",
        id="reschedule-id-beyond-32-bits",
    ),
    pytest.param(
        ("acknowledge", BEYOND_32_BITS, "--by", "Front desk"),
        "alert_id: ",
        id="acknowledge-id-beyond-32-bits",
    ),
    pytest.param(("list", "--days", "999999999"), "days: ", id="list-huge-days"),
    pytest.param(("list", "--days", "-1"), "days: ", id="list-negative-days"),
    pytest.param(("list", "--limit", "0"), "limit: ", id="list-no-limit"),
    pytest.param(("list", "--limit", TOO_BIG), "limit: ", id="list-huge-limit"),
    pytest.param(("list", "--dayz", "3"), "--dayz: no such option", id="list-unknown-option"),
    pytest.param(("failures", "--hours", TOO_BIG), "hours: ", id="failures-huge-hours"),
    pytest.param(("failures", "--hours", "0"), "hours: ", id="failures-no-hours"),
    pytest.param(
        ("preview", "--treatment", "botox", "--at", "9999-12-31T23:00:00+00:00"),
        "at: must be within 10 years of today",
        id="preview-at-the-end-of-the-calendar",
    ),
    pytest.param(
        ("preview", "--treatment", "botox", "--at", "0001-01-01T00:00:00+00:00"),
        "at: must be within 10 years of today",
        id="preview-at-the-start-of-the-calendar",
    ),
    pytest.param(
        ("preview", "--treatment", "botox", "--at", "0001-01-01 00:00", "--tz", "Asia/Tokyo"),
        "at: ",
        id="preview-local-time-before-the-calendar",
    ),
    pytest.param(
        ("preview", "--treatment", "botox", "--logged-at", "9999-12-30 23:00"),
        "logged-at: must be within 10 years of today",
        id="preview-logged-at-the-end-of-the-calendar",
    ),
    pytest.param(
        ("preview", "--treatment", "botox", "--restriction", f"{TOO_BIG}h"),
        "restriction: ",
        id="preview-restriction-too-long-for-the-calendar",
    ),
    pytest.param(
        (*LOG, "--patient-tz", "America"),
        "patient-tz: unknown time zone 'America'",
        id="log-patient-tz-a-folder",
    ),
    pytest.param(
        (*LOG, "--at", "9999-12-31T23:59:59-14:00"),
        "at: ",
        id="log-at-beyond-the-calendar-in-utc",
    ),
    pytest.param(
        (*LOG, "--restriction", f"{TOO_BIG}h"),
        "restriction: ",
        id="log-restriction-too-long-for-the-calendar",
    ),
    pytest.param(("log", "--treatment", "botox"), "name: is required", id="log-without-a-name"),
    pytest.param(
        (*CLINIC, "--restriction", f"{TOO_BIG}h"),
        "restriction: ",
        id="clinic-add-restriction-too-long-for-the-calendar",
    ),
    pytest.param(
        (*CLINIC, "--restriction", "999999999d"),
        "restriction: ",
        id="clinic-add-restriction-too-long",
    ),
    pytest.param(
        ("apikey", "create", "--clinic", "default", "--label", "x" * 81),
        "label: is longer than 80 characters",
        id="apikey-label-longer-than-the-column",
    ),
    pytest.param(
        ("apikey", "create", "--clinic", "\udcff"),
        "clinic: ",
        id="apikey-clinic-not-utf8",
    ),
    pytest.param(("apikey", "list", "--clinic", "\udcff"), "clinic: ", id="apikey-list-not-utf8"),
    pytest.param(("apikey", "revoke", "\udcff"), "prefix: ", id="apikey-revoke-not-utf8"),
    pytest.param(("frobnicate",), "command: ", id="unknown-command"),
]


@pytest.mark.parametrize(("args", "expected"), REFUSALS)
def test_a_value_no_command_can_use_is_refused_naming_its_option(
    any_database: str, args: tuple[str, ...], expected: str
) -> None:
    with freeze_time(FROZEN):
        line = refused(*args)
    assert line.startswith(f"error: {expected}"), line


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param(
            "9999-12-31T23:59:59+00:00",
            "at: is more than a year in the future",
            id="end-of-the-calendar",
        ),
        pytest.param(
            "0001-01-01T00:00:00+00:00",
            "at: is more than a day in the past",
            id="start-of-the-calendar",
        ),
        pytest.param("0001-01-01 00:00", "at: ", id="local-time-before-the-calendar"),
    ],
)
def test_reschedule_refuses_a_time_at_the_ends_of_the_calendar(
    logged: int, at: str, expected: str
) -> None:
    with freeze_time(FROZEN):
        line = refused("reschedule", str(logged), "--at", at, "--tz", "Asia/Tokyo", "--yes")
    assert line.startswith(f"error: {expected}"), line
