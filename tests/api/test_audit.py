"""GET /v1/audit: the clinic's settled messages of a period, streamed as an attachment."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from reminders import audit
from reminders.bootstrap import App
from tests.api import TestClient

DAY = {"from": "2026-11-27", "to": "2026-11-27"}


@pytest.fixture
def cancelled(client_a: TestClient, log_a: Callable[..., dict[str, Any]]) -> list[int]:
    """Two treatments logged through the API and cancelled: their messages settled today."""
    ids = [log_a()["id"], log_a(patient={"name": "Ann Lee", "phone": "+12125550198"})["id"]]
    for treatment_id in ids:
        response = client_a.post(f"/v1/treatments/{treatment_id}/cancel", json={"reason": "moved"})
        assert response.status_code == 200, response.text
    return ids


def test_the_export_is_a_csv_attachment(client_a: TestClient, cancelled: list[int]) -> None:
    response = client_a.get("/v1/audit", params=DAY)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        'attachment; filename="audit-default-2026-11-27-2026-11-27.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert rows
    assert {int(row["treatment_id"]) for row in rows} == set(cancelled)
    assert {row["state"] for row in rows} == {"cancelled"}
    assert {row["reason"] for row in rows} == {"moved"}
    assert {row["logged_by"] for row in rows} == {"apikey:clinic A"}
    assert {row["contact"] for row in rows} == {"+12125550199", "+12125550198"}


@pytest.mark.parametrize("kind", ["json", "jsonl"])
def test_json_and_json_lines_parse(client_a: TestClient, cancelled: list[int], kind: str) -> None:
    response = client_a.get("/v1/audit", params={**DAY, "format": kind})

    assert response.status_code == 200, response.text
    parsed = (
        response.json()
        if kind == "json"
        else [json.loads(line) for line in response.text.splitlines()]
    )
    assert {int(row["treatment_id"]) for row in parsed} == set(cancelled)


def test_another_day_holds_none_of_them(client_a: TestClient, cancelled: list[int]) -> None:
    response = client_a.get("/v1/audit", params={"from": "2026-11-26", "to": "2026-11-26"})

    assert response.status_code == 200
    assert response.text.splitlines() == [",".join(audit.COLUMNS)]


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"from": "2026-11-27", "to": "2026-11-26"}, ["query", "to"]),
        ({"from": "2025-11-01", "to": "2026-11-27"}, ["query", "to"]),
        ({"from": "27/11/2026", "to": "2026-11-27"}, ["query", "from"]),
        ({"from": "0001-01-01", "to": "0001-01-01"}, ["query", "from"]),
        ({"from": "9999-12-31", "to": "9999-12-31"}, ["query", "from"]),
        ({**DAY, "format": "xml"}, ["query", "format"]),
    ],
)
def test_a_bad_period_or_format_is_a_422_naming_it(
    client_a: TestClient, params: dict[str, str], loc: list[str]
) -> None:
    response = client_a.get("/v1/audit", params=params)

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [loc]


def test_the_export_streams_a_page_at_a_time(
    app: App, client_a: TestClient, cancelled: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "PAGE", 1)
    pages: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM messages JOIN treatments" in statement:
            pages.append(statement)

    sa.event.listen(app.engine, "before_cursor_execute", seen)
    try:
        with client_a.stream("GET", "/v1/audit", params={**DAY, "format": "jsonl"}) as response:
            lines = [line for line in response.iter_lines() if line]
    finally:
        sa.event.remove(app.engine, "before_cursor_execute", seen)

    assert "content-length" not in response.headers  # sent in chunks as it is written
    assert len(lines) >= 2
    assert len(pages) == len(lines) + 1  # one read per message, then the empty page
