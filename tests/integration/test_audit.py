"""The audit export: contents, period, streaming; on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from reminders import audit
from reminders.bootstrap import App
from reminders.clock import FixedClock
from reminders.domain import ChannelKind
from reminders.errors import ChannelError, InputError
from tests.conftest import NOW
from tests.support import RecordingChannel, dispatcher, log

NEW_YORK = ZoneInfo("America/New_York")
TODAY = date(2026, 11, 27)


@pytest.fixture
def day(app: App, clock: FixedClock, channel: RecordingChannel) -> dict[str, int]:
    """A day's outcomes: an email that bounced, a text sent five minutes late (its text
    written again), a text skipped with too little of its window left, a cancelled
    treatment, and one tomorrow that was cancelled. Treatment ids by name."""
    ann = log(app, name="Ann Lee", phone=None, email="ann@example.org", channel=ChannelKind.EMAIL)
    channel.fail_next(ChannelError("mailbox does not exist", permanent=True))
    dispatcher(app, channel).dispatch_due()
    jane = log(app, name="Jane Doe")
    late = log(app, name="Late Lou", phone="+12125550198", at=NOW - timedelta(minutes=230))
    gone = log(app, name="Gone Gus", phone="+12125550197")
    app.service.cancel(app.clinic.id, gone.id, reason="patient asked")
    soon = log(app, name="Next Ned", phone="+12125550196", at=NOW + timedelta(hours=12))
    app.service.cancel(app.clinic.id, soon.id, reason="moved")
    clock.advance(timedelta(minutes=5))
    dispatcher(app, channel).dispatch_due()
    return {"ann": ann.id, "jane": jane.id, "late": late.id, "gone": gone.id, "soon": soon.id}


def export(app: App, first: date = TODAY, last: date = TODAY) -> list[dict[str, str]]:
    within = audit.period(first, last, NEW_YORK)
    return list(audit.rows(app.service.reads, app.clinic.id, NEW_YORK, within))


def by_treatment(rows: list[dict[str, str]], treatment_id: int) -> list[dict[str, str]]:
    return [row for row in rows if row["treatment_id"] == str(treatment_id)]


def test_a_sent_text_has_its_planned_and_its_sent_words(app: App, day: dict[str, int]) -> None:
    [sent] = by_treatment(export(app), day["jane"])

    assert sent["state"] == "sent"
    assert sent["contact"] == "+12125550199"
    assert sent["channel"] == "sms"
    assert sent["sent_at"] == "2026-11-27T19:05:00Z"
    assert sent["sent_at_local"] == "2026-11-27T14:05:00-05:00"
    assert sent["due_at"] == "2026-11-27T19:00:00Z"
    assert "for the next 4 hours (until 6:00 PM)" in sent["text"]
    assert "for the next 3 hours and 55 minutes (until 6:00 PM)" in sent["sent_text"]
    assert sent["provider_id"].startswith("rec-")
    assert sent["patient"] == "Jane Doe"
    assert sent["logged_by"] == "unknown"  # logged straight through the service
    assert len(sent["policy_version"]) > 0


def test_failed_and_skipped_messages_carry_their_reasons(app: App, day: dict[str, int]) -> None:
    rows = export(app)

    [failed] = by_treatment(rows, day["ann"])
    [skipped] = by_treatment(rows, day["late"])
    assert (failed["state"], failed["channel"], failed["contact"]) == (
        "failed",
        "email",
        "ann@example.org",
    )
    assert "mailbox does not exist" in failed["reason"]
    assert failed["subject"]
    assert skipped["state"] == "skipped"
    assert "minutes" in skipped["reason"]
    assert skipped["sent_at"] == ""


def test_cancelled_messages_are_in_the_period_their_due_time_falls_in(
    app: App, day: dict[str, int]
) -> None:
    today = export(app)
    tomorrow = export(app, TODAY + timedelta(days=1), TODAY + timedelta(days=1))

    gone = by_treatment(today, day["gone"])
    assert gone
    assert {row["state"] for row in gone} == {"cancelled"}
    assert {row["reason"] for row in gone} == {"patient asked"}
    assert by_treatment(today, day["soon"]) == []
    assert {row["state"] for row in by_treatment(tomorrow, day["soon"])} == {"cancelled"}


def test_messages_still_to_go_are_not_in_it(app: App, day: dict[str, int]) -> None:
    rows = export(app, TODAY, TODAY + timedelta(days=1))

    assert rows
    assert "pending" not in {row["state"] for row in rows}
    assert [row["step"] for row in by_treatment(rows, day["jane"])] == ["avoid"]


def test_a_period_is_whole_local_days() -> None:
    within = audit.period(date(2026, 3, 8), date(2026, 3, 8), NEW_YORK)

    # The spring-forward day is 23 hours long.
    assert within.start == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
    assert within.end == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        (date(2026, 11, 27), date(2026, 11, 26), "is before from"),
        (date(2025, 11, 27), date(2026, 11, 28), "longer than 366 days"),
    ],
)
def test_a_period_backwards_or_too_long_is_refused(first: date, last: date, message: str) -> None:
    with pytest.raises(InputError, match=message) as refused:
        audit.period(first, last, NEW_YORK)
    assert refused.value.field == "to"


def test_csv_parses_back_with_every_column(app: App, day: dict[str, int]) -> None:
    rows = export(app)
    text = "".join(audit.write_csv(rows))

    parsed = list(csv.DictReader(io.StringIO(text, newline="")))

    assert parsed == rows
    assert tuple(parsed[0]) == audit.COLUMNS


@pytest.mark.parametrize("kind", ["json", "jsonl"])
def test_json_and_json_lines_parse_back(app: App, day: dict[str, int], kind: str) -> None:
    rows = export(app)
    text = "".join(audit.WRITERS[kind](rows))

    parsed = (
        json.loads(text) if kind == "json" else [json.loads(line) for line in text.splitlines()]
    )

    assert parsed == rows


def test_an_empty_json_export_is_an_empty_array() -> None:
    assert json.loads("".join(audit.write_json([]))) == []


class CountingReads:
    """The service's reads, counted."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.count = 0

    def __call__(self) -> AbstractContextManager[Any]:
        self.count += 1
        return self.app.service.reads()


def test_pages_are_read_as_the_export_is_written(app: App, day: dict[str, int]) -> None:
    total = len(export(app))
    assert total >= 5
    reads = CountingReads(app)
    within = audit.period(TODAY, TODAY, NEW_YORK)

    chunks: Iterator[str] = audit.write_jsonl(
        audit.rows(reads, app.clinic.id, NEW_YORK, within, page=2)
    )
    first = next(chunks)

    assert json.loads(first)["message_id"]
    assert reads.count == 1  # one page read, the rest not yet
    rest = list(chunks)
    assert len(rest) == total - 1
    assert reads.count == total // 2 + 1


def test_count_is_the_number_of_rows(app: App, day: dict[str, int]) -> None:
    within = audit.period(TODAY, TODAY, NEW_YORK)

    assert audit.count(app.service.reads, app.clinic.id, within) == len(export(app))
