"""What the API logs when it fails or refuses: exception types and frames, never values."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from reminders.api.app import create_app
from reminders.bootstrap import App
from reminders.logs import AccessPathOnly, FieldsFormatter
from tests.api import TestClient, bearer

PHONE = "+12125550187"


class RowError(Exception):
    """An error quoting the row it failed on, as database errors do."""


@pytest.fixture
def failing_api(app: App) -> FastAPI:
    api = create_app(app)

    @api.get("/boom/plain")
    def plain() -> None:
        raise RowError(f"could not store patient phone={PHONE}")

    @api.get("/boom/database")
    def database() -> None:
        raise sa.exc.IntegrityError(
            "INSERT INTO patients (phone) VALUES (?)", (PHONE,), RowError(f"Key (phone)=({PHONE})")
        )

    return api


@pytest.fixture
def failing(failing_api: FastAPI) -> Iterator[TestClient]:
    with TestClient(failing_api, raise_server_exceptions=True) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "error"),
    [("/boom/plain", "RowError"), ("/boom/database", "sqlalchemy.exc.IntegrityError")],
)
def test_a_crash_is_a_500_logged_without_the_exceptions_text(
    failing: TestClient, caplog: pytest.LogCaptureFixture, path: str, error: str
) -> None:
    with caplog.at_level(logging.ERROR):
        response = failing.get(path)

    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    assert [r.getMessage().splitlines()[0] for r in caplog.records] == [
        f"request failed: GET {path}"
    ]
    assert "Traceback (most recent call last):" in caplog.text
    assert f"{error}: (text withheld" in caplog.text
    assert PHONE not in caplog.text


def test_a_crash_while_reading_a_body_does_not_log_the_body(
    failing_api: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    @failing_api.post("/boom/body")
    def body(payload: dict[str, str]) -> None:
        raise RowError(str(payload))

    with caplog.at_level(logging.DEBUG), TestClient(failing_api) as client:
        response = client.post("/boom/body", json={"phone": PHONE})

    assert response.status_code == 500
    assert PHONE not in caplog.text


def test_a_refusal_is_logged_without_the_value(
    client_a: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"patient": {"name": "Zebulon", "phone": PHONE}, "treatment_type": PHONE}
    with caplog.at_level(logging.DEBUG):
        response = client_a.post("/v1/treatments", json=body)
        client_a.get("/v1/treatments", params={"phone": "555"})

    assert response.status_code == 422
    refusals = [r for r in caplog.records if r.getMessage() == "request refused"]
    assert len(refusals) == 2
    assert PHONE not in caplog.text
    assert "Zebulon" not in caplog.text


def test_a_failed_authentication_is_logged_without_the_key(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        client.get("/v1/treatments", headers=bearer("rk_guess_secretsecret"))

    assert "authentication failed" in caplog.text
    assert "secretsecret" not in caplog.text


# -- the formatter and filter every process logs through ------------------------------------


def record_with(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        return logging.makeLogRecord(
            {"msg": "failed", "levelno": logging.ERROR, "exc_info": sys.exc_info()}
        )


def test_the_formatter_withholds_an_exceptions_text_but_names_it_and_its_frames() -> None:
    text = FieldsFormatter("%(message)s").format(record_with(ValueError(PHONE)))

    assert PHONE not in text
    assert "ValueError: (text withheld" in text
    assert "in record_with" in text


def test_the_formatter_withholds_the_text_of_every_exception_in_a_chain() -> None:
    try:
        try:
            raise KeyError(PHONE)
        except KeyError as exc:
            raise sa.exc.IntegrityError("INSERT", (PHONE,), exc) from exc
    except sa.exc.IntegrityError as exc:
        text = FieldsFormatter("%(message)s").format(record_with(exc))

    assert PHONE not in text
    assert "KeyError: (text withheld" in text
    assert "direct cause of the following exception" in text
    assert "sqlalchemy.exc.IntegrityError: (text withheld" in text


def test_the_formatter_shows_a_connection_errors_text() -> None:
    text = FieldsFormatter("%(message)s").format(
        record_with(ConnectionRefusedError(111, "Connection refused"))
    )

    assert "ConnectionRefusedError: [Errno 111] Connection refused" in text


def test_the_formatter_ignores_full_text_another_handler_cached() -> None:
    record = record_with(ValueError(PHONE))
    logging.Formatter().format(record)  # caches the full traceback on the record
    assert record.exc_text is not None
    assert PHONE in record.exc_text

    assert PHONE not in FieldsFormatter("%(message)s").format(record)


def test_the_access_log_filter_drops_the_query_string() -> None:
    record = logging.makeLogRecord(
        {
            "name": "uvicorn.access",
            "msg": '%s - "%s %s HTTP/%s" %d',
            "args": ("127.0.0.1:5000", "GET", "/v1/treatments?phone=%2B12125550187", "1.1", 200),
        }
    )

    assert AccessPathOnly().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /v1/treatments HTTP/1.1" 200'
