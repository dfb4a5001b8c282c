"""Reading an import file's header: aliases, folding, --map."""

from __future__ import annotations

import pytest

from reminders.errors import InputError
from reminders.imports import header_key, parse_mapping, read_csv


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Patient Name", "patient_name"),
        ("  PATIENT   name ", "patient_name"),
        ("treated-at", "treated_at"),
        ("Visit_ID", "visit_id"),
    ],
)
def test_headers_fold_case_spacing_and_dashes(header: str, key: str) -> None:
    assert header_key(header) == key


def test_map_names_a_known_field() -> None:
    assert parse_mapping(["Tel (home) = phone"]) == {"tel_(home)": "phone"}


@pytest.mark.parametrize("option", ["phone", "=phone", "Tel=fax"])
def test_a_map_that_is_not_column_equals_field_is_refused(option: str) -> None:
    with pytest.raises(InputError) as refused:
        parse_mapping([option])
    assert refused.value.field == "map"


def test_two_columns_for_one_field_are_refused() -> None:
    with pytest.raises(InputError, match="two columns give phone"):
        read_csv(b"patient,phone,mobile,treatment,time\n")


def test_a_missing_required_column_is_named() -> None:
    with pytest.raises(InputError, match="missing column\\(s\\) for performed_at"):
        read_csv(b"patient,phone,treatment\n")


def test_a_file_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(InputError, match="is not UTF-8"):
        read_csv("patient,phone,treatment,time\nJosé,1,botox,now\n".encode("latin-1"))


def test_rows_keep_their_line_in_the_file_across_blank_lines_and_quoted_breaks() -> None:
    rows = read_csv(b'patient,phone,treatment,time\n\n"A\nB",1,botox,t\nC,2,botox,t\n')
    assert [(row.line, row.values["patient"]) for row in rows] == [(3, "A\nB"), (5, "C")]
