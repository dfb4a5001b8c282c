"""Load benchmark of POST /v1/treatments over loopback HTTP, on SQLite and/or PostgreSQL.

    python -m bench.api_load [--requests N] [--concurrency C] [--database sqlite|postgres|both]
                             [--workers W] [--max-seconds S] [--profile]

For each database: settings in a temporary folder (a SQLite file, or a fresh schema in
the PostgreSQL `test` database, dropped at the end), a clinic API key, the real server
(`reminders api`, uvicorn) started as a subprocess on a free 127.0.0.1 port, then C
keep-alive connections from this process, each with one request in flight, logging
treatments (distinct patients, SMS consent) until N are done or the time limit passes.
Prints a table and writes bench/results/api_load.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from reminders.accounts import Accounts
from reminders.bootstrap import build_app
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
MAX_WORKERS = 8
REQUEST_TIMEOUT = 30.0
START_TIMEOUT = 30.0
# The benchmark measures the service, not the per-key limiter: the key's limit is
# raised through settings, as an operator would, never switched off in code.
RATE_OUT_OF_THE_WAY = 100_000_000


@dataclass
class Result:
    database: str
    requests: int  # completed (answered or failed), at most the number asked for
    asked: int
    concurrency: int
    workers: int  # server processes
    errors: int  # anything but 201, including transport errors
    seconds: float
    treatments_per_second: float  # 201s per wall-clock second of the load phase
    p50_ms: float
    p99_ms: float
    max_ms: float
    timed_out: bool
    error_samples: list[str]
    server_cpu_ms: float  # the server processes' CPU time per request in the load phase
    profile: str | None = field(default=None, repr=False)  # the server's, with --profile


def _settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        config_dir=CONFIG_DIR,
        database_url=database_url,
        clinic=ClinicSettings(
            name="Harbor Skin Clinic", phone="+12125550143", timezone="America/New_York"
        ),
        api=ApiSettings(rate_per_minute=RATE_OUT_OF_THE_WAY, rate_burst=RATE_OUT_OF_THE_WAY),
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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _server_env(data_dir: Path, url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
    env.update(
        REMINDERS_CONFIG_DIR=str(CONFIG_DIR),
        REMINDERS_DATA_DIR=str(data_dir),
        REMINDERS_DATABASE_URL=url,
        REMINDERS_API__HOST=HOST,
        REMINDERS_API__PORT=str(port),
        REMINDERS_API__RATE_PER_MINUTE=str(RATE_OUT_OF_THE_WAY),
        REMINDERS_API__RATE_BURST=str(RATE_OUT_OF_THE_WAY),
    )
    return env


def _server_command(workers: int, profile_to: Path | None) -> list[str]:
    if profile_to is not None:
        return [sys.executable, "-m", "bench.api_server", "--profile-to", str(profile_to)]
    command = [sys.executable, "-m", "reminders", "api", "--log-level", "WARNING"]
    return command + (["--workers", str(workers)] if workers > 1 else [])


@contextmanager
def _serving(
    tmp: Path, url: str, workers: int, profile_to: Path | None
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """The real API server in a subprocess on a free loopback port; yields the port."""
    port = _free_port()
    log = (tmp / "server.log").open("wb")
    server = subprocess.Popen(
        _server_command(workers, profile_to),
        env=_server_env(tmp / "data", url, port),
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_healthy(port, server, tmp / "server.log", workers)
        yield port, server
    finally:
        _stop(server)
        log.close()


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _wait_healthy(port: int, server: subprocess.Popen[bytes], log: Path, workers: int) -> None:
    """Until /healthz answers and, with several processes, every one has said it is ready:
    keep-alive connections stay with the process that accepted them."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode}):\n{log.read_text()}")
        if workers > 1 and log.read_text().count("API process") < workers:
            time.sleep(0.05)
            continue
        try:
            with socket.create_connection((HOST, port), timeout=1.0) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"/healthz did not answer within {START_TIMEOUT:.0f}s:\n{log.read_text()}")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_seconds(int(child)) for child in children)


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


def _request(port: int, key: str, index: int) -> bytes:
    """The whole HTTP/1.1 request, built before the clock starts."""
    body = json.dumps(_body(index), separators=(",", ":")).encode()
    head = (
        "POST /v1/treatments HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        f"Authorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body, and whether the server will close the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip().lower()
    if headers.get(b"transfer-encoding") == b"chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
    else:
        body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return status, body, headers.get(b"connection") == b"close"


async def _load(
    port: int, requests: list[bytes], concurrency: int, max_seconds: float
) -> tuple[list[float], int, list[str], float, bool]:
    """C keep-alive connections, one request in flight each, until all are answered."""
    latencies: list[float] = []
    errors = 0
    samples: list[str] = []
    next_index = 0
    timed_out = False
    started = time.perf_counter()
    deadline = started + max_seconds

    def failed(text: str) -> None:
        nonlocal errors
        errors += 1
        if len(samples) < 5:
            samples.append(text)

    async def connection() -> None:
        nonlocal next_index, timed_out
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while next_index < len(requests):
            if time.perf_counter() > deadline:
                timed_out = True
                break
            index = next_index
            next_index += 1
            sent = time.perf_counter()
            try:
                if stream is None:
                    stream = await asyncio.open_connection(HOST, port)
                reader, writer = stream
                writer.write(requests[index])
                status, body, closing = await asyncio.wait_for(_response(reader), REQUEST_TIMEOUT)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                latencies.append(time.perf_counter() - sent)
                failed(f"{type(exc).__name__}: {exc}")
                if stream is not None:
                    stream[1].close()
                stream = None
                continue
            latencies.append(time.perf_counter() - sent)
            if status != 201:
                failed(f"{status}: {body[:200].decode(errors='replace')}")
            if closing:
                stream[1].close()
                stream = None
        if stream is not None:
            stream[1].close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return latencies, errors, samples, time.perf_counter() - started, timed_out


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values, in milliseconds."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1] * 1000


def run_one(
    database: str,
    requests: int,
    concurrency: int,
    max_seconds: float,
    *,
    workers: int = 1,
    profile: bool = False,
) -> Result:
    """One database from nothing: schema, key, server subprocess, load, figures."""
    with tempfile.TemporaryDirectory(prefix="reminders-bench-") as tmp_name:
        tmp = Path(tmp_name)
        source = _sqlite_url(tmp) if database == "sqlite" else _postgres_url()
        with source as url:
            app = build_app(_settings(tmp / "data", url))  # migrates SQLite, syncs the clinic
            try:
                key = Accounts(sessions=app.sessions, clock=app.clock).create_key(
                    "default", label="bench"
                )
            finally:
                app.close()
            profile_to = tmp / "server-profile.txt" if profile else None
            with _serving(tmp, url, workers, profile_to) as (port, server):
                prebuilt = [_request(port, key.key, index) for index in range(requests)]
                cpu_before = _cpu_seconds(server.pid)
                latencies, errors, samples, seconds, timed_out = asyncio.run(
                    _load(port, prebuilt, concurrency, max_seconds)
                )
                cpu = _cpu_seconds(server.pid) - cpu_before
            profile_text = profile_to.read_text() if profile_to and profile_to.exists() else None
    ordered = sorted(latencies)
    return Result(
        database=database,
        requests=len(latencies),
        asked=requests,
        concurrency=concurrency,
        workers=workers,
        errors=errors,
        seconds=round(seconds, 3),
        treatments_per_second=round((len(latencies) - errors) / seconds, 1) if seconds else 0.0,
        p50_ms=round(_percentile(ordered, 0.50), 1),
        p99_ms=round(_percentile(ordered, 0.99), 1),
        max_ms=round(ordered[-1] * 1000 if ordered else 0.0, 1),
        timed_out=timed_out,
        error_samples=samples,
        server_cpu_ms=round(cpu * 1000 / len(latencies), 2) if latencies else 0.0,
        profile=profile_text,
    )


def _table(results: list[Result]) -> str:
    head = ("database", "workers", "requests", "errors", "treatments/s", "p50 ms", "p99 ms")
    head += ("max ms", "server CPU ms/req")
    rows = [
        (
            r.database,
            str(r.workers),
            f"{r.requests}" + (" (time limit)" if r.timed_out else ""),
            str(r.errors),
            f"{r.treatments_per_second:.1f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.max_ms:.1f}",
            f"{r.server_cpu_ms:.2f}",
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
        "--concurrency",
        type=int,
        default=8,
        help=f"concurrent keep-alive connections (1..{MAX_CONCURRENCY})",
    )
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--workers", type=int, default=1, help=f"API server processes (1..{MAX_WORKERS})"
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=300.0,
        help="stop each database's load phase after this long (default 300)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the server's threads, to bench/results/api_load-profile-<db>.txt",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be between 1 and {MAX_REQUESTS} (one phone per request)")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
    if not 1 <= args.workers <= MAX_WORKERS:
        parser.error(f"--workers must be between 1 and {MAX_WORKERS}")
    if args.profile and args.workers != 1:
        parser.error("--profile profiles one server process: use --workers 1")
    if not 0 < args.max_seconds <= 3600:
        parser.error("--max-seconds must be in (0, 3600]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    results = []
    for database in databases:
        print(
            f"{database}: {args.requests} x POST /v1/treatments, {args.concurrency} connections, "
            f"{args.workers} server process(es) ...",
            file=sys.stderr,
            flush=True,
        )
        results.append(
            run_one(
                database,
                args.requests,
                args.concurrency,
                args.max_seconds,
                workers=args.workers,
                profile=args.profile,
            )
        )
    print(_table(results))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for result in results:
        for sample in result.error_samples:
            print(f"  {result.database} error: {sample}")
        if result.profile:
            path = RESULTS.with_name(f"api_load-profile-{result.database}.txt")
            path.write_text(result.profile)
            print(f"profile: {path.relative_to(REPO)}")
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "POST /v1/treatments over loopback HTTP (server in its own process)",
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "results": [
                    {k: v for k, v in asdict(r).items() if k != "profile"} for r in results
                ],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written {RESULTS.relative_to(REPO)}")
    return 1 if any(r.errors or r.timed_out for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
