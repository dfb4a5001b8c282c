"""Every scheduler benchmark, sized to finish in under 10 minutes on a 2-core machine.

    python -m bench.run_all [--quick]
                            [--only burst,steady,intake,pending,cli_startup,first_text]
                            [--max-seconds S]

Runs, one after the other (each writes its own bench/results/<name>.json):

- burst:   20000 messages on SQLite (1 worker) and on PostgreSQL (1, 2 and 4 workers),
           each against the APScheduler baseline with the same count (bench.baseline);
- steady:  200 messages/s for 30 s, real Worker, SQLite and PostgreSQL;
- intake:  1000 x log_treatment per database, 500 HTTP requests (8 clients) per database,
           the baseline's add_job for 2000 jobs per database;
- pending: 10k, 100k and 1M pending messages, SQLite and PostgreSQL;
- cli_startup: `reminders --help`, `log`, `list`, `show` and `log` on a new database,
           20 processes each;
- first_text: the API's 201 to the provider's request for the first text, 100 treatments,
           SQLite and PostgreSQL, `serve` and `api` + `worker`.

Then prints every table again, the issue's targets with met / missed, and writes
bench/results/summary.json. --quick shrinks everything (a smoke test of a minute or two).
Exit status 1 if any benchmark's correctness checks failed (duplicates, misses, sends
before due, errors, time limits); a missed performance target does not change it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from bench import burst, cli_startup, common, first_text, intake, pending, steady

FULL = {
    "burst": [
        "--messages",
        "20000",
        "--postgres-messages",
        "20000",
        "--postgres-workers",
        "1,2,4",
        "--sqlite-workers",
        "1",
    ],
    "steady": ["--rate", "200", "--seconds", "30", "--database", "both"],
    "intake": ["--treatments", "1000", "--api-requests", "500", "--api-concurrency", "8"],
    "pending": ["--sizes", "10000,100000,1000000", "--sqlite-max", "1000000"],
    "cli_startup": ["--runs", "20"],
    "first_text": ["--treatments", "100"],
}
QUICK = {
    "burst": ["--messages", "2000", "--postgres-messages", "1000", "--postgres-workers", "1,2"],
    "steady": ["--rate", "100", "--seconds", "5", "--database", "both"],
    "intake": ["--treatments", "100", "--api-requests", "100"],
    "pending": ["--sizes", "1000,10000", "--cycles", "3"],
    "cli_startup": ["--runs", "3"],
    "first_text": ["--treatments", "5"],
}
# Upper bounds per benchmark (their --max-seconds); the expected times are far less.
CAPS = {
    "burst": 420.0,
    "steady": 180.0,
    "intake": 180.0,
    "pending": 300.0,
    "cli_startup": 180.0,
    "first_text": 300.0,
}
MODULES = {
    "burst": burst,
    "steady": steady,
    "intake": intake,
    "pending": pending,
    "cli_startup": cli_startup,
    "first_text": first_text,
}
BUDGET_SECONDS = 600.0


def _load(name: str) -> dict[str, Any] | None:
    path = common.RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured figure and whether it is met."""
    found: list[dict[str, Any]] = []
    data = results.get("burst")
    if data:
        for c in data.get("ratios", []):
            if c["target"]:
                found.append(
                    {
                        "target": f"burst drain >= 10x baseline ({c['database']}, "
                        f"{c['workers']} worker{'s' if c['workers'] > 1 else ''})",
                        "measured": f"{c['ratio']}x ({c['ours_per_s']}/s vs "
                        f"{c['baseline_per_s']}/s)",
                        "met": bool(c["met"]),
                    }
                )
    data = results.get("steady")
    for r in (data or {}).get("results", []):
        found.append(
            {
                "target": f"steady lateness p99 < 50 ms ({r['database']}, {r['rate']:g}/s)",
                "measured": f"p99 {r['lateness_ms']['p99']} ms",
                "met": bool(r["met"]),
            }
        )
    data = results.get("intake")
    if data:
        for r in data.get("service", []):
            if r["database"] != "sqlite":
                continue
            bulk = r["bulk"]
            if bulk.get("per_s"):
                measured, met = f"bulk {bulk['per_s']}/s", bulk["per_s"] >= intake.SERVICE_TARGET
            else:
                measured = f"no bulk method; per call {r['per_s']}/s"
                met = False
            found.append(
                {
                    "target": "intake >= 2000 treatments/s, service layer, SQLite (bulk)",
                    "measured": measured,
                    "met": met,
                }
            )
        for r in data.get("api", []):
            found.append(
                {
                    "target": f"API >= 500 treatments/s with p99 < 50 ms ({r['database']})",
                    "measured": f"{r['treatments_per_second']}/s, p99 {r['p99_ms']} ms",
                    "met": bool(r["met"]),
                }
            )
    data = results.get("pending")
    for f in (data or {}).get("flatness", []):
        span = f"{f['from']:,} to {f['to']:,}"
        found.append(
            {
                "target": f"worker memory flat within 20 % ({f['database']}, {span})",
                "measured": f"x{f['rss_end_mib']}",
                "met": bool(f["memory_met"]) if f["covers_10k_to_1m"] else None,
            }
        )
        found.append(
            {
                "target": f"claim cycle time flat within 20 % ({f['database']}, {span})",
                "measured": f"x{f['cycle_ms']} (idle pass x{f['idle_pass_ms']})",
                "met": bool(f["claim_met"]) if f["covers_10k_to_1m"] else None,
            }
        )
    for r in (results.get("cli_startup") or {}).get("results", []):
        if "met" in r:
            found.append(
                {
                    "target": f"`reminders {_shown(r['command'])}` p50 < "
                    f"{r['target_p50_ms']:.0f} ms wall (idle machine)",
                    "measured": f"p50 {r['wall_ms']['p50']} ms, p90 {r['wall_ms']['p90']} ms",
                    "met": bool(r["met"]),
                }
            )
    for r in (results.get("first_text") or {}).get("results", []):
        found.append(
            {
                "target": f"first text, API 201 to provider p99 < {first_text.TARGET_P99_MS:.0f} "
                f"ms ({r['database']}, {r['mode']})",
                "measured": f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms",
                "met": r["p99_ms"] < first_text.TARGET_P99_MS and not r["missing"],
            }
        )
    return found


def _shown(command: str) -> str:
    return "--help" if command == "help" else command


def _verdict(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: "n/a (sizes do not span 10k to 1M)"}[met]


def correctness(results: dict[str, Any]) -> dict[str, Any]:
    """Ours must be exact; the baseline's drops are its figure of merit."""
    ours = {"duplicates": 0, "misses": 0, "early": 0}
    for name in ("burst", "steady"):
        data = results.get(name) or {}
        for r in data.get("ours", data.get("results", [])):
            for key in ours:
                ours[key] += r.get(key, 0)
    for r in (results.get("pending") or {}).get("results", []):
        ours["duplicates"] += r.get("duplicates", 0)
        ours["misses"] += r.get("misses", 0)
    dropped = [
        {
            "database": b["database"],
            "jobs": b["messages"],
            "dropped_misfired": b["dropped_misfired"],
            "ran": b["executed"],
        }
        for b in (results.get("burst") or {}).get("baseline", [])
        if b["grace"].startswith("1 s")
    ]
    return {"ours": ours, "baseline_default_grace_dropped": dropped}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke test")
    parser.add_argument(
        "--only",
        default="burst,steady,intake,pending,cli_startup,first_text",
        help="comma-separated subset of burst,steady,intake,pending,cli_startup,first_text",
    )
    parser.add_argument(
        "--max-seconds", type=float, default=900.0, help="hard limit for everything (900)"
    )
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(MODULES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    if not 0 < args.max_seconds <= 3600:
        parser.error("--max-seconds must be in (0, 3600]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    common.quiet_logging()
    sizes = QUICK if args.quick else FULL
    started = time.monotonic()
    code_before = common.code_version()
    print(f"code: {code_before}", flush=True)
    outputs: dict[str, Any] = {}
    statuses: dict[str, int] = {}
    seconds: dict[str, float] = {}
    with common.guarded(args.max_seconds) as deadline:
        for name in args.only:
            left = deadline.left()
            if left < 10:
                print(f"== {name}: skipped, out of time", flush=True)
                statuses[name] = 1
                continue
            cap = min(CAPS[name], left)
            argv_one = [*sizes[name], "--max-seconds", f"{cap:.0f}"]
            print(f"\n== {name}: python -m bench.{name} {' '.join(argv_one)}", flush=True)
            begun = time.monotonic()
            statuses[name] = MODULES[name].main(argv_one)
            seconds[name] = round(time.monotonic() - begun, 1)
            print(f"== {name}: exit {statuses[name]}, {seconds[name]} s", flush=True)
            sys.stdout.flush()
            outputs[name] = _load(name)
    total = round(time.monotonic() - started, 1)
    code_after = common.code_version()
    if code_after != code_before:
        print(
            f"\nWARNING: the package changed during the run ({code_before} -> {code_after}): "
            "the figures mix two versions",
            flush=True,
        )
    found = targets(outputs)
    checks = correctness(outputs)
    print("\nTargets from the issue:")
    print(
        common.table(
            ("target", "measured", "met"),
            [(t["target"], t["measured"], _verdict(t["met"])) for t in found],
        )
    )
    print(
        f"\nCorrectness of ours (all must be 0): {checks['ours']}; baseline with the default "
        f"misfire_grace_time dropped: "
        + ", ".join(
            f"{d['database']} {d['dropped_misfired']:,} of {d['jobs']:,}"
            for d in checks["baseline_default_grace_dropped"]
        )
    )
    print(
        f"\nTotal {total} s ({'within' if total <= BUDGET_SECONDS else 'OVER'} the "
        f"{BUDGET_SECONDS:.0f} s budget); per benchmark: {seconds}; exit codes: {statuses}"
    )
    common.write_results(
        "summary",
        {
            "quick": args.quick,
            "code_before": code_before,
            "code_after": code_after,
            "arguments": {name: sizes[name] for name in args.only},
            "seconds": seconds,
            "total_seconds": total,
            "exit_codes": statuses,
            "targets": found,
            "correctness": checks,
            "results": outputs,
        },
    )
    return 0 if all(code == 0 for code in statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
