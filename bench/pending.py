"""Scale of pending work: worker memory and claim-cycle time with 10k .. 1M pending messages.

    python -m bench.pending [--sizes 10000,100000,1000000] [--database sqlite|postgres|both]
                            [--sqlite-max N] [--cycles C] [--due-per-cycle D]
                            [--max-seconds S] [--profile]

For each database and size, from nothing:

1. a fresh migrated database (SQLite file, or a fresh PostgreSQL schema dropped after);
2. `size` pending SMS messages bulk-inserted (Core executemany in 20k-row transactions on
   SQLite, COPY on PostgreSQL; two messages per treatment, one patient per treatment),
   due evenly over the next 30 days from now + 10 minutes; plus C x D more, due after
   those, that the cycles will make due; then VACUUM ANALYZE on PostgreSQL;
3. a fresh worker process (spawn): build_app and a Dispatcher with the no-op channel;
   its RSS (VmRSS from /proc/self/status) after start-up; three idle passes
   (dispatch_due() with nothing due) and next_wake() calls, timed; then C claim cycles:
   D messages are made due now (an UPDATE, untimed) and dispatch_due() is timed as it
   claims, sends and settles them; its RSS (and peak, VmHWM) at the end.

Reports per size: RSS, idle pass, next_wake and claim-cycle times (medians), and the
flatness ratios largest / smallest size (the issue's target: within 20 %, ratio <= 1.2,
from 10k to 1M). Exit status 1 if a cycle did not send exactly its D messages, a message
went twice, or the time limit cut a run short. --sqlite-max caps the SQLite sizes (a 1M
SQLite seed takes ~40 s here). Writes bench/results/pending.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import common

SPREAD = timedelta(days=30)
START_AFTER = timedelta(minutes=10)
FLATNESS_TARGET = 1.2


def run_one(
    kind: str,
    size: int,
    cycles: int,
    per_cycle: int,
    deadline: common.Deadline,
    profile: bool = False,
) -> dict[str, Any]:
    extra = cycles * per_cycle
    now = datetime.now(UTC)
    start = now + START_AFTER
    step = SPREAD / max(1, size)
    later = start + SPREAD + timedelta(days=1)

    def due_at(i: int) -> datetime:
        return start + i * step if i < size else later + (i - size) * timedelta(seconds=1)

    with common.database(kind) as (url, tmp):
        seeded = common.seed(url, size + extra, due_at)
        common.analyze(url)
        first_cycle_id = seeded.first_id + size
        cycle_ids = [
            list(range(first_cycle_id + c * per_cycle, first_cycle_id + (c + 1) * per_cycle))
            for c in range(cycles)
        ]
        out = tmp / "probe.json"
        process = common.spawn(
            common.pending_probe,
            url,
            str(tmp / "data"),
            cycle_ids,
            str(out),
            profile,
            name="bench-pending",
        )
        exit_code = common.reap(process, max(1.0, deadline.left()))
        probe = json.loads(out.read_text()) if out.exists() else None
        states = common.state_counts(url)
    if probe is None:
        return {
            "database": kind,
            "pending": size,
            "seed_s": round(seeded.seconds, 1),
            "timed_out": True,
            "probe_exit_code": exit_code,
        }
    sends = [(int(m), float(t)) for m, t in probe["sends"]]
    expected = [i for ids in cycle_ids for i in ids]
    checked = common.check_sends(sends, expected, lambda _id: 0.0)
    cycle_median = common.median(probe["cycle_s"])
    return {
        "database": kind,
        "pending": size,
        "rows_seeded": seeded.count,
        "seed_s": round(seeded.seconds, 1),
        "seed_rows_per_s": round(seeded.count / seeded.seconds) if seeded.seconds else None,
        "rss_start_mib": round(probe["rss_start_kib"]["VmRSS"] / 1024, 1),
        "rss_end_mib": round(probe["rss_end_kib"]["VmRSS"] / 1024, 1),
        "rss_peak_mib": round(probe["rss_end_kib"]["VmHWM"] / 1024, 1),
        "idle_pass_ms": round(common.median(probe["idle_pass_s"]) * 1000, 2),
        "next_wake_ms": round(common.median(probe["next_wake_s"]) * 1000, 2),
        "cycle_ms": round(cycle_median * 1000, 1),
        "cycle_ms_all": [round(s * 1000, 1) for s in probe["cycle_s"]],
        "per_message_ms": round(cycle_median * 1000 / per_cycle, 2),
        "cycle_sent": probe["cycle_sent"],
        "due_per_cycle": per_cycle,
        "duplicates": checked.duplicates,
        "misses": checked.misses,
        "unexpected": checked.unexpected,
        "db_states": states,
        "probe_exit_code": exit_code,
        "timed_out": False,
        "profile": probe.get("profile"),
    }


def flatness(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Largest size / smallest size, per database, for memory and cycle times."""
    found = []
    for kind in common.DATABASES:
        runs = sorted(
            (r for r in results if r["database"] == kind and not r["timed_out"]),
            key=lambda r: r["pending"],
        )
        if len(runs) < 2:
            continue
        small, large = runs[0], runs[-1]
        row: dict[str, Any] = {
            "database": kind,
            "from": small["pending"],
            "to": large["pending"],
        }
        for key in ("rss_end_mib", "cycle_ms", "idle_pass_ms", "next_wake_ms"):
            value = common.ratio(large[key], small[key])
            row[key] = value
        row["target"] = f"<= {FLATNESS_TARGET}"
        row["memory_met"] = row["rss_end_mib"] is not None and row["rss_end_mib"] <= 1.2
        row["claim_met"] = row["cycle_ms"] is not None and row["cycle_ms"] <= 1.2
        row["covers_10k_to_1m"] = small["pending"] <= 10_000 and large["pending"] >= 1_000_000
        found.append(row)
    return found


def problems(result: dict[str, Any]) -> list[str]:
    found = []
    if result["timed_out"]:
        return ["time limit reached or the probe did not report"]
    if any(n != result["due_per_cycle"] for n in result["cycle_sent"]):
        found.append(f"cycles sent {result['cycle_sent']}, not {result['due_per_cycle']} each")
    for key in ("duplicates", "misses", "unexpected"):
        if result[key]:
            found.append(f"{key}: {result[key]}")
    if result["probe_exit_code"] != 0:
        found.append(f"probe exit code {result['probe_exit_code']}")
    return found


HEAD = (
    "database",
    "pending",
    "seed s",
    "RSS start MiB",
    "RSS end MiB",
    "idle pass ms",
    "next_wake ms",
    "cycle ms",
    "ms/msg",
    "dup",
    "miss",
)


def rows(results: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    return [
        (
            r["database"],
            r["pending"],
            r["seed_s"],
            r.get("rss_start_mib"),
            r.get("rss_end_mib"),
            r.get("idle_pass_ms"),
            r.get("next_wake_ms"),
            r.get("cycle_ms"),
            r.get("per_message_ms"),
            r.get("duplicates"),
            r.get("misses"),
        )
        for r in results
    ]


def _sizes(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or any(not 1 <= v <= 2_000_000 for v in values):
        raise argparse.ArgumentTypeError("a comma-separated list of 1..2000000")
    return sorted(values)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pending", description=__doc__)
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--sqlite-max", type=int, default=1_000_000, help="largest SQLite size (1000000)"
    )
    parser.add_argument("--cycles", type=int, default=5, help="timed claim cycles (5)")
    parser.add_argument("--due-per-cycle", type=int, default=100, help="messages per cycle")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="whole run (600)")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the claim cycles (results/*.txt)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.cycles <= 50 or not 1 <= args.due_per_cycle <= 10_000:
        parser.error("--cycles must be 1..50 and --due-per-cycle 1..10000")
    if not 0 < args.max_seconds <= 3600:
        parser.error("--max-seconds must be in (0, 3600]")
    return args


def run(args: argparse.Namespace, deadline: common.Deadline) -> dict[str, Any]:
    databases = list(common.DATABASES) if args.database == "both" else [args.database]
    results = []
    capped = []
    for kind in databases:
        for size in args.sizes:
            if kind == "sqlite" and size > args.sqlite_max:
                capped.append(size)
                continue
            if deadline.expired():
                print(f"pending {kind} {size}: skipped, time limit", file=sys.stderr)
                continue
            print(
                f"pending {kind}: {size} pending messages, {args.cycles} claim cycles ...",
                file=sys.stderr,
                flush=True,
            )
            results.append(
                run_one(kind, size, args.cycles, args.due_per_cycle, deadline, args.profile)
            )
    return {
        "results": results,
        "flatness": flatness(results),
        "sqlite_capped_sizes": capped,
        "sqlite_max": args.sqlite_max,
    }


def report(results: dict[str, Any]) -> tuple[str, bool]:
    ok = True
    lines = ["Pending scale (one fresh worker process per size):"]
    lines.append(common.table(HEAD, rows(results["results"])))
    for result in results["results"]:
        found = problems(result)
        if found:
            ok = False
            lines.append(f"  {result['database']} {result['pending']}: {'; '.join(found)}")
    if results["sqlite_capped_sizes"]:
        lines.append(
            f"  SQLite sizes above --sqlite-max {results['sqlite_max']} skipped: "
            f"{results['sqlite_capped_sizes']}"
        )
    if results["flatness"]:
        lines += ["", "Flatness (largest / smallest; target <= 1.2):"]
        lines.append(
            common.table(
                ("database", "from", "to", "RSS", "cycle", "idle pass", "next_wake", "met"),
                [
                    (
                        f["database"],
                        f["from"],
                        f["to"],
                        f["rss_end_mib"],
                        f["cycle_ms"],
                        f["idle_pass_ms"],
                        f["next_wake_ms"],
                        "memory "
                        + ("yes" if f["memory_met"] else "NO")
                        + ", claim "
                        + ("yes" if f["claim_met"] else "NO"),
                    )
                    for f in results["flatness"]
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
        save_profiles(results)
        common.write_results("pending", results)
        return 0 if ok else 1


def save_profiles(results: dict[str, Any]) -> None:
    for result in results["results"]:
        profile = result.pop("profile", None)
        if profile:
            path = common.RESULTS_DIR / (
                f"pending-profile-{result['database']}-{result['pending']}.txt"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(profile)
            print(f"profile: {path.relative_to(common.REPO)}")


if __name__ == "__main__":
    sys.exit(main())
