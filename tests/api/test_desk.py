"""The desk over the API: the first message's progress (waited for), and texts moved to
email when they do not arrive."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reminders.bootstrap import App
from reminders.channels.base import ChannelRegistry
from reminders.channels.console import ConsoleChannel
from reminders.domain import ChannelKind
from reminders.inbound import ProviderReports
from tests.api import TestClient, treatment_body
from tests.support import RecordingChannel, dispatcher


@pytest.fixture
def console_worker(app: App, tmp_path: Path) -> Iterator[None]:
    """A worker on the console channel (which reports delivered), passing every 20 ms."""
    console = ConsoleChannel(tmp_path / "outbox.log", stream=io.StringIO())
    sending = app.dispatcher(
        ChannelRegistry({ChannelKind.SMS: console, ChannelKind.EMAIL: console})
    )
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(0.02):
            sending.dispatch_due()

    thread = threading.Thread(target=run)
    thread.start()
    yield
    stop.set()
    thread.join()


def test_the_response_says_how_the_first_text_is_doing(
    log_a: Callable[..., dict[str, Any]],
) -> None:
    body = log_a()
    first = body["first_message"]
    avoid = next(m for m in body["messages"] if m["step_id"] == "avoid")
    assert first["message_id"] == avoid["id"]
    assert (first["stage"], first["final"], first["problem"]) == ("queued", False, False)
    assert first["summary"] == "text waiting for the worker"


def test_waiting_answers_once_the_first_text_is_delivered(
    client_a: TestClient, console_worker: None
) -> None:
    started = time.monotonic()
    response = client_a.post("/v1/treatments?wait=10", json=treatment_body())
    assert response.status_code == 201, response.text
    assert time.monotonic() - started < 5
    body = response.json()
    first = body["first_message"]
    assert (first["stage"], first["final"], first["problem"]) == ("delivered", True, False)
    avoid = next(m for m in body["messages"] if m["id"] == first["message_id"])
    assert (avoid["state"], avoid["delivery_status"]) == ("sent", "delivered")


def test_waiting_ends_at_the_wait_when_nothing_sends(client_a: TestClient) -> None:
    started = time.monotonic()
    response = client_a.post("/v1/treatments?wait=0.3", json=treatment_body())
    waited = time.monotonic() - started
    assert response.status_code == 201
    assert 0.3 <= waited < 3
    assert response.json()["first_message"]["stage"] == "queued"


@pytest.mark.parametrize("wait", ["-1", "31", "nan", "inf", "soon"])
def test_a_wait_out_of_range_is_refused(client_a: TestClient, wait: str) -> None:
    response = client_a.post(f"/v1/treatments?wait={wait}", json=treatment_body())
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "wait"]
    assert client_a.get("/v1/treatments").json()["items"] == []


def undelivered(app: App, channel: RecordingChannel) -> int:
    """Send what is due, and report the first text undelivered (a wrong number)."""
    dispatcher(app, channel).dispatch_due()
    first = channel.sent_ids()[0]
    ProviderReports(
        sessions=app.sessions, clock=app.clock, reroutes=app.reroutes, triage=app.triage
    ).delivery_status(provider_id=f"rec-{first}-1", status="undelivered", error_code="30005")
    return first


def test_an_undelivered_text_says_what_to_do_and_goes_by_email_instead(
    app: App,
    client_a: TestClient,
    channel: RecordingChannel,
    log_a: Callable[..., dict[str, Any]],
) -> None:
    treatment = log_a()
    first_id = undelivered(app, channel)

    first = client_a.get(f"/v1/treatments/{treatment['id']}/first-message").json()
    assert first["message_id"] == first_id
    assert (first["stage"], first["problem"], first["email_instead"]) == (
        "undelivered",
        True,
        True,
    )
    assert first["what_to_do"] == [
        "check the mobile number with the patient (it looks wrong)",
        "send the aftercare by email instead (ask the patient for an address)",
        "print the instructions and hand them to the patient",
    ]

    refused = client_a.post(f"/v1/treatments/{treatment['id']}/email-instead", json={})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "email"]

    moved = client_a.post(
        f"/v1/treatments/{treatment['id']}/email-instead",
        json={"email": "jane@example.com", "reason": "wrong number"},
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["patient"]["email"] == "jane@example.com"
    assert sorted((m["step_id"], m["channel"], m["state"]) for m in body["messages"]) == [
        ("all_clear", "email", "pending"),
        ("all_clear", "sms", "cancelled"),
        ("avoid", "email", "pending"),
        ("avoid", "sms", "sent"),
    ]
    now_first = client_a.get(f"/v1/treatments/{treatment['id']}/first-message").json()
    assert (now_first["channel"], now_first["stage"]) == ("email", "queued")


def test_another_clinics_treatment_is_not_found(
    client_b: TestClient, log_a: Callable[..., dict[str, Any]]
) -> None:
    treatment = log_a()
    assert client_b.get(f"/v1/treatments/{treatment['id']}/first-message").status_code == 404
    moved = client_b.post(
        f"/v1/treatments/{treatment['id']}/email-instead", json={"email": "x@example.com"}
    )
    assert moved.status_code == 404


def test_a_cancelled_treatment_cannot_move_to_email(
    client_a: TestClient, log_a: Callable[..., dict[str, Any]]
) -> None:
    treatment = log_a(patient={"email": "jane@example.com"})
    assert client_a.post(f"/v1/treatments/{treatment['id']}/cancel").status_code == 200
    moved = client_a.post(f"/v1/treatments/{treatment['id']}/email-instead", json={})
    assert moved.status_code == 409
