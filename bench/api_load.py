"""Load benchmark of POST /v1/treatments over loopback HTTP, on SQLite and/or PostgreSQL.

    python -m bench.api_load [--requests N] [--concurrency C] [--database sqlite|postgres|both]

For each database: settings in a temporary folder (a SQLite file, or a fresh schema in
the PostgreSQL `test` database, dropped at the end), a clinic API key, uvicorn serving
the app on a free 127.0.0.1 port in a background thread, then C concurrent httpx clients
logging treatments (distinct patients, SMS consent) until N are done or the time limit
passes. Prints a table and writes bench/results/api_load.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa
import uvicorn
from sqlalchemy.engine import make_url

from reminders.accounts import Accounts
from reminders.api.app import create_app
from reminders.bootstrap import App, build_app
from reminders.db import migrate
from reminders.db.engine import make_engine
from reminders.settings import ApiSettings, ClinicSettings, Settings

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "config"
RESULTS = REPO / "bench" / "results" / "api_load.json"
POSTGRES_URL = os.environ.get(
    "REMINDERS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
HOST = "127.0.0.1"
FIRST_PHONE = 100  # +12125550100
LAST_PHONE = 9999  # +12125559999
MAX_REQUESTS = LAST_PHONE - FIRST_PHONE + 1  # one distinct patient per request
MAX_CONCURRENCY = 64
REQUEST_TIMEOUT = 30.0


@dataclass
class Result:
    database: str
    requests: int  # completed (answered or failed), at most the number asked for
    asked: int
    concurrency: int
    errors: int  # anything but 201, including transport errors
    seconds: float
    treatments_per_second: float  # 201s per wall-clock second of the load phase
    p50_ms: float
    p99_ms: float
    max_ms: float
    timed_out: bool
    error_samples: list[str]


def _clinic() -> ClinicSettings:
    return ClinicSettings(
        name="Harbor Skin Clinic", phone="+12125550143", timezone="America/New_York"
    )


def _settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        config_dir=CONFIG_DIR,
        database_url=database_url,
        clinic=_clinic(),
        # The benchmark measures the service, not the per-key limiter.
        api=ApiSettings(rate_per_minute=100_000_000, rate_burst=100_000_000),
    )


@contextmanager
def _sqlite_url(tmp: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp / 'data' / 'reminders.db'}"


@contextmanager
def _postgres_url() -> Iterator[str]:
    """A fresh, migrated schema in the PostgreSQL test database; dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        url_text = url.render_as_string(hide_password=False)
        engine = make_engine(url_text)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        try:
            yield url_text
        finally:
            with admin.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@contextmanager
def _serving(app: App) -> Iterator[str]:
    """uvicorn on a free loopback port in a background thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(app), host=HOST, port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
    )
    thread.start()
    base_url = f"http://{HOST}:{port}"
    try:
        _wait_healthy(base_url, thread)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def _wait_healthy(base_url: str, thread: threading.Thread, limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    with httpx.Client(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not thread.is_alive():
                raise RuntimeError("uvicorn stopped before answering /healthz")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"{base_url}/healthz did not answer within {limit:.0f}s")


def _body(index: int) -> dict[str, object]:
    number = FIRST_PHONE + index
    return {
        "patient": {
            "name": f"Bench Patient {number:04d}",
            "phone": f"+1212555{number:04d}",
            "sms_consent": True,
        },
        "treatment_type": "botox",
    }


async def _load(
    base_url: str, key: str, requests: int, concurrency: int, max_seconds: float
) -> tuple[list[float], int, list[str], float, bool]:
    """C clients, each sending one request at a time, until `requests` are done or time is up."""
    latencies: list[float] = []
    errors = 0
    samples: list[str] = []
    next_index = 0
    timed_out = False
    headers = {"Authorization": f"Bearer {key}"}
    started = time.perf_counter()
    deadline = started + max_seconds

    async def client_loop() -> None:
        nonlocal next_index, errors, timed_out
        async with httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT
        ) as client:
            while next_index < requests:
                if time.perf_counter() > deadline:
                    timed_out = True
                    return
                index = next_index
                next_index += 1
                sent = time.perf_counter()
                try:
                    response = await client.post("/v1/treatments", json=_body(index))
                except httpx.HTTPError as exc:
                    failure: str | None = f"{type(exc).__name__}: {exc}"
                else:
                    failure = None
                    if response.status_code != 201:
                        failure = f"{response.status_code}: {response.text[:200]}"
                latencies.append(time.perf_counter() - sent)
                if failure is not None:
                    errors += 1
                    if len(samples) < 5:
                        samples.append(failure)

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return latencies, errors, samples, time.perf_counter() - started, timed_out


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values, in milliseconds."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1] * 1000


def run_one(database: str, requests: int, concurrency: int, max_seconds: float) -> Result:
    with tempfile.TemporaryDirectory(prefix="reminders-bench-") as tmp_name:
        tmp = Path(tmp_name)
        source = _sqlite_url(tmp) if database == "sqlite" else _postgres_url()
        with source as url:
            app = build_app(_settings(tmp / "data", url))
            try:
                key = Accounts(sessions=app.sessions, clock=app.clock).create_key(
                    "default", label="bench"
                )
                with _serving(app) as base_url:
                    latencies, errors, samples, seconds, timed_out = asyncio.run(
                        _load(base_url, key.key, requests, concurrency, max_seconds)
                    )
            finally:
                app.close()
    ordered = sorted(latencies)
    return Result(
        database=database,
        requests=len(latencies),
        asked=requests,
        concurrency=concurrency,
        errors=errors,
        seconds=round(seconds, 3),
        treatments_per_second=round((len(latencies) - errors) / seconds, 1) if seconds else 0.0,
        p50_ms=round(_percentile(ordered, 0.50), 1),
        p99_ms=round(_percentile(ordered, 0.99), 1),
        max_ms=round(ordered[-1] * 1000 if ordered else 0.0, 1),
        timed_out=timed_out,
        error_samples=samples,
    )


def _table(results: list[Result]) -> str:
    head = ("database", "requests", "errors", "treatments/s", "p50 ms", "p99 ms", "max ms")
    rows = [
        (
            r.database,
            f"{r.requests}" + (" (time limit)" if r.timed_out else ""),
            str(r.errors),
            f"{r.treatments_per_second:.1f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.max_ms:.1f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))

    return "\n".join([line(head), line(tuple("-" * w for w in widths)), *map(line, rows)])


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.api_load", description=__doc__)
    parser.add_argument(
        "--requests", type=int, default=2000, help=f"treatments to log (1..{MAX_REQUESTS})"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help=f"concurrent clients (1..{MAX_CONCURRENCY})"
    )
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=300.0,
        help="stop each database's load phase after this long (default 300)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be between 1 and {MAX_REQUESTS} (one phone per request)")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
    if not 0 < args.max_seconds <= 3600:
        parser.error("--max-seconds must be in (0, 3600]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    results = []
    for database in databases:
        print(
            f"{database}: {args.requests} x POST /v1/treatments, {args.concurrency} clients ...",
            file=sys.stderr,
            flush=True,
        )
        results.append(run_one(database, args.requests, args.concurrency, args.max_seconds))
    print(_table(results))
    for result in results:
        for sample in result.error_samples:
            print(f"  {result.database} error: {sample}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "POST /v1/treatments over loopback HTTP (uvicorn, same process)",
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "results": [asdict(r) for r in results],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written {RESULTS.relative_to(REPO)}")
    return 1 if any(r.errors or r.timed_out for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
