"""`reminders audit`: the export on stdout or into a file, for a clinic by slug."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from freezegun import freeze_time

from tests.cli.support import FROZEN, describe, invoke, run

DAY = ("--from", "2026-11-27", "--to", "2026-11-27")


def logged_and_cancelled() -> None:
    with freeze_time(FROZEN):
        run("log", "Ann Lee", "--treatment", "botox", "--phone", "2125550198", "--sms-consent")
        run("cancel", "1", "--reason", "patient asked")


def test_csv_on_stdout_names_who_logged_each_treatment(any_database: str) -> None:
    logged_and_cancelled()

    with freeze_time(FROZEN):
        output = run("audit", *DAY)

    rows = list(csv.DictReader(io.StringIO(output, newline="")))
    assert rows
    assert {row["state"] for row in rows} == {"cancelled"}
    assert {row["reason"] for row in rows} == {"patient asked"}
    assert all(row["logged_by"].startswith("cli:") for row in rows)
    assert {row["contact"] for row in rows} == {"+12125550198"}


def test_json_into_a_file(any_database: str, tmp_path: Path) -> None:
    logged_and_cancelled()
    target = tmp_path / "audit.json"

    with freeze_time(FROZEN):
        result = invoke("audit", *DAY, "--format", "json", "--output", str(target))

    assert result.exit_code == 0, describe(result)
    assert result.stdout == ""
    rows = json.loads(target.read_text())
    assert [row["treatment_id"] for row in rows] == ["1"] * len(rows)
    assert rows


def test_an_unknown_clinic_or_a_bad_date_is_refused(any_database: str) -> None:
    unknown = invoke("audit", *DAY, "--clinic", "nowhere")
    bad_day = invoke("audit", "--from", "yesterday", "--to", "2026-11-27")

    assert unknown.exit_code == 2, describe(unknown)
    assert "no clinic 'nowhere'" in unknown.stderr
    assert bad_day.exit_code == 2, describe(bad_day)
    assert bad_day.stderr.startswith("error: from: 'yesterday' is not a date")
