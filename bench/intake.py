"""Intake: how fast treatments (and their planned messages) get into the schedule.

    python -m bench.intake [--treatments N] [--database sqlite|postgres|both] [--bulk-batch B]
                           [--api-requests N] [--api-concurrency C]
                           [--with-baseline | --no-baseline] [--max-seconds S] [--profile]

For each database (a fresh SQLite file or PostgreSQL schema):

1. service layer: `app.service.log_treatment` called N times in a loop (one distinct
   patient each, consent to texts, botox, performed now: two planned messages per
   treatment), each call timed; treatments/s and p50/p99/max per call. If the service
   has a bulk method (log_treatments / log_treatments_bulk / log_many / bulk_log) it is
   timed too (as many treatments, --bulk-batch per call, default 500); if it has
   none, the report says so;
2. HTTP API: bench.api_load's run_one (the API server in a subprocess on loopback, C
   keep-alive connections) for a shorter run;
3. with --with-baseline (default): the baseline's intake, APScheduler add_job per message
   into a SQLAlchemyJobStore (bench.baseline.measure_intake), N x 2 jobs (one per
   message the N treatments plan).

Targets from the issue: service layer >= 2000 treatments/s on SQLite (bulk); API >= 500/s
with p99 < 50 ms. Exit status 1 if a call failed or a run hit the time limit. Writes
bench/results/intake.json.
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import time
from typing import Any

from bench import api_load, baseline, common
from reminders.bootstrap import build_app
from reminders.intake import TreatmentInput
from reminders.patients import PatientInput

BULK_NAMES = ("log_treatments", "log_treatments_bulk", "log_many", "bulk_log")
FIRST_PHONE = 100  # +12125550100, as bench.api_load
SERVICE_TARGET = 2000.0
API_TARGET = 500.0
API_P99_TARGET_MS = 50.0


def _request(index: int, now: Any) -> TreatmentInput:
    number = FIRST_PHONE + index
    return TreatmentInput(
        patient=PatientInput(
            name=f"Bench Patient {number:04d}", phone=f"+1212555{number:04d}", sms_consent_at=now
        ),
        treatment_type="botox",
    )


def service_loop(
    kind: str,
    treatments: int,
    deadline: common.Deadline,
    profile: bool = False,
    bulk_batch: int = 500,
) -> dict[str, Any]:
    """log_treatment N times, one call at a time, each timed."""
    with common.database(kind) as (url, tmp):
        app = build_app(common.settings(tmp / "data", url))
        profiler = cProfile.Profile() if profile else None
        try:
            now = app.clock.now()
            calls: list[float] = []
            errors: list[str] = []
            timed_out = False
            if profiler:
                profiler.enable()
            started = time.perf_counter()
            for index in range(treatments):
                if deadline.expired():
                    timed_out = True
                    break
                begun = time.perf_counter()
                try:
                    app.service.log_treatment(app.clinic.id, _request(index, now))
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                calls.append(time.perf_counter() - begun)
            seconds = time.perf_counter() - started
            if profiler:
                profiler.disable()
            bulk_profiler = cProfile.Profile() if profile else None
            if bulk_profiler:
                bulk_profiler.enable()
            bulk = _bulk(app, treatments, deadline, bulk_batch)
            if bulk_profiler:
                bulk_profiler.disable()
        finally:
            app.close()
        states = common.state_counts(url)
    done = len(calls) - len(errors)
    return {
        "database": kind,
        "asked": treatments,
        "treatments": done,
        "errors": len(errors),
        "error_samples": errors[:5],
        "seconds": round(seconds, 3),
        "per_s": round(done / seconds, 1) if seconds else None,
        "call_ms": common.latency_summary(sorted(calls)),
        "messages_in_db": sum(states.values()),  # the loop's and the bulk call's
        "bulk": {**bulk, "batch": bulk_batch},
        "timed_out": timed_out,
        "profile": common.profile_top(profiler) if profiler else None,
        "bulk_profile": common.profile_top(bulk_profiler) if bulk_profiler else None,
    }


def _bulk(app: Any, treatments: int, deadline: common.Deadline, batch_size: int) -> dict[str, Any]:
    """A bulk logging method on the service, if there is one, timed in batches."""
    name = next((n for n in BULK_NAMES if callable(getattr(app.service, n, None))), None)
    if name is None:
        return {"available": False, "note": "ReminderService has no bulk logging method"}
    method = getattr(app.service, name)
    now = app.clock.now()
    offset = treatments + 1  # phones after the loop's
    done = 0
    calls: list[float] = []
    try:
        while done < treatments and not deadline.expired():
            size = min(batch_size, treatments - done)
            batch = [_request(offset + done + i, now) for i in range(size)]
            begun = time.perf_counter()
            method(app.clinic.id, batch)
            calls.append(time.perf_counter() - begun)
            done += size
    except Exception as exc:  # an unknown signature: say so, do not guess further
        return {"available": True, "method": name, "error": f"{type(exc).__name__}: {exc}"}
    seconds = sum(calls)  # the method's own time, not building the requests
    return {
        "available": True,
        "method": name,
        "treatments": done,
        "seconds": round(seconds, 3),
        "per_s": round(done / seconds, 1) if seconds else None,
        "calls": len(calls),
        "call_ms": common.latency_summary(sorted(calls)),
    }


def api(
    kind: str, requests: int, concurrency: int, deadline: common.Deadline, profile: bool = False
) -> dict[str, Any]:
    limit = max(1.0, min(300.0, deadline.left()))
    # The server is a subprocess of api_load's; with `profile` it profiles its own threads.
    result = api_load.run_one(kind, requests, concurrency, limit, profile=profile)
    row = dict(result.__dict__)
    row["met"] = result.treatments_per_second >= API_TARGET and result.p99_ms < API_P99_TARGET_MS
    return row


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__)
    parser.add_argument("--treatments", type=int, default=1000, help="service calls (1000)")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--bulk-batch", type=int, default=500, help="treatments per bulk call (500)"
    )
    parser.add_argument("--api-requests", type=int, default=500, help="HTTP requests (500)")
    parser.add_argument("--api-concurrency", type=int, default=8, help="HTTP clients (8)")
    parser.add_argument(
        "--with-baseline",
        dest="with_baseline",
        action="store_true",
        default=True,
        help="also time the baseline's add_job intake (the default)",
    )
    parser.add_argument("--no-baseline", dest="with_baseline", action="store_false")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="whole run (300)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the loop, the bulk call and the API server threads (results/*.txt)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.treatments <= 4000:
        parser.error("--treatments must be between 1 and 4000 (distinct phones)")
    if not 0 <= args.api_requests <= api_load.MAX_REQUESTS:
        parser.error(f"--api-requests must be between 0 and {api_load.MAX_REQUESTS}")
    if not 1 <= args.api_concurrency <= api_load.MAX_CONCURRENCY:
        parser.error(f"--api-concurrency must be between 1 and {api_load.MAX_CONCURRENCY}")
    if not 0 < args.max_seconds <= 3600:
        parser.error("--max-seconds must be in (0, 3600]")
    return args


def run(args: argparse.Namespace, deadline: common.Deadline) -> dict[str, Any]:
    databases = list(common.DATABASES) if args.database == "both" else [args.database]
    service, http, jobs = [], [], []
    for kind in databases:
        print(f"intake {kind}: {args.treatments} x log_treatment ...", file=sys.stderr, flush=True)
        service.append(service_loop(kind, args.treatments, deadline, args.profile, args.bulk_batch))
    for kind in databases if args.api_requests else []:
        print(
            f"intake {kind}: {args.api_requests} x POST /v1/treatments "
            f"({args.api_concurrency} clients) ...",
            file=sys.stderr,
            flush=True,
        )
        http.append(api(kind, args.api_requests, args.api_concurrency, deadline, args.profile))
    for kind in databases if args.with_baseline else []:
        print(
            f"intake {kind}: baseline add_job x {args.treatments * 2} ...",
            file=sys.stderr,
            flush=True,
        )
        jobs.append(baseline.measure_intake(kind, args.treatments * 2, deadline))
    return {"service": service, "api": http, "baseline": jobs}


def report(results: dict[str, Any]) -> tuple[str, bool]:
    ok = True
    lines = ["Intake, service layer (log_treatment per call, 2 messages each):"]
    lines.append(
        common.table(
            ("database", "treatments", "errors", "treat/s", "p50 ms", "p99 ms", "max ms", "bulk"),
            [
                (
                    r["database"],
                    r["treatments"],
                    r["errors"],
                    r["per_s"],
                    r["call_ms"]["p50"],
                    r["call_ms"]["p99"],
                    r["call_ms"]["max"],
                    f"{r['bulk']['per_s']}/s" if r["bulk"].get("per_s") else "none",
                )
                for r in results["service"]
            ],
        )
    )
    for r in results["service"]:
        if r["errors"] or r["timed_out"]:
            ok = False
            lines.append(
                f"  {r['database']}: errors {r['error_samples']} timed out {r['timed_out']}"
            )
        bulk = r["bulk"]
        if not bulk["available"]:
            lines.append(f"  {r['database']}: {bulk['note']}: the bulk target is unmeasured")
        elif "error" in bulk:
            ok = False
            lines.append(f"  {r['database']}: {bulk['method']} failed: {bulk['error']}")
        else:
            lines.append(
                f"  {r['database']}: {bulk['method']}: {bulk['treatments']} treatments in "
                f"{bulk['calls']} calls of {bulk['batch']}, {bulk['per_s']}/s, per call "
                f"p50 {bulk['call_ms']['p50']} ms, max {bulk['call_ms']['max']} ms"
            )
    if results["api"]:
        lines += ["", "Intake, HTTP API (bench.api_load, POST /v1/treatments):"]
        lines.append(
            common.table(
                ("database", "requests", "errors", "treat/s", "p50 ms", "p99 ms", "max ms", "met"),
                [
                    (
                        r["database"],
                        r["requests"],
                        r["errors"],
                        r["treatments_per_second"],
                        r["p50_ms"],
                        r["p99_ms"],
                        r["max_ms"],
                        "yes" if r["met"] else "NO",
                    )
                    for r in results["api"]
                ],
            )
        )
        for r in results["api"]:
            if r["errors"] or r["timed_out"]:
                ok = False
                lines.append(f"  {r['database']}: {r['error_samples']}")
    if results["baseline"]:
        lines += ["", "Baseline intake (APScheduler add_job per message, SQLAlchemyJobStore):"]
        lines.append(
            common.table(
                ("database", "jobs", "jobs/s", "p50 ms", "p99 ms", "max ms"),
                [
                    (
                        r["database"],
                        r["jobs_added"],
                        r["intake_per_s"],
                        r["add_job_ms"]["p50"],
                        r["add_job_ms"]["p99"],
                        r["add_job_ms"]["max"],
                    )
                    for r in results["baseline"]
                ],
            )
        )
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    common.quiet_logging()
    with common.guarded(args.max_seconds) as deadline:
        results = run(args, deadline)
        text, ok = report(results)
        print(text, flush=True)
        stems = {"profile": "intake-profile", "bulk_profile": "intake-bulk-profile"}
        for part, rows_ in (("service", results["service"]), ("api", results["api"])):
            for r in rows_:
                for key, stem in stems.items():
                    profile = r.pop(key, None)
                    if profile:
                        name = "intake-api-profile" if part == "api" else stem
                        path = common.RESULTS_DIR / f"{name}-{r['database']}.txt"
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_text(profile)
                        print(f"profile: {path.relative_to(common.REPO)}")
        common.write_results("intake", results)
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
