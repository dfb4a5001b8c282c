"""Importing a day's CSV: how long 10,000 rows take to check and to log.

    python -m bench.import_csv [--rows N] [--database sqlite|postgres|both] [--max-seconds S]

Generates an N-row file (distinct patients, consent to texts, botox, local times over
the last 10 hours, an EMR id per row) and, on a fresh database of each kind, times:
read (parse the CSV), dry run (every row checked, nothing stored), import (all or
nothing: one transaction), import again (every row already imported: nothing new),
and, on another fresh database, import with skip_bad_rows (transactions of 500 rows).
Exit status 1 if a run stored the wrong number of treatments. Writes
bench/results/import_csv.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench import common
from reminders.bootstrap import build_app
from reminders.clock import SystemClock
from reminders.imports import Importer, ImportReport, read_csv

RESULTS = Path(__file__).parent / "results"


def generate(rows: int) -> bytes:
    """A file as an EMR might export it: its own header names, local times."""
    zone = ZoneInfo(common.clinic().timezone)
    now = SystemClock().now().astimezone(zone)
    lines = ["Visit ID,Patient Name,Mobile,SMS Consent,Procedure,Time"]
    for index in range(rows):
        at = now - timedelta(minutes=index % 600)
        phone = f"+1{212 + index // 10000:03d}555{index % 10000:04d}"
        lines.append(f"V{index},Patient {index:05d},{phone},yes,botox,{at:%Y-%m-%d %H:%M}")
    return ("\n".join(lines) + "\n").encode()


def _timed(run: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def measure(kind: str, data: bytes, rows: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"database": kind}
    read_seconds, parsed = _timed(lambda: read_csv(data))
    figures["read"] = read_seconds
    with common.database(kind) as (url, tmp):
        app = build_app(common.settings(tmp / "data", url))
        try:
            importer = Importer(app.service, app.clinic, logged_by="bench")
            for name, options in (
                ("dry run", {"dry_run": True}),
                ("import", {}),
                ("import again", {}),
            ):
                seconds, report = _timed(lambda o=options: importer.run(parsed, **o))
                figures[name] = seconds
                figures[f"{name} report"] = _summary(report)
        finally:
            app.close()
    with common.database(kind) as (url, tmp):
        app = build_app(common.settings(tmp / "data", url))
        try:
            importer = Importer(app.service, app.clinic, logged_by="bench")
            seconds, report = _timed(lambda: importer.run(parsed, skip_bad_rows=True))
            figures["import, skip bad rows"] = seconds
            figures["import, skip bad rows report"] = _summary(report)
        finally:
            app.close()
    figures["ok"] = (
        figures["dry run report"]["would_log"] == rows
        and figures["import report"]["logged"] == rows
        and figures["import again report"]["already_imported"] == rows
        and figures["import, skip bad rows report"]["logged"] == rows
    )
    return figures


def _summary(report: ImportReport) -> dict[str, int]:
    return {
        "logged": len(report.treatment_ids),
        "would_log": report.would_log,
        "already_imported": len(report.already_imported),
        "problems": len(report.problems),
    }


COLUMNS = ("read", "dry run", "import", "import again", "import, skip bad rows")


def print_table(rows: int, results: list[dict[str, Any]]) -> None:
    print(f"\nimport of a {rows}-row CSV, seconds")
    print(f"| database | {' | '.join(COLUMNS)} | correct |")
    print(f"| --- | {' | '.join('---:' for _ in COLUMNS)} | --- |")
    for figures in results:
        cells = " | ".join(f"{figures[name]:.1f}" for name in COLUMNS)
        print(f"| {figures['database']} | {cells} | {'yes' if figures['ok'] else 'NO'} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--max-seconds", type=float, default=600)
    args = parser.parse_args(argv)
    kinds = ("sqlite", "postgres") if args.database == "both" else (args.database,)
    data = generate(args.rows)
    with common.guarded(args.max_seconds):
        results = [measure(kind, data, args.rows) for kind in kinds]
    print_table(args.rows, results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "import_csv.json").write_text(json.dumps(results, indent=2, default=str))
    return 0 if all(figures["ok"] for figures in results) else 1


if __name__ == "__main__":
    sys.exit(main())
