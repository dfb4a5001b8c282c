"""`reminders api --workers N`: several processes serve one port on one SQLite file."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import REMINDERS, cli_env, free_port, run_cli, wait_for

WORKERS = 2
REQUESTS = 30


@pytest.mark.timeout(90)
def test_api_processes_share_the_port_and_the_database_and_stop_on_sigterm(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = cli_env(tmp_path / "data", {"REMINDERS_API__PORT": str(port)})
    created = run_cli(["apikey", "create", "--clinic", "default"], env=env, cwd=tmp_path)
    assert created.returncode == 0, created.describe()
    key = created.stdout.strip().splitlines()[-1]
    stderr_path = tmp_path / "api.stderr"
    with stderr_path.open("wb") as stderr:
        server = subprocess.Popen(
            [str(REMINDERS), "api", "--workers", str(WORKERS)],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        wait_for(
            lambda: stderr_path.read_text().count("API process") == WORKERS,
            timeout=30,
            what=f"{WORKERS} API processes ready",
            diagnose=stderr_path.read_text,
        )
        ids = []
        for n in range(REQUESTS):
            # A connection per request, so that the kernel hands them to either process.
            response = httpx.post(
                f"http://127.0.0.1:{port}/v1/treatments",
                headers={"Authorization": f"Bearer {key}"},
                json={
                    "patient": {"name": f"P {n}", "phone": f"+1212555{n:04d}", "sms_consent": True},
                    "treatment_type": "botox",
                },
                timeout=10,
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        listed = httpx.get(
            f"http://127.0.0.1:{port}/v1/treatments?limit=100",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    assert sorted(ids) == list(range(1, REQUESTS + 1))
    assert sorted(t["id"] for t in listed.json()["items"]) == sorted(ids)
    assert code == 0, stderr_path.read_text()
    assert "Traceback" not in stderr_path.read_text()
