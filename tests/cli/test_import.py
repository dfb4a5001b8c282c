"""`reminders import FILE.csv`: a day's treatments from an EMR export, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from freezegun import freeze_time
from typer.testing import Result

from reminders.db.engine import make_engine
from tests.cli.support import FROZEN, describe, invoke

HEADER = "external_id,patient,phone,email,sms_consent,treatment,performed_at"
JANE = "V1,Jane Doe,212 555 0199,,yes,botox,2026-11-27 09:30"
ANN = "V2,Ann Lee,212 555 0198,,yes,botox,2026-11-27 10:00"
BOB = "V3,Bob Roe,,bob@example.org,no,botox,2026-11-27T15:00:00Z"


def write(tmp_path: Path, *lines: str, name: str = "day.csv", prefix: bytes = b"") -> str:
    path = tmp_path / name
    path.write_bytes(prefix + ("\n".join(lines) + "\n").encode())
    return str(path)


def run_import(*args: str) -> Result:
    with freeze_time(FROZEN):
        return invoke("import", *args)


def treatments(url: str) -> list[tuple[str, datetime, str | None]]:
    """(patient, performed_at in UTC, logged_by) of every treatment, in id order."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT p.name, t.performed_at, t.logged_by FROM treatments t "
                    "JOIN patients p ON p.id = t.patient_id ORDER BY t.id"
                )
            ).all()
    finally:
        engine.dispose()
    return [(name, _utc(at), by) for name, at, by in rows]


def _utc(value: object) -> datetime:
    if isinstance(value, str):  # SQLite hands back its text
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def test_headers_are_matched_by_alias_ignoring_case_and_spacing(
    any_database: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "Visit ID, Patient Name ,MOBILE,E-mail,SMS Consent,Procedure,Treated At",
        JANE,
    )

    result = run_import(path)

    assert result.exit_code == 0, describe(result)
    [(name, at, by)] = treatments(any_database)
    assert name == "Jane Doe"
    assert at == datetime(2026, 11, 27, 14, 30, tzinfo=UTC)  # 09:30 in New York
    assert by is not None
    assert by.startswith("cli:")
    assert "logged: 1" in result.stdout


def test_a_file_with_a_byte_order_mark_and_semicolons_is_read(
    any_database: str, tmp_path: Path
) -> None:
    path = write(tmp_path, HEADER.replace(",", ";"), JANE.replace(",", ";"), prefix=b"\xef\xbb\xbf")

    result = run_import(path)

    assert result.exit_code == 0, describe(result)
    assert [name for name, _, _ in treatments(any_database)] == ["Jane Doe"]


def test_unknown_columns_are_refused_by_name(any_database: str, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + ",Provider,Room", JANE + ",Dr Who,3")

    result = run_import(path)

    assert result.exit_code == 2, describe(result)
    assert "unknown column(s) 'Provider', 'Room'" in result.stderr
    assert treatments(any_database) == []


def test_unknown_columns_may_be_ignored(any_database: str, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + ",Provider", JANE + ",Dr Who")

    result = run_import(path, "--ignore-unknown-columns")

    assert result.exit_code == 0, describe(result)
    assert len(treatments(any_database)) == 1


def test_map_reads_an_odd_header_as_a_field(any_database: str, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER.replace("phone", "Tel (home)"), JANE)

    result = run_import(path, "--map", "Tel (home)=phone")

    assert result.exit_code == 0, describe(result)
    assert len(treatments(any_database)) == 1


def test_dry_run_reports_every_problem_by_line_and_field(any_database: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER,
        JANE,
        'V2,"Ann\nLee",555,,yes,botox,2026-11-27 10:00',  # a quoted name spanning two lines
        "V3,Bob Roe,,bob@example,maybe,laser,2026-13-01 10:00",
        "V4,,212 555 0197,,yes,botox,",
    )

    result = run_import(path, "--dry-run")

    assert result.exit_code == 1, describe(result)
    lines = result.stdout.splitlines()
    assert lines[:7] == [
        "line 3, phone: '555' is not a valid phone number for region US",
        "line 5, email: 'bob@example' is not a valid email address: The part after the "
        "@-sign is not valid. It should have a period.",
        "line 5, sms_consent: 'maybe' is not a time like 2026-03-08 14:30 or "
        "2026-03-08T14:30-05:00",
        "line 5, treatment: unknown treatment type 'laser' (known: botox)",
        "line 5, performed_at: '2026-13-01 10:00' is not a time like 2026-03-08 14:30 or "
        "2026-03-08T14:30-05:00",
        "line 6, patient: is required",
        "line 6, performed_at: is required",
    ]
    assert (
        "rows: 4, would log: 1, already imported: 0, repeated in the file: 0, problems: 7" in lines
    )
    assert treatments(any_database) == []


def test_a_clean_dry_run_exits_0_and_stores_nothing(any_database: str, tmp_path: Path) -> None:
    result = run_import(write(tmp_path, HEADER, JANE, ANN), "--dry-run")

    assert result.exit_code == 0, describe(result)
    assert "rows: 2, would log: 2" in result.stdout
    assert treatments(any_database) == []


def test_one_bad_row_stores_nothing(any_database: str, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, JANE, ANN.replace("212 555 0198", "555"))

    result = run_import(path)

    assert result.exit_code == 1, describe(result)
    assert result.stdout.startswith("line 3, phone:")
    assert "Nothing stored" in result.stdout
    assert treatments(any_database) == []


def test_a_patient_no_channel_may_reach_is_reported_before_anything_is_stored(
    any_database: str, tmp_path: Path
) -> None:
    # A phone without consent and no email: found only once the patient is matched.
    path = write(tmp_path, HEADER, JANE, "V2,Ann Lee,212 555 0198,,no,botox,2026-11-27 10:00")

    result = run_import(path)

    assert result.exit_code == 1, describe(result)
    assert "line 3, sms_consent: the patient has not consented to texts" in result.stdout
    assert treatments(any_database) == []


def test_skip_bad_rows_logs_the_good_ones_and_reports_the_others(
    any_database: str, tmp_path: Path
) -> None:
    path = write(tmp_path, HEADER, JANE, ANN.replace("212 555 0198", "555"), BOB)

    result = run_import(path, "--skip-bad-rows")

    assert result.exit_code == 1, describe(result)
    assert result.stdout.startswith("line 3, phone:")
    assert "rows: 3, logged: 2" in result.stdout
    assert [name for name, _, _ in treatments(any_database)] == ["Jane Doe", "Bob Roe"]


def test_importing_a_file_again_logs_nothing_new(any_database: str, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, JANE, ANN)
    assert run_import(path).exit_code == 0

    again = run_import(path)

    assert again.exit_code == 0, describe(again)
    assert "logged: 0, already imported: 2" in again.stdout
    assert len(treatments(any_database)) == 2


def test_an_external_id_is_the_row_key_even_if_the_row_changed(
    any_database: str, tmp_path: Path
) -> None:
    assert run_import(write(tmp_path, HEADER, JANE)).exit_code == 0

    corrected = run_import(write(tmp_path, HEADER, JANE.replace("09:30", "09:45"), name="b.csv"))

    assert "logged: 0, already imported: 1" in corrected.stdout, describe(corrected)
    assert len(treatments(any_database)) == 1


def test_without_ids_rows_are_known_by_their_contents(any_database: str, tmp_path: Path) -> None:
    header = HEADER.removeprefix("external_id,")
    jane, ann = JANE.removeprefix("V1,"), ANN.removeprefix("V2,")
    assert run_import(write(tmp_path, header, jane)).exit_code == 0

    # The same row spelled differently (name spacing and case, phone format) is known;
    # another time is another treatment.
    respelled = "jane  DOE,+1 (212) 555-0199,,yes,Botox,2026-11-27T14:30:00Z"
    later = jane.replace("09:30", "11:00")
    result = run_import(write(tmp_path, header, respelled, later, ann, name="b.csv"))

    assert "logged: 2, already imported: 1" in result.stdout, describe(result)
    assert len(treatments(any_database)) == 3


def test_a_row_repeated_in_one_file_is_one_treatment(any_database: str, tmp_path: Path) -> None:
    result = run_import(write(tmp_path, HEADER, JANE, ANN, JANE))

    assert result.exit_code == 0, describe(result)
    assert "line 4 repeats line 2: imported once" in result.stdout
    assert "logged: 2, already imported: 0, repeated in the file: 1" in result.stdout
    assert len(treatments(any_database)) == 2


def test_local_times_are_read_in_the_clinic_zone_and_a_dst_gap_is_refused(
    any_database: str, tmp_path: Path
) -> None:
    gap = ANN.replace("2026-11-27 10:00", "2027-03-14 02:30")
    offset = JANE.replace("2026-11-27 09:30", "2026-11-27T09:30:00-08:00")

    result = run_import(write(tmp_path, HEADER, offset, gap), "--skip-bad-rows")

    assert "line 3, performed_at: 2027-03-14 02:30 does not exist in America/New_York" in (
        result.stdout
    ), describe(result)
    [(_, at, _)] = treatments(any_database)
    assert at == datetime(2026, 11, 27, 17, 30, tzinfo=UTC)


def test_json_prints_one_document_even_with_a_progress_bar(
    any_database: str, tmp_path: Path
) -> None:
    path = write(tmp_path, HEADER, JANE, ANN.replace("212 555 0198", "555"), JANE)

    result = run_import(path, "--json", "--progress", "--skip-bad-rows")

    assert result.exit_code == 1, describe(result)
    report = json.loads(result.stdout)
    assert report["rows"] == 3
    assert report["logged"] == 1
    assert report["repeated"] == [{"line": 4, "same_as_line": 2}]
    assert report["problems"] == [
        {
            "line": 3,
            "field": "phone",
            "message": "'555' is not a valid phone number for region US",
        }
    ]
    assert report["treatment_ids"] == [1]
