"""/metrics in the Prometheus text format, read back with prometheus-client's own parser;
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reminders.bootstrap import App
from reminders.clock import FixedClock
from reminders.errors import ChannelError, FaultScope
from tests.api import TestClient
from tests.support import RecordingChannel, dispatcher

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_queue_is_read_from_the_database(
    client: TestClient, log_a: Callable[..., dict[str, Any]], clock: FixedClock
) -> None:
    log_a()
    log_a()

    samples = scrape(client)

    pending = value(samples, "reminders_queue_messages", state="pending")
    assert pending >= 4  # two treatments, each with its first message and later ones
    assert value(samples, "reminders_queue_messages", state="sending") == 0
    # Each first message is due now: a backlog of two, none of it old yet.
    assert value(samples, "reminders_queue_due_messages") == 2
    assert value(samples, "reminders_queue_oldest_due_seconds") == 0

    clock.advance(timedelta(seconds=90))
    assert value(scrape(client), "reminders_queue_oldest_due_seconds") == 90


def test_sends_lateness_and_provider_calls_are_counted(
    client: TestClient, app: App, log_a: Callable[..., dict[str, Any]], clock: FixedClock
) -> None:
    log_a()
    log_a()
    before = scrape(client)
    channel = RecordingChannel()
    channel.failures.append(ChannelError("busy", permanent=False, scope=FaultScope.MESSAGE))
    clock.advance(timedelta(seconds=3))

    dispatcher(app, channel).dispatch_due()

    after = scrape(client)
    grew = {
        f"{name}{labels}": value(after, name, **labels) - value(before, name, **labels)
        for name, labels in [
            ("reminders_sends_total", {"channel": "sms", "outcome": "sent"}),
            ("reminders_sends_total", {"channel": "sms", "outcome": "retried"}),
            ("reminders_claimed_messages_total", {}),
            ("reminders_send_lateness_seconds_count", {"channel": "sms"}),
            ("reminders_send_lateness_seconds_sum", {"channel": "sms"}),
            ("reminders_provider_call_seconds_count", {"channel": "sms", "result": "ok"}),
            ("reminders_provider_call_seconds_count", {"channel": "sms", "result": "error"}),
        ]
    }
    assert grew == {
        "reminders_sends_total{'channel': 'sms', 'outcome': 'sent'}": 1,
        "reminders_sends_total{'channel': 'sms', 'outcome': 'retried'}": 1,
        "reminders_claimed_messages_total{}": 2,
        "reminders_send_lateness_seconds_count{'channel': 'sms'}": 1,
        # Sent three seconds after it was due (the clock does not move during the pass).
        "reminders_send_lateness_seconds_sum{'channel': 'sms'}": 3,
        "reminders_provider_call_seconds_count{'channel': 'sms', 'result': 'ok'}": 1,
        "reminders_provider_call_seconds_count{'channel': 'sms', 'result': 'error'}": 1,
    }
    assert value(after, "reminders_queue_due_messages") == 0


@pytest.fixture
def metrics_token(app: App) -> str:
    app.settings.api.metrics_token = "scrape-secret"
    return "scrape-secret"


def test_a_metrics_token_is_required_once_set(client: TestClient, metrics_token: str) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert scrape(client, Authorization=f"Bearer {metrics_token}")


def test_metrics_are_not_in_the_api_docs(client: TestClient) -> None:
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_a_worker_serves_its_own_metrics_on_a_port(app: App) -> None:
    import socket

    import httpx

    from reminders.metrics import serve_metrics

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop = serve_metrics(app.sessions, app.clock, host="127.0.0.1", port=port)
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        stop()

    families = {f.name for f in text_string_to_metric_families(response.text)}
    assert {"reminders_queue_messages", "reminders_sends", "reminders_sms_segments"} <= families
