"""`reminders serve` starts sending only once its API listens, so that Twilio's first status
callbacks (to the API) are never refused."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from reminders import cli
from reminders.bootstrap import build_app
from reminders.settings import load_settings
from tests.e2e.helpers import free_port


def test_the_worker_starts_once_the_api_accepts_connections(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("REMINDERS_API__PORT", str(port))
    application = build_app(load_settings())
    seen: list[bool] = []

    def start_worker() -> None:
        # What `serve` starts here is the worker: the port must already take connections.
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            seen.append(True)
        os.kill(os.getpid(), signal.SIGTERM)  # done: uvicorn shuts down as on Ctrl-C

    try:
        cli._run_api(application, on_listening=start_worker)
    finally:
        application.close()
    assert seen == [True]
