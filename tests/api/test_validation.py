"""Bad input to POST /v1/treatments: a 422 naming the field, and nothing stored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from reminders.clock import FixedClock
from tests.api import TestClient, treatment_body

Counts = Callable[[], dict[str, int]]
Reject = Callable[..., dict[str, Any]]


@pytest.fixture
def reject(client_a: TestClient, row_counts: Counts) -> Reject:
    """POST a body expecting 422 with `loc` and no row written; returns the error."""

    def post(body: dict[str, Any], loc: list[str | int]) -> dict[str, Any]:
        before = row_counts()
        response = client_a.post("/v1/treatments", json=body)
        assert response.status_code == 422, response.text
        error: dict[str, Any] = response.json()["detail"][0]
        assert error["loc"] == loc
        assert row_counts() == before
        return error

    return post


# -- unknown fields: no mass assignment --------------------------------------------------


@pytest.mark.parametrize("field", ["id", "status", "clinic_id"])
def test_unknown_top_level_field_is_422(reject: Reject, field: str) -> None:
    reject(treatment_body(**{field: 1}), ["body", field])


@pytest.mark.parametrize("field", ["id", "clinic_id"])
def test_unknown_patient_field_is_422(reject: Reject, field: str) -> None:
    reject(treatment_body(patient={field: 7}), ["body", "patient", field])


# -- contact details ---------------------------------------------------------------------


def test_invalid_phone_is_422(reject: Reject) -> None:
    error = reject(treatment_body(patient={"phone": "555-01"}), ["body", "patient", "phone"])
    assert "phone" in error["msg"]


def test_invalid_email_is_422(reject: Reject) -> None:
    reject(
        treatment_body(patient={"phone": None, "sms_consent": None, "email": "jane@"}),
        ["body", "patient", "email"],
    )


def test_neither_phone_nor_email_is_422(reject: Reject) -> None:
    reject(
        treatment_body(patient={"phone": None, "sms_consent": None}), ["body", "patient", "phone"]
    )


def test_preferred_channel_email_without_email_is_422(reject: Reject) -> None:
    reject(treatment_body(patient={"preferred_channel": "email"}), ["body", "patient", "email"])


def test_sms_only_patient_without_sms_consent_is_422(reject: Reject) -> None:
    error = reject(
        treatment_body(patient={"sms_consent": None}), ["body", "patient", "sms_consent"]
    )
    assert "consent" in error["msg"]


def test_sms_consent_at_without_sms_consent_is_422(reject: Reject) -> None:
    reject(
        treatment_body(patient={"sms_consent": False, "sms_consent_at": "2026-11-27T13:00:00"}),
        ["body", "patient", "sms_consent"],
    )


def test_unknown_patient_timezone_is_422(reject: Reject) -> None:
    reject(treatment_body(patient={"timezone": "Mars/Olympus"}), ["body", "patient", "timezone"])


# -- names ---------------------------------------------------------------------------------


def test_name_with_a_nul_character_is_422(reject: Reject) -> None:
    reject(treatment_body(patient={"name": "Jane\x00Doe"}), ["body", "patient", "name"])


def test_name_over_120_characters_is_422(reject: Reject) -> None:
    reject(treatment_body(patient={"name": "J" * 121}), ["body", "patient", "name"])


def test_blank_name_is_422(reject: Reject) -> None:
    reject(treatment_body(patient={"name": "   "}), ["body", "patient", "name"])


# -- treatment type and time ---------------------------------------------------------------


def test_unknown_treatment_type_is_422(reject: Reject) -> None:
    error = reject(treatment_body(treatment_type="filler"), ["body", "treatment_type"])
    assert "botox" in error["msg"]


def test_performed_at_more_than_a_day_ago_is_422(reject: Reject) -> None:
    # 24 h 1 min before the pinned clock.
    reject(treatment_body(performed_at="2026-11-26T13:59:00"), ["body", "performed_at"])


def test_performed_at_more_than_a_year_ahead_is_422(reject: Reject) -> None:
    reject(treatment_body(performed_at="2027-11-28T14:00:00"), ["body", "performed_at"])


def test_performed_at_not_a_time_is_422(reject: Reject) -> None:
    reject(treatment_body(performed_at="yesterday"), ["body", "performed_at"])


@pytest.mark.parametrize(
    "performed_at",
    [
        pytest.param("9999-12-31T23:00:00", id="naive_local_past_year_9999_in_utc"),
        pytest.param("0001-01-01T00:00:00+14:00", id="aware_before_year_1_in_utc"),
    ],
)
def test_performed_at_outside_the_representable_range_is_422(
    reject: Reject, performed_at: str
) -> None:
    reject(treatment_body(performed_at=performed_at), ["body", "performed_at"])


def test_ambiguous_local_performed_at_is_422(reject: Reject, clock: FixedClock) -> None:
    # 01:30 happens twice in New York on 2026-11-01, when clocks go back.
    clock.set(datetime(2026, 11, 1, 14, 0, tzinfo=UTC))

    error = reject(treatment_body(performed_at="2026-11-01T01:30:00"), ["body", "performed_at"])

    assert "twice" in error["msg"]


def test_nonexistent_local_performed_at_is_422(reject: Reject, clock: FixedClock) -> None:
    # 02:30 never happens in New York on 2026-03-08, when clocks go forward.
    clock.set(datetime(2026, 3, 8, 15, 0, tzinfo=UTC))

    error = reject(treatment_body(performed_at="2026-03-08T02:30:00"), ["body", "performed_at"])

    assert "does not exist" in error["msg"]


def test_ambiguous_local_time_with_an_offset_is_accepted(
    client_a: TestClient, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 1, 14, 0, tzinfo=UTC))

    response = client_a.post(
        "/v1/treatments", json=treatment_body(performed_at="2026-11-01T01:30:00-05:00")
    )

    assert response.status_code == 201
    assert response.json()["performed_at"] == "2026-11-01T06:30:00Z"


# -- headers and the body as a whole --------------------------------------------------------


def test_idempotency_key_with_spaces_is_422(client_a: TestClient, row_counts: Counts) -> None:
    before = row_counts()

    response = client_a.post(
        "/v1/treatments", json=treatment_body(), headers={"Idempotency-Key": "not ok"}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "idempotency-key"]
    assert row_counts() == before


def test_malformed_json_is_422(client_a: TestClient, row_counts: Counts) -> None:
    before = row_counts()

    response = client_a.post(
        "/v1/treatments", content=b'{"patient": ', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"
    assert row_counts() == before


def test_body_over_64_kib_is_413(client_a: TestClient, row_counts: Counts) -> None:
    before = row_counts()
    body = treatment_body(patient={"name": "J" * (65 * 1024)})

    response = client_a.post("/v1/treatments", json=body)

    assert response.status_code == 413
    assert response.json() == {"detail": "request body too large"}
    assert row_counts() == before


def test_streamed_body_over_64_kib_without_content_length_is_413(
    client_a: TestClient, row_counts: Counts
) -> None:
    before = row_counts()
    chunk = b" " * 1024

    def chunks() -> Iterator[bytes]:
        yield b'{"patient": {"name": "Jane Doe", "phone": "+12125550199", "sms_consent": true},'
        for _ in range(70):  # whitespace is valid JSON: only the size is wrong
            yield chunk
        yield b'"treatment_type": "botox"}'

    response = client_a.post(
        "/v1/treatments", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert row_counts() == before
