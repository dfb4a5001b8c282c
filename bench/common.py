"""Shared pieces of the scheduler benchmarks (burst, steady, intake, pending, baseline).

- databases: a SQLite file in a temporary folder, or a fresh schema in the PostgreSQL
  `test` database (dropped at the end, also on error, Ctrl-C or the watchdog);
- bulk seeding of patients, treatments and pending messages straight into the real
  schema (SQLAlchemy Core executemany on SQLite, COPY on PostgreSQL);
- a no-op channel that records (message_id, time.time()) for every send;
- worker-process entry points (spawned with multiprocessing): a Dispatcher loop for the
  burst, the real `reminders.worker.Worker` for the steady run, a claim-cycle probe for
  the pending-scale run;
- a time guard: a soft deadline the loops check, and a watchdog that kills the children,
  drops the schemas and exits if a run overstays its --max-seconds by far;
- percentiles, tables, results files and the machine description.

Nothing here listens on anything but loopback, and nothing leaves the machine.
"""

from __future__ import annotations

import cProfile
import io
import itertools
import json
import logging
import multiprocessing as mp
import os
import platform
import pstats
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from reminders.channels.base import ChannelRegistry, Outgoing, Receipt
from reminders.db import migrate
from reminders.db.engine import make_engine
from reminders.db.models import Message, Patient, Treatment
from reminders.domain import ChannelKind
from reminders.settings import ApiSettings, ClinicSettings, Settings, WorkerSettings

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "config"
RESULTS_DIR = REPO / "bench" / "results"
POSTGRES_URL = os.environ.get(
    "REMINDERS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DATABASES = ("sqlite", "postgres")
SPAWN = mp.get_context("spawn")

# -- time guard ------------------------------------------------------------------


class Deadline:
    """A soft deadline: loops ask how long is left and stop when nothing is."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.at = self.started + seconds

    def left(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def wall(self) -> float:
        """The deadline as a time.time() instant, for child processes."""
        return time.time() + self.left()


_children: list[Any] = []  # multiprocessing.Process objects still to reap
_schemas: list[str] = []  # PostgreSQL schemas created and not yet dropped
_watchdog_lock = threading.Lock()


def start_watchdog(max_seconds: float, grace: float = 60.0) -> threading.Timer:
    """The hard guard: if the script overstays max_seconds + grace (its own soft checks
    failed, a child hung), kill every child, drop our schemas and exit with status 3."""

    def fire() -> None:
        with _watchdog_lock:
            print(
                f"watchdog: still running {max_seconds + grace:.0f} s after start; aborting",
                file=sys.stderr,
                flush=True,
            )
            for child in list(_children):
                with suppress(Exception):
                    child.kill()
            for schema in list(_schemas):
                with suppress(Exception):
                    _drop_schema(schema)
            os._exit(3)

    timer = threading.Timer(max_seconds + grace, fire)
    timer.daemon = True
    timer.start()
    return timer


@contextmanager
def guarded(max_seconds: float) -> Iterator[Deadline]:
    """A run's soft deadline, with the watchdog armed for as long as the block lasts."""
    timer = start_watchdog(max_seconds)
    try:
        yield Deadline(max_seconds)
    finally:
        timer.cancel()


def spawn(target: Callable[..., None], *args: object, name: str) -> Any:
    """A spawned child process, reaped by the watchdog if it hangs."""
    process = SPAWN.Process(target=target, args=args, name=name, daemon=True)
    process.start()
    _children.append(process)
    return process


def reap(process: Any, timeout: float) -> int | None:
    """Join a child; terminate then kill it if it does not exit in time. Its exit code."""
    process.join(timeout)
    if process.is_alive():
        process.terminate()
        process.join(5)
    if process.is_alive():
        process.kill()
        process.join(5)
    with suppress(ValueError):
        _children.remove(process)
    return process.exitcode  # type: ignore[no-any-return]


# -- settings and databases --------------------------------------------------------


def clinic() -> ClinicSettings:
    return ClinicSettings(
        name="Harbor Skin Clinic", phone="+12125550143", timezone="America/New_York"
    )


def settings(data_dir: Path | str, database_url: str, **worker: Any) -> Settings:
    """The service's settings for a benchmark: the example clinic, the shipped policies,
    default worker settings unless overridden, the per-key API limit out of the way."""
    return Settings(
        data_dir=Path(data_dir),
        config_dir=CONFIG_DIR,
        database_url=database_url,
        clinic=clinic(),
        worker=WorkerSettings(**worker),
        api=ApiSettings(rate_per_minute=100_000_000, rate_burst=100_000_000),
    )


def _drop_schema(schema: str) -> None:
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(sa.text("SET LOCAL lock_timeout = '20s'"))
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()
    with suppress(ValueError):
        _schemas.remove(schema)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh, migrated schema in the PostgreSQL test database; dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    finally:
        admin.dispose()
    _schemas.append(schema)
    try:
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        url_text = url.render_as_string(hide_password=False)
        engine = make_engine(url_text)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        yield url_text
    finally:
        _drop_schema(schema)


@contextmanager
def sqlite_file(tmp: Path) -> Iterator[str]:
    """A migrated SQLite file (WAL) in a temporary folder."""
    url = f"sqlite:///{tmp / 'data' / 'reminders.db'}"
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    yield url


@contextmanager
def database(kind: str) -> Iterator[tuple[str, Path]]:
    """(url, temporary folder) for a fresh migrated database of this kind."""
    with tempfile.TemporaryDirectory(prefix="reminders-bench-") as name:
        tmp = Path(name)
        (tmp / "data").mkdir()
        source = sqlite_file(tmp) if kind == "sqlite" else postgres_schema()
        with source as url:
            yield url, tmp


def postgres_version() -> str | None:
    try:
        engine = make_engine(POSTGRES_URL)
        try:
            with engine.connect() as connection:
                return str(connection.execute(sa.text("SHOW server_version")).scalar_one())
        finally:
            engine.dispose()
    except Exception as exc:  # the description is best-effort
        return f"unavailable ({type(exc).__name__})"


def analyze(url: str) -> None:
    """Fresh planner statistics on PostgreSQL (what autovacuum would have done)."""
    engine = make_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("VACUUM ANALYZE messages, treatments, patients"))
    finally:
        engine.dispose()


# -- seeding -----------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    first_id: int  # message ids are first_id .. first_id + count - 1
    count: int
    seconds: float

    @property
    def ids(self) -> range:
        return range(self.first_id, self.first_id + self.count)


def sample_text(url: str) -> tuple[int, str, str]:
    """(clinic id, a real rendered SMS body, the botox policy version), via the service.

    build_app also creates (syncs) the clinic row."""
    from reminders.bootstrap import build_app

    with tempfile.TemporaryDirectory(prefix="reminders-bench-") as name:
        app = build_app(settings(name, url))
        try:
            plan = app.service.preview(
                app.clinic.id, treatment_type="botox", performed_at=app.clock.now()
            )
            body = next(step.body for step in plan.steps if step.step_id == "avoid")
            return app.clinic.id, body, plan.policy_version
        finally:
            app.close()


def seed(
    url: str,
    count: int,
    due_at: Callable[[int], datetime],
    *,
    messages_per_treatment: int = 2,
    expires_after: timedelta = timedelta(days=400),
    chunk: int = 20_000,
) -> Seeded:
    """Insert `count` pending SMS messages, message i (0-based) due at due_at(i).

    Each treatment carries `messages_per_treatment` messages and its own patient (with a
    phone and consent to texts), as the service would plan them; no events are written.
    Ids are explicit and follow the table's current maximum; sequences are moved past.
    """
    clinic_id, body, policy_version = sample_text(url)
    engine = make_engine(url)
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            first = _next_id(connection, Message) if count else 1
            first_treatment = _next_id(connection, Treatment)
            first_patient = _next_id(connection, Patient)
        treatments = -(-count // messages_per_treatment)
        now = datetime.now(UTC)
        patients_rows = (
            {
                "id": first_patient + t,
                "clinic_id": clinic_id,
                "name": f"Bench Patient {first_patient + t}",
                "phone": f"+1646{(first_patient + t) % 10_000_000:07d}",
                "sms_consent_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for t in range(treatments)
        )
        treatment_rows = (
            {
                "id": first_treatment + t,
                "clinic_id": clinic_id,
                "patient_id": first_patient + t,
                "treatment_type": "botox",
                "performed_at": now,
                "logged_at": now,
                "status": "active",
                "policy_version": policy_version,
                "restriction": "4h",
                "created_at": now,
                "updated_at": now,
            }
            for t in range(treatments)
        )

        def message_rows() -> Iterator[dict[str, Any]]:
            for i in range(count):
                due = due_at(i)
                yield {
                    "id": first + i,
                    "clinic_id": clinic_id,
                    "treatment_id": first_treatment + i // messages_per_treatment,
                    "step_id": "avoid" if i % messages_per_treatment == 0 else "all_clear",
                    "channel": ChannelKind.SMS.value,
                    "state": "pending",
                    "natural_at": due,
                    "due_at": due,
                    "send_after": due,
                    "expires_at": due + expires_after,
                    "body": body,
                    "policy_version": policy_version,
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }

        insert = _copy_rows if engine.dialect.name == "postgresql" else _executemany_rows
        insert(engine, Patient.__table__, patients_rows, chunk)
        insert(engine, Treatment.__table__, treatment_rows, chunk)
        insert(engine, Message.__table__, message_rows(), chunk)
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                for table in ("patients", "treatments", "messages"):
                    connection.execute(
                        sa.text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                            f"(SELECT max(id) FROM {table}))"
                        )
                    )
    finally:
        engine.dispose()
    return Seeded(first, count, time.perf_counter() - started)


def _next_id(connection: sa.Connection, model: type[Any]) -> int:
    return (
        int(connection.execute(sa.select(sa.func.coalesce(sa.func.max(model.id), 0))).scalar_one())
        + 1
    )


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _executemany_rows(
    engine: Engine, table: sa.Table, rows: Iterable[dict[str, Any]], chunk: int
) -> None:
    """DBAPI executemany, one transaction per chunk. Values go through the columns' own
    bind processors (UTC, SQLite's text format), each distinct value converted once."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    columns = list(first)
    dialect = engine.dialect
    processors = [table.c[name].type._cached_bind_processor(dialect) for name in columns]
    # Our own table and column names, never input.
    names, marks = ", ".join(columns), ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"  # noqa: S608
    cache: dict[object, object] = {}

    def convert(row: dict[str, Any]) -> tuple[object, ...]:
        values = []
        for name, process in zip(columns, processors, strict=True):
            value = row[name]
            if process is not None and value is not None:
                if len(cache) > 100_000:
                    cache.clear()
                converted = cache.get((process, value))
                if converted is None:
                    converted = cache[(process, value)] = process(value)
                value = converted
            values.append(value)
        return tuple(values)

    for batch in _chunks(itertools.chain([first], rows), chunk):
        with engine.begin() as connection:
            connection.exec_driver_sql(statement, [convert(row) for row in batch])


def _copy_rows(engine: Engine, table: sa.Table, rows: Iterable[dict[str, Any]], chunk: int) -> None:
    """PostgreSQL COPY FROM STDIN through psycopg, one transaction for the table."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    columns = list(first)
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
        names = ", ".join(columns)
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            copy.write_row([first[c] for c in columns])
            for row in rows:
                copy.write_row([row[c] for c in columns])
        raw.commit()
    finally:
        raw.close()


def pending_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count()).select_from(Message).where(Message.state == "pending")
            ).scalar_one()
        )


def state_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(Message.state, sa.func.count()).group_by(Message.state)
            ).all()
        return {state: int(n) for state, n in rows}
    finally:
        engine.dispose()


# -- the no-op channel -------------------------------------------------------------


class NoopChannel:
    """Sends nothing: records (message_id, time.time()) and returns a receipt."""

    name = "bench-noop"

    def __init__(self) -> None:
        self.sends: list[tuple[int, float]] = []

    def send(self, outgoing: Outgoing) -> Receipt:
        self.sends.append((outgoing.message_id, time.time()))
        return Receipt(f"noop-{outgoing.message_id}")

    def registry(self) -> ChannelRegistry:
        return ChannelRegistry({ChannelKind.SMS: self, ChannelKind.EMAIL: self})


# -- checks and statistics ---------------------------------------------------------


@dataclass
class Checked:
    sent: int
    duplicates: int  # sends beyond the first of a message
    misses: int  # expected messages never sent
    unexpected: int  # sends of ids that were not expected
    early: int  # sends before their due instant
    lateness_ms: dict[str, float]  # p50, p99, max (send time minus due instant)
    first_send: float | None
    last_send: float | None


def check_sends(
    sends: Sequence[tuple[int, float]], expected: Iterable[int], due: Callable[[int], float]
) -> Checked:
    counts = Counter(message_id for message_id, _ in sends)
    expected_set = set(expected)
    lateness = sorted(at - due(message_id) for message_id, at in sends)
    times = [at for _, at in sends]
    return Checked(
        sent=len(sends),
        duplicates=sum(n - 1 for n in counts.values() if n > 1),
        misses=len(expected_set - set(counts)),
        unexpected=len(set(counts) - expected_set),
        early=sum(1 for value in lateness if value < 0),
        lateness_ms=latency_summary(lateness),
        first_send=min(times) if times else None,
        last_send=max(times) if times else None,
    )


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values (same rule as bench.api_load)."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_summary(ordered_seconds: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of sorted durations in seconds, in milliseconds."""
    return {
        "p50": round(percentile(ordered_seconds, 0.50) * 1000, 2),
        "p99": round(percentile(ordered_seconds, 0.99) * 1000, 2),
        "max": round((ordered_seconds[-1] if ordered_seconds else 0.0) * 1000, 2),
    }


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def rss_kib() -> dict[str, int]:
    """This process's resident set size now and at its peak (VmRSS, VmHWM), in KiB."""
    values: dict[str, int] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 2)


# -- output ------------------------------------------------------------------------


def table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A right-aligned text table, in the style of bench.api_load."""
    cells = [tuple(head)] + [tuple(_cell(value) for value in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(value.rjust(width) for value, width in zip(values, widths, strict=True))

    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *map(line, cells[1:])])


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def machine() -> dict[str, object]:
    model = "unknown"
    with suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    with suppress(OSError), open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "cpu_model": model,
        "machine": platform.machine(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version(),
        "sqlalchemy": sa.__version__,
        "load_average_when_written": [round(x, 2) for x in os.getloadavg()],
    }


def code_version() -> dict[str, object]:
    """The commit measured, and whether reminders/ differs from it (uncommitted edits)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "reminders"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "reminders_modified": None}
    return {"commit": commit, "reminders_modified": bool(dirty)}


def write_results(name: str, payload: dict[str, object]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    document = {
        "benchmark": name,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "code": code_version(),
        **payload,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"written {path.relative_to(REPO)}")
    return path


def quiet_logging() -> None:
    """Warnings only, to stderr (the package logs every send at INFO)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def profile_top(profiler: cProfile.Profile, limit: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(limit)
    out.write("\n--- by own time ---\n")
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()


class StatementTimer:
    """Time spent in cursor.execute per SQL statement (its first 110 characters), for
    the profile reports: which statements a pass spends its database time on."""

    def __init__(self, engine: Engine, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.totals: dict[str, list[float]] = {}
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, _cursor: Any, _stmt: str, *_args: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        started = conn.info.pop("bench_started", None)
        if started is None or not self.enabled:
            return
        key = " ".join(statement.split())[:110]
        entry = self.totals.setdefault(key, [0, 0.0])
        entry[0] += 1
        entry[1] += time.perf_counter() - started

    def report(self, limit: int = 15) -> str:
        total = sum(seconds for _, seconds in self.totals.values())
        lines = [f"--- time in cursor.execute by statement: {total:.3f} s in all ---"]
        ranked = sorted(self.totals.items(), key=lambda item: -item[1][1])[:limit]
        for key, (count, seconds) in ranked:
            lines.append(f"{seconds * 1000:10.1f} ms {int(count):7d}x  {key}")
        return "\n".join(lines) + "\n"


@contextmanager
def all_threads_profiled() -> Iterator[list[tuple[str, cProfile.Profile]]]:
    """A cProfile per thread started inside the block (uvicorn's loop, the request
    worker threads), for code this process runs in threads it did not start itself."""
    profiles: list[tuple[str, cProfile.Profile]] = []
    lock = threading.Lock()

    def boot(_frame: Any, _event: str, _arg: Any) -> None:
        sys.setprofile(None)
        profiler = cProfile.Profile()
        with lock:
            profiles.append((threading.current_thread().name, profiler))
        profiler.enable()

    threading.setprofile(boot)
    try:
        yield profiles
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]


def merged_profile(profiles: Sequence[tuple[str, cProfile.Profile]], limit: int = 30) -> str:
    merged: pstats.Stats | None = None
    for _name, profiler in profiles:
        try:
            stats = pstats.Stats(profiler)
        except TypeError:  # a thread that never recorded anything
            continue
        if merged is None:
            merged = stats
        else:
            merged.add(stats)
    if merged is None:
        return "(no thread recorded anything)\n"
    out = io.StringIO()
    merged.stream = out  # type: ignore[attr-defined]
    names = sorted({name.split("_")[0].rstrip("-0123456789 ") for name, _ in profiles})
    out.write(f"threads merged: {len(profiles)} ({', '.join(names)})\n")
    merged.sort_stats("cumulative").print_stats(limit)
    out.write("\n--- by own time ---\n")
    merged.sort_stats("tottime").print_stats(limit)
    return out.getvalue()


# -- the baseline's job function ---------------------------------------------------

# What the APScheduler baseline's jobs record: (message_id, time.time()). The function
# lives here, in a module always imported as bench.common, so the reference the job
# store pickles ("bench.common:record_job") resolves to this very list.
BASELINE_RUNS: list[tuple[int, float]] = []


def record_job(message_id: int) -> None:
    BASELINE_RUNS.append((message_id, time.time()))


# -- worker processes --------------------------------------------------------------


def dispatch_worker(
    index: int,
    database_url: str,
    data_dir: str,
    worker_overrides: dict[str, Any],
    ready: Any,
    go: Any,
    t0: Any,
    deadline_wall: float,
    out_path: str,
    profile: bool,
) -> None:
    """A worker process for the burst: a Dispatcher loop on the real SystemClock.

    dispatch_due() until nothing is pending after the due instant; between passes it
    sleeps until the next wake the dispatcher reports (at most 50 ms), like the real
    worker's wake job. Writes its sends and counters to out_path as JSON."""
    quiet_logging()
    from reminders.bootstrap import build_app

    app = build_app(settings(data_dir, database_url, **worker_overrides), upgrade=False)
    channel = NoopChannel()
    dispatcher = app.dispatcher(channel.registry(), worker_id=f"bench-{index}")
    profiler = cProfile.Profile() if profile else None
    timer = StatementTimer(app.engine) if profile else None
    totals: Counter[str] = Counter()
    passes = 0
    timed_out = False
    ready.put(index)
    if not go.wait(timeout=max(1.0, deadline_wall - time.time())):
        timed_out = True
    due = t0.value
    if profiler:
        profiler.enable()
    while not timed_out:
        if time.time() > deadline_wall:
            timed_out = True
            break
        report = dispatcher.dispatch_due()
        passes += 1
        for name in ("sent", "retried", "failed", "skipped", "recovered", "released"):
            totals[name] += getattr(report, name)
        totals["lost_claims"] += report.lost_claims
        if report.sent or report.retried or report.failed or report.skipped or report.released:
            continue
        now = time.time()
        if now >= due and pending_count(app.engine) == 0:
            break
        wake = dispatcher.next_wake()
        pause = 0.05 if wake is None else wake.timestamp() - time.time()
        time.sleep(min(0.05, max(0.002, pause)))
    if profiler:
        profiler.disable()
    rss = rss_kib()
    app.close()
    Path(out_path).write_text(
        json.dumps(
            {
                "index": index,
                "sends": channel.sends,
                "totals": dict(totals),
                "passes": passes,
                "timed_out": timed_out,
                "rss_kib": rss,
                "profile": profile_top(profiler) + timer.report() if profiler and timer else None,
            }
        )
    )


def steady_worker(
    database_url: str,
    data_dir: str,
    worker_overrides: dict[str, Any],
    ready: Any,
    stop: Any,
    deadline_wall: float,
    out_path: str,
) -> None:
    """The real worker (reminders.worker.Worker: APScheduler wake job + poll) with the
    no-op channel, until told to stop. Writes its sends to out_path as JSON."""
    quiet_logging()
    from reminders.bootstrap import build_app
    from reminders.worker import Worker

    app = build_app(settings(data_dir, database_url, **worker_overrides), upgrade=False)
    channel = NoopChannel()
    dispatcher = app.dispatcher(channel.registry(), worker_id="bench-steady")
    worker = Worker(dispatcher, poll_interval=app.settings.worker.poll_interval)
    worker.start()
    ready.put(0)
    stopped = stop.wait(timeout=max(1.0, deadline_wall - time.time()))
    worker.stop()
    rss = rss_kib()
    app.close()
    Path(out_path).write_text(
        json.dumps({"sends": channel.sends, "timed_out": not stopped, "rss_kib": rss})
    )


def pending_probe(
    database_url: str,
    data_dir: str,
    cycle_ids: list[list[int]],
    out_path: str,
    profile: bool,
) -> None:
    """A fresh worker process over a large pending table: its memory, and the time of
    dispatch_due() with nothing due (idle pass) and with ~100 messages due (a claim
    cycle: claim, send, settle every one), each several times."""
    quiet_logging()
    from reminders.bootstrap import build_app

    app = build_app(settings(data_dir, database_url), upgrade=False)
    rss_start = rss_kib()
    channel = NoopChannel()
    dispatcher = app.dispatcher(channel.registry(), worker_id="bench-probe")
    profiler = cProfile.Profile() if profile else None
    timer = StatementTimer(app.engine, enabled=False) if profile else None
    idle: list[float] = []
    wake: list[float] = []
    cycles: list[float] = []
    sent: list[int] = []
    for _ in range(3):
        started = time.perf_counter()
        dispatcher.dispatch_due()
        idle.append(time.perf_counter() - started)
        started = time.perf_counter()
        dispatcher.next_wake()
        wake.append(time.perf_counter() - started)
    for ids in cycle_ids:
        moment = app.clock.now() - timedelta(seconds=1)
        with app.engine.begin() as connection:
            connection.execute(
                sa.update(Message)
                .where(Message.id.in_(ids))
                .values(due_at=moment, send_after=moment, natural_at=moment)
            )
        if profiler and timer:
            profiler.enable()
            timer.enabled = True
        started = time.perf_counter()
        report = dispatcher.dispatch_due()
        cycles.append(time.perf_counter() - started)
        if profiler and timer:
            profiler.disable()
            timer.enabled = False
        sent.append(report.sent)
    rss_end = rss_kib()
    app.close()
    Path(out_path).write_text(
        json.dumps(
            {
                "idle_pass_s": idle,
                "next_wake_s": wake,
                "cycle_s": cycles,
                "cycle_sent": sent,
                "sends": channel.sends,
                "rss_start_kib": rss_start,
                "rss_end_kib": rss_end,
                "profile": profile_top(profiler) + timer.report() if profiler and timer else None,
            }
        )
    )
