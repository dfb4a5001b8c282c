"""The baseline most Python projects would write: one APScheduler 3 job per message.

    python -m bench.baseline [--messages N] [--database sqlite|postgres|both]
                             [--grace default|none|both] [--max-seconds S]

A BackgroundScheduler with a SQLAlchemyJobStore (its table `apscheduler_jobs` in a fresh
reminders database: the SQLite file, or a fresh schema of the PostgreSQL `test` database)
and one DateTrigger job per message, all at the same due instant T0; the job function is
a module-level no-op that records (message_id, time.time()). The scheduler is started
paused, the N jobs are added (that is the baseline's intake: add_job per message, timed),
and it is resumed just before T0, so it wakes at T0 exactly as a running scheduler would.

Two runs per database:
- `default`: APScheduler's default misfire_grace_time (1 s). Jobs handed to the thread
  pool more than 1 s after T0 are dropped: EVENT_JOB_MISSED and one WARNING log line,
  nothing else; the job is deleted from the store and never runs. The count is the
  correctness figure (messages silently lost).
- `none`: misfire_grace_time=None, every job runs however late: its drain rate.

The job store gets the engine the service itself uses (`reminders.db.engine.make_engine`:
on SQLite WAL, synchronous=NORMAL, BEGIN IMMEDIATE), so the comparison is of the design,
not of SQLite pragmas. Prints a table and writes bench/results/baseline.json.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger

from bench import common
from reminders.db.engine import make_engine

GRACE_MODES = ("default", "none")
CALIBRATION_JOBS = 200


def _scheduler(engine: Any, grace: str) -> BackgroundScheduler:
    job_defaults = {} if grace == "default" else {"misfire_grace_time": None}
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")},
        job_defaults=job_defaults,
        timezone="UTC",
    )


def _add_jobs(
    scheduler: BackgroundScheduler, ids: range, run_date: datetime, deadline: common.Deadline
) -> tuple[list[float], bool]:
    """add_job per id; the seconds each call took, and whether the deadline cut it short."""
    calls: list[float] = []
    trigger = DateTrigger(run_date=run_date)
    for message_id in ids:
        if deadline.expired():
            return calls, True
        started = time.perf_counter()
        scheduler.add_job(
            common.record_job, trigger, args=[message_id], id=f"m{message_id}", name="send"
        )
        calls.append(time.perf_counter() - started)
    return calls, False


def _intake_figures(calls: list[float]) -> dict[str, object]:
    seconds = sum(calls)
    return {
        "jobs_added": len(calls),
        "intake_s": round(seconds, 3),
        "intake_per_s": round(len(calls) / seconds, 1) if seconds else None,
        "add_job_ms": common.latency_summary(sorted(calls)),
    }


def measure_intake(kind: str, jobs: int, deadline: common.Deadline) -> dict[str, object]:
    """Only the baseline's intake: add_job per message into the job store (no drain)."""
    with common.database(kind) as (url, _tmp):
        engine = make_engine(url)
        scheduler = _scheduler(engine, "none")
        scheduler.start(paused=True)
        try:
            far = datetime.now(UTC) + timedelta(days=1)
            calls, cut = _add_jobs(scheduler, range(jobs), far, deadline)
        finally:
            scheduler.shutdown(wait=False)
            engine.dispose()
    return {"database": kind, "asked": jobs, "timed_out": cut, **_intake_figures(calls)}


def run(kind: str, messages: int, grace: str, deadline: common.Deadline) -> dict[str, object]:
    """One baseline burst: N jobs due at T0 in a fresh database, drained by APScheduler."""
    common.BASELINE_RUNS.clear()
    counts = {"executed": 0, "missed": 0, "error": 0}
    done = threading.Event()
    lock = threading.Lock()

    def listen(event: Any) -> None:
        with lock:
            if event.code == EVENT_JOB_EXECUTED:
                counts["executed"] += 1
            elif event.code == EVENT_JOB_MISSED:
                counts["missed"] += 1
            else:
                counts["error"] += 1
            if sum(counts.values()) >= messages:
                done.set()

    with common.database(kind) as (url, _tmp):
        engine = make_engine(url)
        scheduler = _scheduler(engine, grace)
        scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
        scheduler.start(paused=True)
        try:
            # Calibrate the insertion rate on a few throwaway jobs, so T0 can be set
            # just after the N real ones will have been added.
            far = datetime.now(UTC) + timedelta(days=1)
            calibration, _ = _add_jobs(
                scheduler, range(-CALIBRATION_JOBS, 0), far, common.Deadline(60)
            )
            scheduler.remove_all_jobs()
            per_job = sum(calibration) / max(1, len(calibration))
            lead = messages * per_job * 1.25 + 1.5
            t0 = datetime.now(UTC) + timedelta(seconds=lead)
            calls, cut = _add_jobs(scheduler, range(messages), t0, deadline)
            overrun = datetime.now(UTC) > t0 - timedelta(seconds=0.2)
            if not cut:
                time.sleep(max(0.0, (t0 - datetime.now(UTC)).total_seconds() - 0.2))
                scheduler.resume()  # wakes at T0, as a scheduler that was running would
                finished = done.wait(timeout=max(1.0, deadline.left()))
            else:
                finished = False
            timed_out = cut or not finished
        finally:
            scheduler.shutdown(wait=False)
            time.sleep(0.2)
            engine.dispose()
    runs = list(common.BASELINE_RUNS)
    due = t0.timestamp()
    checked = common.check_sends(runs, range(len(calls)), lambda _id: due)
    drain = (checked.last_send - due) if checked.last_send else None
    dropped = counts["missed"]
    return {
        "system": "baseline",
        "database": kind,
        "grace": "1 s (default)" if grace == "default" else "None",
        "messages": messages,
        **_intake_figures(calls),
        "t0_overrun": overrun,
        "executed": counts["executed"],
        "dropped_misfired": dropped,
        "errors": counts["error"],
        "drain_s": round(drain, 3) if drain is not None else None,
        "per_s": round(checked.sent / drain, 1) if drain else None,
        "lateness_ms": checked.lateness_ms,
        "duplicates": checked.duplicates,
        # Never run and not even reported as missed (a job store or scheduler failure).
        "misses": max(0, checked.misses - dropped),
        "early": checked.early,
        "timed_out": timed_out,
    }


HEAD = (
    "database",
    "grace",
    "jobs",
    "intake/s",
    "ran",
    "dropped",
    "drain s",
    "ran/s",
    "late p50 ms",
    "late p99 ms",
    "late max ms",
    "dup",
    "miss",
    "early",
)


def rows(results: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    return [
        (
            r["database"],
            r["grace"],
            r["messages"],
            r["intake_per_s"],
            r["executed"],
            r["dropped_misfired"],
            r["drain_s"],
            r["per_s"],
            r["lateness_ms"]["p50"],
            r["lateness_ms"]["p99"],
            r["lateness_ms"]["max"],
            r["duplicates"],
            r["misses"],
            r["early"],
        )
        for r in results
    ]


def problems(result: dict[str, Any]) -> list[str]:
    """What makes a baseline run unusable as a reference (its drops are not: they are
    what is measured)."""
    found = []
    if result["timed_out"]:
        found.append("time limit reached")
    if result["t0_overrun"]:
        found.append("adding the jobs overran T0: lateness is inflated")
    for key in ("duplicates", "misses", "early", "errors"):
        if result[key]:
            found.append(f"{key}: {result[key]}")
    return found


def run_all_modes(
    databases: list[str], messages: int, graces: list[str], deadline: common.Deadline
) -> list[dict[str, Any]]:
    results = []
    for kind in databases:
        for grace in graces:
            print(
                f"baseline {kind}: {messages} APScheduler jobs, misfire_grace_time={grace} ...",
                file=sys.stderr,
                flush=True,
            )
            results.append(run(kind, messages, grace, deadline))
    return results


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000, help="jobs (default 20000)")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--grace", choices=["default", "none", "both"], default="both")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="whole run (600)")
    args = parser.parse_args(argv)
    if not 1 <= args.messages <= 1_000_000:
        parser.error("--messages must be between 1 and 1000000")
    if not 0 < args.max_seconds <= 3600:
        parser.error("--max-seconds must be in (0, 3600]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    common.quiet_logging()
    with common.guarded(args.max_seconds) as deadline:
        databases = list(common.DATABASES) if args.database == "both" else [args.database]
        graces = list(GRACE_MODES) if args.grace == "both" else [args.grace]
        results = run_all_modes(databases, args.messages, graces, deadline)
        print(common.table(HEAD, rows(results)))
        bad = {f"{r['database']} {r['grace']}": problems(r) for r in results if problems(r)}
        for name, found in bad.items():
            print(f"  {name}: {'; '.join(found)}")
        common.write_results("baseline", {"messages": args.messages, "results": results})
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
