"""What one request costs the database: how many transactions, and which take a lock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from reminders.bootstrap import App
from tests.api import TestClient, as_read_back, treatment_body


@pytest.fixture
def transactions(app: App) -> Iterator[list[str]]:
    """Every transaction begun on the app's engine, as `read` or `write`."""
    begun: list[str] = []

    def on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get("reminders_read_only")
        begun.append("read" if read_only else "write")

    event.listen(app.engine, "begin", on_begin)
    yield begun
    event.remove(app.engine, "begin", on_begin)


def test_logging_a_treatment_takes_one_read_and_one_write(
    client_a: TestClient, transactions: list[str]
) -> None:
    response = client_a.post("/v1/treatments", json=treatment_body())

    assert response.status_code == 201
    # The key and its clinic in one read; the treatment, its messages and the
    # response built in one write, with nothing read back.
    assert transactions == ["read", "write"]


def test_logging_under_an_idempotency_key_adds_only_the_replay_check(
    client_a: TestClient, transactions: list[str]
) -> None:
    response = client_a.post(
        "/v1/treatments", json=treatment_body(), headers={"Idempotency-Key": "visit-1"}
    )
    replay = client_a.post(
        "/v1/treatments", json=treatment_body(), headers={"Idempotency-Key": "visit-1"}
    )

    assert (response.status_code, replay.status_code) == (201, 201)
    first, again = transactions[:3], transactions[3:]
    assert first == ["read", "read", "write"]
    assert again == ["read", "read", "read"]


def test_reading_a_treatment_takes_no_write_transaction(
    client_a: TestClient, transactions: list[str]
) -> None:
    created = client_a.post("/v1/treatments", json=treatment_body()).json()
    transactions.clear()

    assert client_a.get(f"/v1/treatments/{created['id']}").status_code == 200
    assert client_a.get("/v1/treatments").status_code == 200
    assert client_a.get("/v1/policies").status_code == 200
    assert set(transactions) == {"read"}


def test_the_logged_treatment_is_answered_as_it_reads_back(client_a: TestClient) -> None:
    body = treatment_body(patient={"email": "jane@example.org", "timezone": "Europe/London"})

    created = client_a.post("/v1/treatments", json=body)
    read_back = client_a.get(f"/v1/treatments/{created.json()['id']}")

    assert created.status_code == 201
    assert as_read_back(created.json()) == read_back.json()
    assert [len(m["events"]) for m in created.json()["messages"]] == [1, 1]


def test_a_late_logged_treatment_is_answered_as_it_reads_back(client_a: TestClient) -> None:
    # Logged 3 h 50 min after the treatment: the avoid step is skipped, with its reason.
    body = treatment_body(performed_at="2026-11-27T10:10:00-05:00")

    created = client_a.post("/v1/treatments", json=body)
    read_back = client_a.get(f"/v1/treatments/{created.json()['id']}")

    assert created.status_code == 201
    assert as_read_back(created.json()) == read_back.json()
    assert created.json()["messages"][0]["state"] == "skipped"
