"""/v1/treatments: log, read the timeline, list and page, correct the time, cancel."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from reminders.bootstrap import App
from tests.api import TestClient, as_read_back, treatment_body
from tests.support import RecordingChannel

Log = Callable[..., dict[str, Any]]


def by_step(treatment: dict[str, Any], state: str) -> dict[str, dict[str, Any]]:
    return {m["step_id"]: m for m in treatment["messages"] if m["state"] == state}


def send_due(app: App) -> RecordingChannel:
    channel = RecordingChannel()
    app.dispatcher(channel.registry()).dispatch_due()
    return channel


# -- POST /v1/treatments ---------------------------------------------------------------


def test_log_returns_201_with_the_treatment(client_a: TestClient) -> None:
    response = client_a.post("/v1/treatments", json=treatment_body())

    assert response.status_code == 201
    treatment = response.json()
    assert isinstance(treatment["id"], int)
    assert treatment["treatment_type"] == "botox"
    assert treatment["status"] == "active"
    assert treatment["performed_at"] == "2026-11-27T19:00:00Z"
    assert treatment["logged_at"] == "2026-11-27T19:00:00Z"
    assert treatment["restriction"] == "4h"
    assert treatment["policy_version"].startswith("botox@")
    assert treatment["cancelled_at"] is None


def test_log_stores_the_patient_phone_in_e164_from_national_input(log_a: Log) -> None:
    treatment = log_a(patient={"phone": "(212) 555-0199"})

    assert treatment["patient"]["phone"] == "+12125550199"
    assert treatment["patient"]["name"] == "Jane Doe"


def test_log_plans_messages_with_utc_and_new_york_local_due_times(log_a: Log) -> None:
    treatment = log_a()

    pending = by_step(treatment, "pending")
    assert set(pending) == {"avoid", "all_clear"}
    assert pending["avoid"]["due_at"] == "2026-11-27T19:00:00Z"
    assert pending["avoid"]["due_at_local"] == "2026-11-27T14:00:00-05:00"
    assert pending["all_clear"]["due_at"] == "2026-11-27T23:00:00Z"
    assert pending["all_clear"]["due_at_local"] == "2026-11-27T18:00:00-05:00"
    assert all(m["channel"] == "sms" for m in treatment["messages"])


def test_log_gives_local_times_in_the_patients_own_zone(log_a: Log) -> None:
    treatment = log_a(patient={"timezone": "America/Los_Angeles"})

    assert treatment["patient"]["timezone"] == "America/Los_Angeles"
    assert treatment["performed_at_local"] == "2026-11-27T11:00:00-08:00"
    avoid = by_step(treatment, "pending")["avoid"]
    assert avoid["due_at_local"] == "2026-11-27T11:00:00-08:00"


def test_log_reads_a_naive_performed_at_in_the_clinic_zone(log_a: Log) -> None:
    treatment = log_a(performed_at="2026-11-27T13:30:00")

    assert treatment["performed_at"] == "2026-11-27T18:30:00Z"
    assert treatment["performed_at_local"] == "2026-11-27T13:30:00-05:00"
    assert by_step(treatment, "pending")["all_clear"]["due_at"] == "2026-11-27T22:30:00Z"


def test_log_without_performed_at_uses_now(client_a: TestClient) -> None:
    response = client_a.post("/v1/treatments", json=treatment_body(performed_at=None))

    assert response.status_code == 201
    assert response.json()["performed_at"] == "2026-11-27T19:00:00Z"


def test_log_records_sms_consent_at_now_by_default(log_a: Log) -> None:
    treatment = log_a()

    assert treatment["patient"]["sms_consent_at"] == "2026-11-27T19:00:00Z"


def test_log_records_a_given_local_sms_consent_time_in_utc(log_a: Log) -> None:
    treatment = log_a(patient={"sms_consent_at": "2026-11-27T13:00:00"})

    assert treatment["patient"]["sms_consent_at"] == "2026-11-27T18:00:00Z"


def test_log_for_an_email_patient_plans_email_messages(log_a: Log) -> None:
    treatment = log_a(
        patient={"phone": None, "sms_consent": None, "email": "jane@example.com"},
    )

    assert treatment["patient"]["email"] == "jane@example.com"
    assert treatment["patient"]["sms_consent_at"] is None
    assert {m["channel"] for m in treatment["messages"]} == {"email"}
    assert all(m["subject"] for m in treatment["messages"])


# -- GET /v1/treatments/{id} -----------------------------------------------------------


def test_get_returns_the_message_timeline_with_events(client_a: TestClient, log_a: Log) -> None:
    created = log_a()

    response = client_a.get(f"/v1/treatments/{created['id']}")

    assert response.status_code == 200
    treatment = response.json()
    assert treatment == as_read_back(created)
    for message in treatment["messages"]:
        assert [(e["kind"], e["state"]) for e in message["events"]] == [("planned", "pending")]
        assert message["events"][0]["at"] == "2026-11-27T19:00:00Z"


def test_get_shows_why_a_late_logged_avoid_step_was_skipped(
    client_a: TestClient, log_a: Log
) -> None:
    # Treated at 08:00 New York, logged at 14:00: the 4 h restriction ended at noon.
    created = log_a(performed_at="2026-11-27T08:00:00")

    treatment = client_a.get(f"/v1/treatments/{created['id']}").json()

    avoid = by_step(treatment, "skipped")["avoid"]
    assert avoid["reason"] == "expired: it stopped being true at 12:00 PM, before it could be sent"
    [event] = avoid["events"]
    assert event["kind"] == "skipped"
    assert event["state"] == "skipped"
    assert avoid["reason"] in event["detail"]
    all_clear = by_step(treatment, "pending")["all_clear"]
    assert all_clear["note"] == "logged 2 hours after it was due: sent now"
    assert all_clear["due_at"] == "2026-11-27T19:00:00Z"


def test_get_shows_a_sent_message_with_its_send_events(
    app: App, client_a: TestClient, log_a: Log
) -> None:
    created = log_a()
    channel = send_due(app)

    treatment = client_a.get(f"/v1/treatments/{created['id']}").json()

    avoid = by_step(treatment, "sent")["avoid"]
    assert channel.sent_ids() == [avoid["id"]]
    assert avoid["sent_at"] == "2026-11-27T19:00:00Z"
    assert avoid["attempts"] == 1
    assert [(e["kind"], e["state"]) for e in avoid["events"]] == [
        ("planned", "pending"),
        ("claimed", "sending"),
        ("sent", "sent"),
    ]


def test_get_an_unknown_id_is_404(client_a: TestClient) -> None:
    response = client_a.get("/v1/treatments/999999")

    assert response.status_code == 404
    assert response.json() == {"detail": "not found"}


def test_get_an_id_beyond_32_bits_is_422_not_a_database_error(client_a: TestClient) -> None:
    response = client_a.get(f"/v1/treatments/{2**31}")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "treatment_id"]


# -- GET /v1/treatments ------------------------------------------------------------


def ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["items"]]


def test_list_returns_the_clinics_treatments_newest_first(client_a: TestClient, log_a: Log) -> None:
    early = log_a(performed_at="2026-11-27T09:00:00")
    late = log_a(performed_at="2026-11-27T13:00:00")

    response = client_a.get("/v1/treatments")

    assert response.status_code == 200
    page = response.json()
    assert ids(page) == [late["id"], early["id"]]
    assert page["next_cursor"] is None
    assert page["items"][0] == as_read_back(late)


def test_list_filters_by_performed_from_inclusive_and_to_exclusive_in_clinic_time(
    client_a: TestClient, log_a: Log
) -> None:
    log_a(performed_at="2026-11-27T10:00:00")
    noon = log_a(performed_at="2026-11-27T12:00:00")
    one = log_a(performed_at="2026-11-27T13:00:00")
    log_a(performed_at="2026-11-27T14:00:00")

    page = client_a.get(
        "/v1/treatments",
        params={"performed_from": "2026-11-27T12:00:00", "performed_to": "2026-11-27T14:00:00"},
    ).json()

    assert ids(page) == [one["id"], noon["id"]]


def test_list_filters_by_performed_from_with_an_offset(client_a: TestClient, log_a: Log) -> None:
    log_a(performed_at="2026-11-27T10:00:00")
    later = log_a(performed_at="2026-11-27T12:00:00")

    page = client_a.get("/v1/treatments", params={"performed_from": "2026-11-27T16:30:00Z"}).json()

    assert ids(page) == [later["id"]]


def test_list_filters_by_phone_given_in_national_format(client_a: TestClient, log_a: Log) -> None:
    jane = log_a(patient={"phone": "+12125550199"})
    log_a(patient={"name": "John Roe", "phone": "+12125550188"})

    page = client_a.get("/v1/treatments", params={"phone": "(212) 555-0199"}).json()

    assert ids(page) == [jane["id"]]


def test_list_with_an_invalid_phone_filter_is_422(client_a: TestClient) -> None:
    response = client_a.get("/v1/treatments", params={"phone": "12"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "phone"]


def test_list_filters_by_status(client_a: TestClient, log_a: Log) -> None:
    kept = log_a(performed_at="2026-11-27T10:00:00")
    dropped = log_a(performed_at="2026-11-27T11:00:00")
    client_a.post(f"/v1/treatments/{dropped['id']}/cancel")

    cancelled = client_a.get("/v1/treatments", params={"status": "cancelled"}).json()
    active = client_a.get("/v1/treatments", params={"status": "active"}).json()

    assert ids(cancelled) == [dropped["id"]]
    assert ids(active) == [kept["id"]]


def test_list_pages_with_a_cursor_cover_everything_once(client_a: TestClient, log_a: Log) -> None:
    # Three share a time, so the cursor must break ties by id.
    created = [
        log_a(performed_at="2026-11-27T10:00:00"),
        log_a(performed_at="2026-11-27T11:00:00"),
        log_a(performed_at="2026-11-27T11:00:00"),
        log_a(performed_at="2026-11-27T11:00:00"),
        log_a(performed_at="2026-11-27T12:00:00"),
    ]
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        response = client_a.get("/v1/treatments", params=params)
        assert response.status_code == 200
        pages.append(response.json())
        if pages[-1]["next_cursor"] is None:
            break
        params = {"limit": 2, "cursor": pages[-1]["next_cursor"]}
        assert len(pages) < 5, "pagination does not end"

    assert [len(page["items"]) for page in pages] == [2, 2, 1]
    seen = [item_id for page in pages for item_id in ids(page)]
    assert len(seen) == len(set(seen))
    expected = [created[4], created[3], created[2], created[1], created[0]]
    assert seen == [t["id"] for t in expected]


def test_list_limit_over_100_is_422(client_a: TestClient) -> None:
    response = client_a.get("/v1/treatments", params={"limit": 101})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_list_with_a_garbage_cursor_is_422(client_a: TestClient) -> None:
    response = client_a.get("/v1/treatments", params={"cursor": "garbage"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize(
    "decoded",
    [
        pytest.param(f"2026-11-27T19:00:00+00:00|{2**31}", id="id_past_32_bits"),
        pytest.param(f"2026-11-27T19:00:00+00:00|{2**70}", id="id_past_64_bits"),
        pytest.param("0001-01-01T00:00:00+14:00|1", id="time_before_year_1_in_utc"),
    ],
)
def test_list_with_a_forged_out_of_range_cursor_is_422(client_a: TestClient, decoded: str) -> None:
    # Well-formed, but no cursor this API returns could hold these values.
    forged = base64.urlsafe_b64encode(decoded.encode()).decode()

    response = client_a.get("/v1/treatments", params={"cursor": forged})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


# -- PATCH /v1/treatments/{id} ---------------------------------------------------------


def test_patch_replans_pending_messages_for_the_corrected_time(
    client_a: TestClient, log_a: Log
) -> None:
    created = log_a()

    response = client_a.patch(
        f"/v1/treatments/{created['id']}", json={"performed_at": "2026-11-27T13:30:00"}
    )

    assert response.status_code == 200
    result = response.json()
    # Nothing had gone to the patient: no correction to send.
    assert (result["kind"], result["correction"], result["notified"]) == (None, None, False)
    treatment = result["treatment"]
    assert treatment["performed_at"] == "2026-11-27T18:30:00Z"
    pending = by_step(treatment, "pending")
    assert pending["all_clear"]["due_at"] == "2026-11-27T22:30:00Z"
    assert pending["all_clear"]["due_at_local"] == "2026-11-27T17:30:00-05:00"
    old = by_step(treatment, "cancelled")
    assert set(old) == {"avoid", "all_clear"}
    assert old["all_clear"]["reason"].startswith("re-planned: treatment time corrected to")
    assert old["all_clear"]["id"] < pending["all_clear"]["id"]


def test_patch_keeps_sent_messages_and_does_not_plan_them_again(
    app: App, client_a: TestClient, log_a: Log
) -> None:
    created = log_a()
    send_due(app)
    sent_before = by_step(client_a.get(f"/v1/treatments/{created['id']}").json(), "sent")

    result = client_a.patch(
        f"/v1/treatments/{created['id']}", json={"performed_at": "2026-11-27T13:30:00"}
    ).json()
    treatment = result["treatment"]

    assert by_step(treatment, "sent") == sent_before
    assert by_step(treatment, "skipped")["avoid"]["reason"] == (
        "already sent before the treatment was corrected"
    )
    # Told 6:00 PM, the patient hears of 5:30 PM (it may wait: they are not kept longer).
    assert result["kind"] == "loosened"
    assert result["correction"]["step_id"] == "correction_looser"
    assert "(until 5:30 PM)" in result["correction"]["body"]
    pending = by_step(treatment, "pending")
    assert set(pending) == {"all_clear", "correction_looser"}
    assert send_due(app).sent_ids() == [pending["correction_looser"]["id"]]


def test_patch_with_an_unknown_field_is_422_and_changes_nothing(
    client_a: TestClient, log_a: Log
) -> None:
    created = log_a()

    response = client_a.patch(
        f"/v1/treatments/{created['id']}",
        json={"performed_at": "2026-11-27T13:30:00", "status": "cancelled"},
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "status"]
    assert client_a.get(f"/v1/treatments/{created['id']}").json() == as_read_back(created)


def test_patch_to_more_than_a_day_ago_is_422_and_changes_nothing(
    client_a: TestClient, log_a: Log
) -> None:
    created = log_a()

    response = client_a.patch(
        f"/v1/treatments/{created['id']}", json={"performed_at": "2026-11-26T13:00:00"}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "performed_at"]
    assert client_a.get(f"/v1/treatments/{created['id']}").json() == as_read_back(created)


# -- POST /v1/treatments/{id}/cancel ---------------------------------------------------


def test_cancel_without_a_body_cancels_pending_messages_with_the_default_reason(
    client_a: TestClient, log_a: Log
) -> None:
    created = log_a()

    response = client_a.post(f"/v1/treatments/{created['id']}/cancel")

    assert response.status_code == 200
    result = response.json()
    assert sorted(result["cancelled_message_ids"]) == sorted(m["id"] for m in created["messages"])
    assert result["in_flight_message_ids"] == []
    treatment = result["treatment"]
    assert treatment["status"] == "cancelled"
    assert treatment["cancelled_at"] == "2026-11-27T19:00:00Z"
    assert treatment["cancel_reason"] == "cancelled by the clinic"
    for message in treatment["messages"]:
        assert message["state"] == "cancelled"
        assert message["reason"] == "cancelled by the clinic"
        assert message["events"][-1]["kind"] == "cancelled"


def test_cancel_records_the_given_reason(client_a: TestClient, log_a: Log) -> None:
    created = log_a()

    response = client_a.post(
        f"/v1/treatments/{created['id']}/cancel", json={"reason": "patient declined"}
    )

    assert response.status_code == 200
    treatment = response.json()["treatment"]
    assert treatment["cancel_reason"] == "patient declined"
    assert {m["reason"] for m in treatment["messages"]} == {"patient declined"}
    assert client_a.get(f"/v1/treatments/{created['id']}").json() == treatment


def test_cancel_leaves_sent_messages_and_lists_only_the_cancelled_ones(
    app: App, client_a: TestClient, log_a: Log
) -> None:
    created = log_a()
    send_due(app)

    result = client_a.post(f"/v1/treatments/{created['id']}/cancel").json()

    all_clear = by_step(result["treatment"], "cancelled")["all_clear"]
    assert result["cancelled_message_ids"] == [all_clear["id"]]
    assert set(by_step(result["treatment"], "sent")) == {"avoid"}


def test_cancel_with_an_unknown_field_is_422_and_changes_nothing(
    client_a: TestClient, log_a: Log
) -> None:
    created = log_a()

    response = client_a.post(
        f"/v1/treatments/{created['id']}/cancel", json={"reason": "x", "status": "active"}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "status"]
    assert client_a.get(f"/v1/treatments/{created['id']}").json() == as_read_back(created)
