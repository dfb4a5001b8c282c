"""Steady precision: messages due evenly over time, sent by the real worker.

    python -m bench.steady [--rate R] [--seconds S] [--database sqlite|postgres|both]
                           [--poll-interval P] [--max-seconds M]

For each database, from nothing:

1. a fresh migrated database (SQLite file, or a fresh PostgreSQL schema dropped after);
2. one worker process (multiprocessing, spawn) running the real `reminders.worker.Worker`
   (its APScheduler `wake` job at the next due instant and its `poll` job every
   worker.poll_interval, default 0.5 s) with the no-op channel, on the real SystemClock;
3. once it is running, R x S pending messages are bulk-inserted in one transaction (as
   another process, the API, would add them), due evenly from T0 = now + 2 s:
   message i at T0 + i / R;
4. after the last due instant (plus up to 10 s to catch up) the worker is told to stop
   (Worker.stop: no new claims, in-flight sends recorded) and reports its sends.

Reports lateness p50/p99/max (send time minus the message's own due instant), sends per
second achieved, duplicates, misses and sends before due (the exit status is 1 if any of
those three is not 0). The issue's target: lateness p99 < 50 ms. Writes
bench/results/steady.json. Default 200/s for 60 s on PostgreSQL: about 75 s in all.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import common

LEAD_SECONDS = 2.0
CATCH_UP_SECONDS = 10.0
TARGET_P99_MS = 50.0


def run_one(
    kind: str, rate: float, seconds: float, poll_interval: float, deadline: common.Deadline
) -> dict[str, Any]:
    count = int(rate * seconds)
    with common.database(kind) as (url, tmp):
        common.sample_text(url)  # the clinic row, before the worker starts
        ready = common.SPAWN.Queue()
        stop = common.SPAWN.Event()
        out = tmp / "worker.json"
        process = common.spawn(
            common.steady_worker,
            url,
            str(tmp / "data"),
            {"poll_interval": poll_interval},
            ready,
            stop,
            deadline.wall(),
            str(out),
            name="bench-steady",
        )
        try:
            ready.get(timeout=min(60.0, max(1.0, deadline.left())))
        except Exception:
            common.reap(process, 0)
            raise
        t0 = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS)
        step = timedelta(seconds=1 / rate)
        seeded = common.seed(url, count, lambda i: t0 + i * step, chunk=max(1, count))
        t0_overrun = datetime.now(UTC) >= t0
        last_due = t0 + (count - 1) * step
        # Wait for the last due instant, then until everything is sent or catch-up ends.
        while datetime.now(UTC) < last_due and not deadline.expired():
            time.sleep(0.2)
        give_up = time.monotonic() + CATCH_UP_SECONDS
        while time.monotonic() < give_up and not deadline.expired():
            if common.state_counts(url).get("sent", 0) >= count:
                break
            time.sleep(0.2)
        stop.set()
        exit_code = common.reap(process, 30)
        result = json.loads(out.read_text()) if out.exists() else None
        states = common.state_counts(url)
    sends = [(int(m), float(t)) for m, t in (result or {}).get("sends", [])]
    base, first = t0.timestamp(), seeded.first_id
    checked = common.check_sends(sends, seeded.ids, lambda m: base + (m - first) / rate)
    span = (checked.last_send - checked.first_send) if checked.last_send else None
    return {
        "database": kind,
        "rate": rate,
        "seconds": seconds,
        "messages": count,
        "poll_interval": poll_interval,
        "seed_s": round(seeded.seconds, 3),
        "t0_overrun": t0_overrun,
        "sent": checked.sent,
        "achieved_per_s": round(checked.sent / span, 1) if span else None,
        "lateness_ms": checked.lateness_ms,
        "target_p99_ms": TARGET_P99_MS,
        "met": checked.lateness_ms["p99"] < TARGET_P99_MS,
        "duplicates": checked.duplicates,
        "misses": checked.misses,
        "unexpected": checked.unexpected,
        "early": checked.early,
        "db_states": states,
        "worker_rss_kib": (result or {}).get("rss_kib"),
        "worker_exit_code": exit_code,
        "timed_out": result is None or bool(result.get("timed_out")) or deadline.expired(),
    }


def problems(result: dict[str, Any]) -> list[str]:
    found = []
    if result["timed_out"]:
        found.append("time limit reached or the worker did not report")
    if result["t0_overrun"]:
        found.append("inserting the messages overran T0")
    for key in ("duplicates", "misses", "unexpected", "early"):
        if result[key]:
            found.append(f"{key}: {result[key]}")
    if result["worker_exit_code"] != 0:
        found.append(f"worker exit code {result['worker_exit_code']}")
    return found


HEAD = (
    "database",
    "rate/s",
    "messages",
    "achieved/s",
    "late p50 ms",
    "late p99 ms",
    "late max ms",
    "p99<50ms",
    "dup",
    "miss",
    "early",
)


def rows(results: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    return [
        (
            r["database"],
            r["rate"],
            r["messages"],
            r["achieved_per_s"],
            r["lateness_ms"]["p50"],
            r["lateness_ms"]["p99"],
            r["lateness_ms"]["max"],
            "yes" if r["met"] else "NO",
            r["duplicates"],
            r["misses"],
            r["early"],
        )
        for r in results
    ]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.steady", description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="messages due per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long (60)")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="postgres")
    parser.add_argument(
        "--poll-interval", type=float, default=0.5, help="worker.poll_interval (0.5)"
    )
    parser.add_argument("--max-seconds", type=float, default=300.0, help="whole run (300)")
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 5000:
        parser.error("--rate must be in (0, 5000]")
    if not 1 <= args.seconds <= 600:
        parser.error("--seconds must be in [1, 600]")
    if not 0 < args.max_seconds <= 3600:
        parser.error("--max-seconds must be in (0, 3600]")
    return args


def run(args: argparse.Namespace, deadline: common.Deadline) -> list[dict[str, Any]]:
    databases = list(common.DATABASES) if args.database == "both" else [args.database]
    results = []
    for kind in databases:
        print(
            f"steady {kind}: {args.rate:g}/s for {args.seconds:g} s, real Worker ...",
            file=sys.stderr,
            flush=True,
        )
        results.append(run_one(kind, args.rate, args.seconds, args.poll_interval, deadline))
    return results


def report(results: list[dict[str, Any]]) -> tuple[str, bool]:
    lines = ["Steady precision (real Worker):", common.table(HEAD, rows(results))]
    ok = True
    for result in results:
        found = problems(result)
        if found:
            ok = False
            lines.append(f"  {result['database']}: {'; '.join(found)}")
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    common.quiet_logging()
    with common.guarded(args.max_seconds) as deadline:
        results = run(args, deadline)
        text, ok = report(results)
        print(text, flush=True)
        common.write_results("steady", {"results": results})
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
