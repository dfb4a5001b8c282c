"""From the API's 201 to the provider call: how long the first text of a treatment waits.

    python -m bench.first_text [--treatments 100] [--database both] [--mode both]

Per database (SQLite, PostgreSQL) and mode (`serve`: API and worker in one process;
`split`: `reminders api` and `reminders worker` as two processes on one database), from
nothing: a migrated database, an API key, the real server processes started with
`REMINDERS_*` variables pointing Twilio at a local Twilio-compatible server (the tests'
`FakeTwilio`, on 127.0.0.1) with the per-sender rate out of the way. Treatments are then
logged one at a time over HTTP (`POST /v1/treatments`, botox, performed now, consent to
texts), a random 50-250 ms apart so that nothing lines up with the worker's poll; for
each, the latency is the time from the client reading the 201 to the fake provider
receiving that patient's first text (both read on this process's monotonic clock).

Reported per configuration: p50, p90, p99 and max in milliseconds (nearest rank), and
the texts that never arrived within 5 s (must be 0: exit 1 otherwise).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, astuple, dataclass, field
from pathlib import Path

import httpx

from bench import common
from bench.api_load import (
    CONFIG_DIR,
    HOST,
    REPO,
    _body,
    _free_port,
    _postgres_url,
    _server_env,
    _settings,
    _sqlite_url,
    _stop,
    _wait_healthy,
)
from reminders.accounts import Accounts
from reminders.bootstrap import build_app
from tests.delivery.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

FROM_NUMBER = "+12125550100"
ARRIVAL_TIMEOUT = 5.0
GAP_SECONDS = (0.05, 0.25)
MODES = ("serve", "split")
TARGET_P99_MS = 50.0
DATABASES = ("sqlite", "postgres")


@dataclass
class Result:
    database: str
    mode: str
    treatments: int
    missing: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    # Each treatment's, in the order logged (for the JSON file: where the slow ones fall).
    latencies_ms: list[float] = field(default_factory=list, repr=False)


def _env(data_dir: Path, url: str, port: int, twilio_url: str) -> dict[str, str]:
    env = _server_env(data_dir, url, port)
    env.update(
        REMINDERS_CONFIG_DIR=str(CONFIG_DIR),
        REMINDERS_TWILIO__ACCOUNT_SID=ACCOUNT_SID,
        REMINDERS_TWILIO__AUTH_TOKEN=AUTH_TOKEN,
        REMINDERS_TWILIO__FROM_NUMBER=FROM_NUMBER,
        REMINDERS_TWILIO__API_BASE_URL=twilio_url,
        REMINDERS_TWILIO__RATE_PER_SECOND="1000",
    )
    return env


@contextmanager
def _processes(tmp: Path, url: str, mode: str, twilio_url: str) -> Iterator[int]:
    """`reminders serve`, or `reminders api` and `reminders worker`; yields the API's port."""
    port = _free_port()
    env = _env(tmp / "data", url, port, twilio_url)
    commands = [["serve"]] if mode == "serve" else [["api"], ["worker"]]
    with ExitStack() as stack:
        started = []
        for command in commands:
            log_path = tmp / f"{command[0]}.log"
            log = stack.enter_context(log_path.open("wb"))
            process = subprocess.Popen(
                [sys.executable, "-m", "reminders", *command, "--log-level", "WARNING"],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            stack.callback(_stop, process)
            started.append((process, log_path))
        _wait_healthy(port, started[0][0], started[0][1], 1)
        # The worker of `split` is ready when it has run its first pass: give it time
        # to import and connect (it prints its banner before its first poll).
        for process, log_path in started[1:]:
            _wait_for_text(log_path, "worker running", process)
        yield port


def _wait_for_text(path: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{path.name}: exited ({process.returncode}):\n{path.read_text()}")
        if text in path.read_text():
            time.sleep(1.0)  # its first pass and poll
            return
        time.sleep(0.05)
    raise RuntimeError(f"{path.name}: no {text!r} within 60 s:\n{path.read_text()}")


def _arrival(fake: FakeTwilio, phone: str, deadline: float) -> float | None:
    while time.monotonic() < deadline:
        for received in fake.created_for(phone):
            return received.at
        time.sleep(0.0005)
    return None


def run_one(database: str, mode: str, treatments: int, seed: int = 1) -> Result:
    rng = random.Random(seed)
    latencies: list[float] = []
    missing = 0
    with tempfile.TemporaryDirectory(prefix="reminders-bench-") as tmp_name, FakeTwilio() as fake:
        tmp = Path(tmp_name)
        source = _sqlite_url(tmp) if database == "sqlite" else _postgres_url()
        with source as url:
            app = build_app(_settings(tmp / "data", url))
            try:
                key = Accounts(sessions=app.sessions, clock=app.clock).create_key(
                    "default", label="bench"
                )
            finally:
                app.close()
            with (
                _processes(tmp, url, mode, fake.url) as port,
                httpx.Client(
                    base_url=f"http://{HOST}:{port}",
                    headers={"Authorization": f"Bearer {key.key}"},
                ) as client,
            ):
                for index in range(treatments):
                    time.sleep(rng.uniform(*GAP_SECONDS))
                    body = _body(index)
                    response = client.post("/v1/treatments", json=body)
                    answered = time.monotonic()
                    if response.status_code != 201:
                        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
                    phone = str(body["patient"]["phone"])  # type: ignore[index]
                    arrived = _arrival(fake, phone, answered + ARRIVAL_TIMEOUT)
                    if arrived is None:
                        missing += 1
                    else:
                        latencies.append(arrived - answered)
    ordered = sorted(latencies)

    def ms(fraction: float) -> float:
        return round(common.percentile(ordered, fraction) * 1000, 1) if ordered else 0.0

    return Result(
        database=database,
        mode=mode,
        treatments=treatments,
        missing=missing,
        p50_ms=ms(0.50),
        p90_ms=ms(0.90),
        p99_ms=ms(0.99),
        max_ms=round(ordered[-1] * 1000, 1) if ordered else 0.0,
        latencies_ms=[round(seconds * 1000, 2) for seconds in latencies],
    )


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--treatments", type=int, default=100)
    parser.add_argument("--database", choices=(*DATABASES, "both"), default="both")
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both")
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    common.quiet_logging()
    databases = DATABASES if args.database == "both" else (args.database,)
    modes = MODES if args.mode == "both" else (args.mode,)
    results: list[Result] = []
    with common.guarded(args.max_seconds):
        for database in databases:
            for mode in modes:
                results.append(run_one(database, mode, args.treatments, args.seed))
    print(
        common.table(
            ["database", "mode", "treatments", "missing", "p50 ms", "p90 ms", "p99 ms", "max ms"],
            [astuple(r)[:-1] for r in results],
        )
    )
    common.write_results(
        "first_text",
        {
            "results": [asdict(r) for r in results],
            "machine": common.machine(),
            "code": common.code_version(),
        },
    )
    return 1 if any(r.missing for r in results) else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
