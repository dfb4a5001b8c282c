"""Burst drain: N messages all due at the same instant, sent by real worker processes.

    python -m bench.burst [--messages N] [--database sqlite|postgres|both]
                          [--postgres-workers 1,2,4] [--sqlite-workers 1]
                          [--with-baseline | --no-baseline] [--max-seconds S] [--profile]

For each configuration, from nothing:

1. a fresh migrated database (a SQLite file in a temporary folder, or a fresh schema of
   the PostgreSQL `test` database, dropped at the end);
2. N pending SMS messages bulk-inserted into the real schema (patients with consent to
   texts, their treatments, a real rendered body, expiry 400 days ahead), first with a
   placeholder due time;
3. K worker processes (multiprocessing, spawn), each with build_app, the no-op channel
   and a Dispatcher on the real SystemClock; once all are ready, T0 = now + 2 s and one
   UPDATE makes every message due at T0 (then VACUUM ANALYZE on PostgreSQL, as
   autovacuum would); the workers loop dispatch_due() until nothing is pending, sleeping
   between passes until the next wake the dispatcher reports;
4. each worker writes the (message_id, time.time()) of every send; the parent merges them.

Reports the time from T0 to the last send, messages/s (sent / that time), lateness
p50/p99/max (send time minus T0), duplicates, misses and sends before T0 (all three must
be 0: the exit status is 1 otherwise), and the final message states in the database.
With --with-baseline (the default) the APScheduler baseline (bench.baseline) runs on the
same kinds of database with the same N, and the ratio ours/baseline is printed.
Writes bench/results/burst.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bench import baseline, common
from reminders.db.engine import make_engine
from reminders.db.models import Message
from reminders.settings import WorkerSettings

LEAD_SECONDS = 2.0  # T0 is this long after the workers are ready
READY_TIMEOUT = 60.0
DEFAULT_BATCH = WorkerSettings().batch_size


def run_ours(
    kind: str,
    messages: int,
    workers: int,
    deadline: common.Deadline,
    *,
    batch_size: int = DEFAULT_BATCH,
    profile: bool = False,
) -> dict[str, Any]:
    """One burst on our scheduler: N messages due at T0, K worker processes."""
    with common.database(kind) as (url, tmp):
        placeholder = datetime.now(UTC) + timedelta(days=1)
        seeded = common.seed(url, messages, lambda _i: placeholder)
        ready = common.SPAWN.Queue()
        go = common.SPAWN.Event()
        t0_value = common.SPAWN.Value("d", 0.0)
        outs = [tmp / f"worker-{i}.json" for i in range(workers)]
        deadline_wall = deadline.wall()
        processes = [
            common.spawn(
                common.dispatch_worker,
                i,
                url,
                str(tmp / "data"),
                {"batch_size": batch_size},
                ready,
                go,
                t0_value,
                deadline_wall,
                str(outs[i]),
                profile and i == 0,
                name=f"bench-burst-{i}",
            )
            for i in range(workers)
        ]
        setup_started = time.perf_counter()
        try:
            for _ in range(workers):
                ready.get(timeout=min(READY_TIMEOUT, max(1.0, deadline.left())))
        except Exception:
            for process in processes:
                common.reap(process, 0)
            raise
        workers_ready_s = time.perf_counter() - setup_started
        t0 = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS)
        engine = make_engine(url)
        try:
            with engine.begin() as connection:
                connection.execute(
                    # Every message in this fresh database is the burst's.
                    sa.update(Message).values(natural_at=t0, due_at=t0, send_after=t0)
                )
        finally:
            engine.dispose()
        common.analyze(url)
        t0_overrun = datetime.now(UTC) >= t0
        t0_value.value = t0.timestamp()
        go.set()
        exits = [common.reap(p, max(1.0, deadline.left()) + 30) for p in processes]
        reports = [json.loads(out.read_text()) if out.exists() else None for out in outs]
        states = common.state_counts(url)
    sends = [(int(m), float(t)) for r in reports if r for m, t in r["sends"]]
    due = t0.timestamp()
    checked = common.check_sends(sends, seeded.ids, lambda _id: due)
    drain = (checked.last_send - due) if checked.last_send else None
    totals: dict[str, int] = {}
    for report in reports:
        for key, value in (report or {}).get("totals", {}).items():
            totals[key] = totals.get(key, 0) + value
    return {
        "system": "ours",
        "database": kind,
        "workers": workers,
        "batch_size": batch_size,
        "messages": messages,
        "seed_s": round(seeded.seconds, 2),
        "workers_ready_s": round(workers_ready_s, 2),
        "t0_overrun": t0_overrun,
        "sent": checked.sent,
        "drain_s": round(drain, 3) if drain is not None else None,
        "per_s": round(checked.sent / drain, 1) if drain else None,
        "first_send_ms": round((checked.first_send - due) * 1000, 1)
        if checked.first_send
        else None,
        "lateness_ms": checked.lateness_ms,
        "duplicates": checked.duplicates,
        "misses": checked.misses,
        "unexpected": checked.unexpected,
        "early": checked.early,
        "db_states": states,
        "dispatch_totals": totals,
        "per_worker_sent": [len(r["sends"]) if r else None for r in reports],
        "per_worker_passes": [r["passes"] if r else None for r in reports],
        "worker_rss_kib": [r["rss_kib"] if r else None for r in reports],
        "worker_exit_codes": exits,
        "timed_out": any(r is None or r["timed_out"] for r in reports),
        "profile_worker_0": reports[0].get("profile") if reports[0] else None,
    }


def problems(result: dict[str, Any]) -> list[str]:
    found = []
    if result["timed_out"]:
        found.append("time limit reached or a worker did not report")
    if result["t0_overrun"]:
        found.append("setting T0 overran it")
    for key in ("duplicates", "misses", "unexpected", "early"):
        if result[key]:
            found.append(f"{key}: {result[key]}")
    if result["db_states"] != {"sent": result["messages"]}:
        found.append(f"database states {result['db_states']}")
    if any(code != 0 for code in result["worker_exit_codes"]):
        found.append(f"worker exit codes {result['worker_exit_codes']}")
    return found


HEAD = (
    "database",
    "workers",
    "messages",
    "drain s",
    "msgs/s",
    "first ms",
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
            r["workers"],
            r["messages"],
            r["drain_s"],
            r["per_s"],
            r["first_send_ms"],
            r["lateness_ms"]["p50"],
            r["lateness_ms"]["p99"],
            r["lateness_ms"]["max"],
            r["duplicates"],
            r["misses"],
            r["early"],
        )
        for r in results
    ]


def comparisons(
    ours: list[dict[str, Any]], reference: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Drain rate ours / baseline (misfire_grace_time=None, every job run), per database.
    The issue's target: >= 10x on SQLite with 1 worker and on PostgreSQL with 4."""
    found = []
    for result in ours:
        base = next(
            (b for b in reference if b["database"] == result["database"] and b["grace"] == "None"),
            None,
        )
        if base is None:
            continue
        targeted = (result["database"], result["workers"]) in {("sqlite", 1), ("postgres", 4)}
        value = common.ratio(result["per_s"], base["per_s"])
        found.append(
            {
                "database": result["database"],
                "workers": result["workers"],
                "ours_per_s": result["per_s"],
                "baseline_per_s": base["per_s"],
                "ratio": value,
                "target": ">= 10" if targeted else None,
                "met": (value is not None and value >= 10) if targeted else None,
                "ours_p99_ms": result["lateness_ms"]["p99"],
                "baseline_p99_ms": base["lateness_ms"]["p99"],
            }
        )
    return found


def _workers(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or any(not 1 <= v <= 16 for v in values):
        raise argparse.ArgumentTypeError("a comma-separated list of 1..16")
    return values


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000, help="messages (20000)")
    parser.add_argument(
        "--postgres-messages",
        type=int,
        default=None,
        help="messages on PostgreSQL, ours and baseline (default: --messages)",
    )
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--sqlite-workers", type=_workers, default=[1], help="e.g. 1 (default)")
    parser.add_argument(
        "--postgres-workers", type=_workers, default=[1, 2, 4], help="e.g. 1,2,4 (default)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH,
        help=f"worker.batch_size (default: the service's, {DEFAULT_BATCH})",
    )
    parser.add_argument(
        "--with-baseline",
        dest="with_baseline",
        action="store_true",
        default=True,
        help="also run the APScheduler baseline and print the ratio (the default)",
    )
    parser.add_argument("--no-baseline", dest="with_baseline", action="store_false")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="whole run (900)")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile worker 0 of each configuration"
    )
    args = parser.parse_args(argv)
    if args.postgres_messages is None:
        args.postgres_messages = args.messages
    if not (1 <= args.messages <= 1_000_000 and 1 <= args.postgres_messages <= 1_000_000):
        parser.error("--messages and --postgres-messages must be between 1 and 1000000")
    if not 0 < args.max_seconds <= 3600:
        parser.error("--max-seconds must be in (0, 3600]")
    return args


def run(args: argparse.Namespace, deadline: common.Deadline) -> dict[str, Any]:
    databases = list(common.DATABASES) if args.database == "both" else [args.database]
    sizes = {"sqlite": args.messages, "postgres": args.postgres_messages}
    ours = []
    for kind in databases:
        for workers in args.sqlite_workers if kind == "sqlite" else args.postgres_workers:
            print(
                f"burst {kind}: {sizes[kind]} messages due at once, {workers} worker(s) ...",
                file=sys.stderr,
                flush=True,
            )
            ours.append(
                run_ours(
                    kind,
                    sizes[kind],
                    workers,
                    deadline,
                    batch_size=args.batch_size,
                    profile=args.profile,
                )
            )
    reference = []
    for kind in databases if args.with_baseline else []:
        reference += baseline.run_all_modes(
            [kind], sizes[kind], list(baseline.GRACE_MODES), deadline
        )
    return {"ours": ours, "baseline": reference, "ratios": comparisons(ours, reference)}


def report(results: dict[str, Any]) -> tuple[str, bool]:
    """The tables as text, and whether every check of ours passed."""
    lines = ["Burst drain (ours):", common.table(HEAD, rows(results["ours"]))]
    ok = True
    for result in results["ours"]:
        found = problems(result)
        if found:
            ok = False
            lines.append(f"  {result['database']} x{result['workers']}: {'; '.join(found)}")
    if results["baseline"]:
        lines += ["", "Baseline (APScheduler 3, one job per message):"]
        lines.append(common.table(baseline.HEAD, baseline.rows(results["baseline"])))
        for result in results["baseline"]:
            found = baseline.problems(result)
            if found:
                lines.append(f"  baseline {result['database']} {result['grace']}: {found}")
    if results["ratios"]:
        lines += ["", "Drain rate ours / baseline (misfire_grace_time=None):"]
        lines.append(
            common.table(
                ("database", "workers", "ours/s", "baseline/s", "ratio", "target", "met"),
                [
                    (
                        c["database"],
                        c["workers"],
                        c["ours_per_s"],
                        c["baseline_per_s"],
                        c["ratio"],
                        c["target"],
                        {True: "yes", False: "NO", None: ""}[c["met"]],
                    )
                    for c in results["ratios"]
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
        if args.profile:
            for result in results["ours"]:
                if result["profile_worker_0"]:
                    path = common.RESULTS_DIR / (
                        f"burst-profile-{result['database']}-{result['workers']}.txt"
                    )
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(result["profile_worker_0"])
                    print(f"profile of worker 0: {path.relative_to(common.REPO)}")
        for result in results["ours"]:
            result.pop("profile_worker_0", None)
        common.write_results(
            "burst",
            {"messages": {"sqlite": args.messages, "postgres": args.postgres_messages}, **results},
        )
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
