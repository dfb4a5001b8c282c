"""`reminders serve --log-level DEBUG` logs no patient's name, phone number or email.

One patient whose details appear nowhere else is logged, looked up, refused, corrected,
cancelled and texted through the real process; then the process's whole log (stderr)
is searched for those details in every form a request could carry them. The console
channel's outbox (stdout) carries the message texts by design: it is not a log.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.e2e.helpers import (
    REMINDERS,
    ServeProcess,
    cli_env,
    free_port,
    outbox_ids,
    run_cli,
    squash,
    wait_for,
)

NAME = "Quillon Vexmoor"
PHONE_TYPED = "(212) 555-0164"
PHONE_E164 = "+12125550164"
EMAIL = "quillon.vexmoor@example.org"
TOKEN = "log-test-twilio-token"
PUBLIC = "https://reminders.example.org"
# Every form of the patient's details a request, a query string or a form could carry.
SECRETS = sorted(
    {
        NAME,
        "Quillon",
        "Vexmoor",
        PHONE_TYPED,
        PHONE_E164,
        PHONE_E164[1:],
        PHONE_E164[2:],
        "212 555 0164",
        "555-0164",
        quote(PHONE_E164, safe=""),
        quote_plus(PHONE_TYPED),
        quote(PHONE_TYPED, safe=""),
        EMAIL,
        quote(EMAIL, safe=""),
        "quillon.vexmoor",
    }
)


class DebugServe(ServeProcess):
    """`reminders serve --log-level DEBUG`, otherwise as `ServeProcess` runs it."""

    def __init__(self, *, env: Mapping[str, str], cwd: Path, port: int) -> None:
        self.name = "serve"
        self.stdout_path = cwd / "serve.stdout"
        self.stderr_path = cwd / "serve.stderr"
        env = {**env, "REMINDERS_API__PORT": str(port)}
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [str(REMINDERS), "serve", "--log-level", "DEBUG"],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[DebugServe, httpx.Client, Path]]:
    """The process, a client with a key, and the data folder; killed if still running."""
    data_dir = tmp_path / "data"
    env = cli_env(
        data_dir,
        {"REMINDERS_TWILIO__AUTH_TOKEN": TOKEN, "REMINDERS_TWILIO__PUBLIC_BASE_URL": PUBLIC},
    )
    created = run_cli(["apikey", "create", "--clinic", "default"], env=env, cwd=tmp_path)
    assert created.returncode == 0, created.describe()
    key = created.stdout.strip().splitlines()[-1]
    port = free_port()
    process = DebugServe(env=env, cwd=tmp_path, port=port)
    try:
        process.wait_ready()
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        ) as client:
            yield process, client, data_dir
    finally:
        process.kill()


def patient(**overrides: object) -> dict[str, object]:
    details: dict[str, object] = {
        "name": NAME,
        "phone": PHONE_TYPED,
        "email": EMAIL,
        "sms_consent": True,
    }
    details.update(overrides)
    return details


def exercise_the_api(client: httpx.Client) -> dict[str, int]:
    """Every kind of request that carries the patient's details; the status of each."""
    created = client.post("/v1/treatments", json={"patient": patient(), "treatment_type": "botox"})
    assert created.status_code == 201, created.text
    treatment_id = created.json()["id"]
    form = {
        "From": PHONE_E164,
        "To": "+12125550143",
        "Body": f"Thanks, {NAME} here",
        "MessageSid": "SM" + "0" * 32,
    }
    inbound = f"{PUBLIC}/webhooks/twilio/inbound"
    signature = RequestValidator(TOKEN).compute_signature(inbound, form)
    calls = {
        "log": created,
        "by phone": client.get("/v1/treatments", params={"phone": PHONE_E164}),
        "by phone as typed": client.get("/v1/treatments", params={"phone": PHONE_TYPED}),
        "refused: bad email": client.post(
            "/v1/treatments",
            json={"patient": patient(email="quillon.vexmoor@"), "treatment_type": "botox"},
        ),
        "refused: bad type": client.post(
            "/v1/treatments", json={"patient": patient(), "treatment_type": NAME}
        ),
        "refused: bad phone query": client.get("/v1/treatments", params={"phone": NAME}),
        "not found": client.get("/v1/treatments/999999"),
        "unsigned webhook": client.post("/webhooks/twilio/inbound", data=form),
        "inbound text": client.post(
            "/webhooks/twilio/inbound", data=form, headers={"X-Twilio-Signature": signature}
        ),
        "correct": client.patch(
            f"/v1/treatments/{treatment_id}",
            json={"restriction": "6h", "restriction_reason": f"{NAME} asked", "dry_run": True},
        ),
        "cancel": client.post(
            f"/v1/treatments/{treatment_id}/cancel",
            json={"reason": f"{NAME} ({PHONE_TYPED}) asked", "dry_run": True},
        ),
    }
    return {what: response.status_code for what, response in calls.items()}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_serve_at_debug_level_logs_no_patient_details(
    serve: tuple[DebugServe, httpx.Client, Path],
) -> None:
    process, client, data_dir = serve

    statuses = exercise_the_api(client)
    wait_for(
        lambda: bool(outbox_ids(data_dir / "outbox.log")),
        timeout=20,
        what="the worker to send the patient's first message",
        diagnose=process.describe,
    )
    assert process.terminate() == 0
    log = process.stderr()

    assert statuses == {
        "log": 201,
        "by phone": 200,
        "by phone as typed": 200,
        "refused: bad email": 422,
        "refused: bad type": 422,
        "refused: bad phone query": 422,
        "not found": 404,
        "unsigned webhook": 403,
        "inbound text": 200,
        "correct": 200,
        "cancel": 200,
    }
    # The log is really at DEBUG and has the requests in it: the search below means something.
    assert " DEBUG " in log
    assert '"GET /v1/treatments HTTP/1.1" 200' in log
    assert '"POST /webhooks/twilio/inbound HTTP/1.1" 200' in log
    assert "message sent" in log
    # The outbox stand-in did get the text (by design, it is not a log).
    assert PHONE_E164 in process.stdout()
    found = [secret for secret in SECRETS if secret.lower() in log.lower()]
    assert found == [], squash(
        "\n".join(line for line in log.splitlines() if any(s in line for s in found))
    )
