"""Idempotency-Key on POST /v1/treatments: a retried request logs the treatment once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI

from reminders.accounts import NewKey
from tests.api import TestClient, bearer, treatment_body

Counts = Callable[[], dict[str, int]]
KEY = {"Idempotency-Key": "visit-2026-11-27-jane"}


def test_first_request_with_a_key_is_201_and_not_a_replay(
    client_a: TestClient, row_counts: Counts
) -> None:
    response = client_a.post("/v1/treatments", json=treatment_body(), headers=KEY)

    assert response.status_code == 201
    assert response.headers["Idempotent-Replayed"] == "false"
    assert row_counts()["idempotency_keys"] == 1


def test_same_key_and_body_replays_the_first_treatment(
    client_a: TestClient, row_counts: Counts
) -> None:
    first = client_a.post("/v1/treatments", json=treatment_body(), headers=KEY)
    counts = row_counts()

    second = client_a.post("/v1/treatments", json=treatment_body(), headers=KEY)

    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert row_counts() == counts
    assert counts["treatments"] == 1
    assert counts["messages"] == 2


def test_same_key_and_body_with_fields_reordered_is_a_replay(client_a: TestClient) -> None:
    body = treatment_body()
    reordered = dict(reversed(body.items()))
    reordered["patient"] = dict(reversed(body["patient"].items()))

    first = client_a.post("/v1/treatments", json=body, headers=KEY)
    second = client_a.post("/v1/treatments", json=reordered, headers=KEY)

    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]


def test_same_key_with_a_different_body_is_409_and_stores_nothing(
    client_a: TestClient, row_counts: Counts
) -> None:
    first = client_a.post("/v1/treatments", json=treatment_body(), headers=KEY)
    counts = row_counts()

    response = client_a.post(
        "/v1/treatments",
        json=treatment_body(performed_at="2026-11-27T13:00:00"),
        headers=KEY,
    )

    assert response.status_code == 409
    assert "Idempotency-Key" in response.json()["detail"]
    assert row_counts() == counts
    logged = first.json()
    del logged["first_message"]  # the POST's own: how the first text was doing then
    assert client_a.get(f"/v1/treatments/{logged['id']}").json() == logged


def test_requests_without_a_key_each_log_a_treatment(
    client_a: TestClient, row_counts: Counts
) -> None:
    first = client_a.post("/v1/treatments", json=treatment_body())
    second = client_a.post("/v1/treatments", json=treatment_body())

    assert first.json()["id"] != second.json()["id"]
    assert "Idempotent-Replayed" not in second.headers
    assert row_counts()["treatments"] == 2


def test_different_keys_log_separate_treatments(client_a: TestClient) -> None:
    first = client_a.post("/v1/treatments", json=treatment_body(), headers={"Idempotency-Key": "a"})
    second = client_a.post(
        "/v1/treatments", json=treatment_body(), headers={"Idempotency-Key": "b"}
    )

    assert second.headers["Idempotent-Replayed"] == "false"
    assert first.json()["id"] != second.json()["id"]


def test_the_same_key_in_another_clinic_is_independent(
    client_a: TestClient, client_b: TestClient, row_counts: Counts
) -> None:
    a = client_a.post("/v1/treatments", json=treatment_body(), headers=KEY)

    b = client_b.post(
        "/v1/treatments",
        json=treatment_body(patient={"name": "Bea B"}, performed_at="2026-11-27T12:30:00"),
        headers=KEY,
    )

    assert b.status_code == 201
    assert b.headers["Idempotent-Replayed"] == "false"
    assert b.json()["id"] != a.json()["id"]
    assert b.json()["patient"]["name"] == "Bea B"
    assert row_counts()["idempotency_keys"] == 2
    replay = client_a.post("/v1/treatments", json=treatment_body(), headers=KEY)
    assert replay.json()["id"] == a.json()["id"]


def test_a_rejected_request_does_not_use_up_its_key(
    client_a: TestClient, row_counts: Counts
) -> None:
    rejected = client_a.post(
        "/v1/treatments", json=treatment_body(treatment_type="filler"), headers=KEY
    )

    accepted = client_a.post("/v1/treatments", json=treatment_body(), headers=KEY)

    assert rejected.status_code == 422
    assert accepted.status_code == 201
    assert accepted.headers["Idempotent-Replayed"] == "false"
    assert row_counts()["treatments"] == 1


def test_concurrent_requests_with_one_key_log_one_treatment(
    api: FastAPI, key_a: NewKey, row_counts: Counts
) -> None:
    clients = 20
    start = threading.Barrier(clients)
    body = treatment_body()
    headers = {**bearer(key_a.key), **KEY}

    def post(_: int) -> tuple[int, int | None, str | None]:
        with TestClient(api, headers=headers) as client:
            start.wait(timeout=30)
            response = client.post("/v1/treatments", json=body)
            treatment_id = response.json().get("id") if response.status_code == 201 else None
            return response.status_code, treatment_id, response.headers.get("Idempotent-Replayed")

    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(post, range(clients)))

    assert [status for status, _, _ in results] == [201] * clients
    assert len({treatment_id for _, treatment_id, _ in results}) == 1
    assert sorted(replayed for _, _, replayed in results) == ["false"] + ["true"] * (clients - 1)
    counts = row_counts()
    assert counts["treatments"] == 1
    assert counts["patients"] == 1
    assert counts["messages"] == 2
    assert counts["message_events"] == 2
    assert counts["idempotency_keys"] == 1
