"""The `reminders` command end to end: a real process on a SQLite file in a temporary folder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reminders.db import migrate
from tests.e2e.helpers import (
    CLINIC_ZONE,
    LIST_COLUMNS,
    Result,
    cli_env,
    database,
    expected_all_clear_due,
    logged_id,
    run_cli,
    shown_messages,
    sqlite_url,
    squash,
    staff_time,
    table_rows,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


class Cli:
    """`reminders` run in a temporary folder, with its data there too."""

    def __init__(self, root: Path) -> None:
        self.cwd = root
        self.data_dir = root / "data"
        self.env = cli_env(self.data_dir)

    def __call__(self, *args: str) -> Result:
        return run_cli(args, env=self.env, cwd=self.cwd)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.returncode == 0, result.describe()
        return result

    def refused(self, *args: str) -> Result:
        """A clear error: exit 2, one `error: field: ...` line, no traceback."""
        result = self(*args)
        assert result.returncode == 2, result.describe()
        assert "Traceback" not in result.stderr, result.describe()
        assert squash(result.stderr).startswith("error: "), result.describe()
        return result

    def stored(self) -> dict[str, int]:
        """Rows a command could have written; none when the file was never created."""
        tables = ("patients", "treatments", "messages", "message_events")
        if not (self.data_dir / "reminders.db").exists():
            return dict.fromkeys(tables, 0)
        with database(sqlite_url(self.data_dir)) as db:
            return {table: db.count(table) for table in tables}


NOTHING = {"patients": 0, "treatments": 0, "messages": 0, "message_events": 0}


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def _minutes_ago(minutes: int) -> datetime:
    """A whole minute, `minutes` before now: what the front desk would type."""
    return (datetime.now(UTC) - timedelta(minutes=minutes)).replace(second=0, microsecond=0)


def _iso_local(instant: datetime) -> str:
    """ISO 8601 with the clinic's offset, e.g. 2026-11-27T14:05-05:00."""
    return instant.astimezone(CLINIC_ZONE).isoformat(timespec="minutes")


def test_log_with_a_national_phone_prints_the_id_and_stores_e164(cli: Cli) -> None:
    result = cli.ok(
        "log", "Jane Doe", "--treatment", "botox", "--sms-consent", "--phone", "(212) 555-0199"
    )

    treatment_id = logged_id(result)
    assert "+12125550199" in result.stdout
    with database(sqlite_url(cli.data_dir)) as db:
        assert db.count("treatments") == 1
        assert db.scalar("SELECT id FROM treatments") == treatment_id
        assert db.scalar("SELECT phone FROM patients") == "+12125550199"
        assert db.scalar("SELECT name FROM patients") == "Jane Doe"
    steps = [(m.step, m.state) for m in shown_messages(result.stdout)]
    assert steps == [("avoid", "pending"), ("all_clear", "pending")]


def test_log_with_an_unknown_treatment_type_names_the_field_and_stores_nothing(cli: Cli) -> None:
    result = cli.refused(
        "log", "Jane Doe", "--treatment", "fillerz", "--sms-consent", "--phone", "2125550199"
    )

    message = squash(result.stderr)
    assert "treatment:" in message
    assert "'fillerz'" in message
    assert "known: botox" in message
    assert result.stdout == ""
    assert cli.stored() == NOTHING

    listing = cli.ok("list")
    assert table_rows(listing.stdout, LIST_COLUMNS) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ("log", "Jane Doe", "--treatment", "botox", "--sms-consent", "--phone", "123"),
            ["phone:", "'123' is not a valid phone number"],
            id="invalid-phone",
        ),
        pytest.param(
            ("log", "Jane Doe", "--treatment", "botox", "--sms-consent", "--phone", "not a number"),
            ["phone:", "'not a number' is not a phone number"],
            id="not-a-phone",
        ),
        pytest.param(
            (
                "log",
                "Jane Doe",
                "--treatment",
                "botox",
                "--sms-consent",
                "--phone",
                "2125550199",
                "--at",
                "2 days",
            ),
            ["at:", "is not a time like"],
            id="unreadable-time",
        ),
        pytest.param(
            (
                "preview",
                "--treatment",
                "botox",
                "--at",
                "2026-11-01 01:30",
                "--tz",
                "America/New_York",
            ),
            [
                "at:",
                "2026-11-01 01:30 happens twice in America/New_York",
                "2026-11-01T01:30-04:00",
                "2026-11-01T01:30-05:00",
            ],
            id="ambiguous-local-time",
        ),
        pytest.param(
            (
                "preview",
                "--treatment",
                "botox",
                "--at",
                "2026-03-08 02:30",
                "--tz",
                "America/New_York",
            ),
            ["at:", "2026-03-08 02:30 does not exist in America/New_York"],
            id="skipped-local-time",
        ),
        pytest.param(
            ("preview", "--treatment", "botox", "--tz", "Mars/Olympus_Mons"),
            ["tz:", "unknown time zone 'Mars/Olympus_Mons'"],
            id="unknown-zone",
        ),
    ],
)
def test_bad_input_is_a_clear_error_and_stores_nothing(
    cli: Cli, args: tuple[str, ...], expected: list[str]
) -> None:
    result = cli.refused(*args)

    message = squash(result.stderr)
    for part in expected:
        assert part in message, result.describe()
    assert cli.stored() == NOTHING


def test_log_more_than_a_day_in_the_past_is_refused(cli: Cli) -> None:
    stale = (datetime.now(UTC) - timedelta(days=1, minutes=30)).isoformat(timespec="minutes")

    result = cli.refused(
        "log",
        "Jane Doe",
        "--treatment",
        "botox",
        "--sms-consent",
        "--phone",
        "2125550199",
        "--at",
        stale,
    )

    assert "at: is more than a day in the past" in squash(result.stderr)
    assert cli.stored() == NOTHING


def test_show_list_and_cancel(cli: Cli) -> None:
    performed = _minutes_ago(5)
    logged = cli.ok(
        "log",
        "Jane Doe",
        "--treatment",
        "botox",
        "--sms-consent",
        "--phone",
        "2125550199",
        "--at",
        _iso_local(performed),
    )
    treatment_id = logged_id(logged)

    shown = cli.ok("show", str(treatment_id))
    text = squash(shown.stdout)
    assert f"Treatment {treatment_id} botox active" in text
    assert f"performed {staff_time(performed)}" in text
    messages = shown_messages(shown.stdout)
    assert [(m.step, m.state) for m in messages] == [("avoid", "pending"), ("all_clear", "pending")]
    all_clear = messages[1]
    assert all_clear.due == staff_time(expected_all_clear_due(performed))
    assert all_clear.sent == "-"

    listing = cli.ok("list")
    rows = table_rows(listing.stdout, LIST_COLUMNS)
    assert [(int(r[0]), int(r[1]), r[2], r[3], r[5]) for r in rows] == [
        (m.id, treatment_id, "Jane Doe", m.step, "pending") for m in messages
    ]

    cancelled = cli.ok("cancel", str(treatment_id), "--reason", "patient rebooked")
    assert squash(cancelled.stdout) == (
        f"Treatment {treatment_id} cancelled; 2 message(s) will not be sent."
    )

    after = cli.ok("show", str(treatment_id))
    text = squash(after.stdout)
    assert f"Treatment {treatment_id} botox cancelled" in text
    assert "cancelled: patient rebooked" in text
    assert [(m.step, m.state) for m in shown_messages(after.stdout)] == [
        ("avoid", "cancelled"),
        ("all_clear", "cancelled"),
    ]
    with database(sqlite_url(cli.data_dir)) as db:
        reasons = [db.scalar("SELECT reason FROM messages WHERE id = :i", i=m.id) for m in messages]
    assert reasons == ["patient rebooked", "patient rebooked"]

    again = cli.ok("cancel", str(treatment_id))
    assert (
        squash(again.stdout)
        == f"Treatment {treatment_id} cancelled; 0 message(s) will not be sent."
    )
    assert "cancelled: patient rebooked" in squash(cli.ok("show", str(treatment_id)).stdout)


def test_show_an_unknown_treatment_is_a_clear_error(cli: Cli) -> None:
    result = cli.refused("show", "999")
    assert "treatment 999 not found" in squash(result.stderr)


def test_reschedule_replans_pending_messages(cli: Cli) -> None:
    first = _minutes_ago(2)
    treatment_id = logged_id(
        cli.ok(
            "log",
            "Jane Doe",
            "--treatment",
            "botox",
            "--sms-consent",
            "--phone",
            "+12125550199",
            "--at",
            _iso_local(first),
        )
    )
    corrected = _minutes_ago(40)

    result = cli.ok("reschedule", str(treatment_id), "--at", _iso_local(corrected))

    text = squash(result.stdout)
    assert f"performed {staff_time(corrected)}" in text
    messages = shown_messages(result.stdout)
    assert [(m.step, m.state) for m in messages] == [
        ("avoid", "cancelled"),
        ("all_clear", "cancelled"),
        ("avoid", "pending"),
        ("all_clear", "pending"),
    ]
    assert messages[3].due == staff_time(expected_all_clear_due(corrected))
    assert f"re-planned: treatment time corrected to {staff_time(corrected)}" in text

    # Out of bounds: refused, and the treatment is left as it was.
    stale = (datetime.now(UTC) - timedelta(days=2)).isoformat(timespec="minutes")
    refused = cli.refused("reschedule", str(treatment_id), "--at", stale)
    assert "at: is more than a day in the past" in squash(refused.stderr)

    shown = cli.ok("show", str(treatment_id))
    assert f"performed {staff_time(corrected)}" in squash(shown.stdout)
    assert shown_messages(shown.stdout) == messages


def test_preview_keeps_elapsed_time_across_spring_forward_and_stores_nothing(cli: Cli) -> None:
    result = cli.ok(
        "preview", "--treatment", "botox", "--at", "2026-03-08 00:30", "--tz", "America/New_York"
    )

    text = squash(result.stdout)
    # 00:30 EST + 4 h elapsed is 05:30 EDT: the clocks skipped 02:00-03:00.
    assert "2026-03-08 05:30 EDT" in text
    assert (
        "treatment 2026-03-08 00:30 EST; restriction ends 2026-03-08 05:30 EDT (4 h elapsed)"
        in text
    )
    assert cli.stored() == NOTHING


def test_policies_check(cli: Cli) -> None:
    result = cli.ok("policies", "check")
    assert "1 policy file(s) OK" in squash(result.stdout)
    assert result.stderr == ""


def test_db_upgrade_prints_the_revision(cli: Cli) -> None:
    result = cli.ok("db", "upgrade")
    assert squash(result.stdout) == f"database at revision {migrate.head_revision()}"
    assert (cli.data_dir / "reminders.db").exists()
    # A second run is a no-op that reports the same revision.
    assert cli.ok("db", "upgrade").stdout == result.stdout
