"""`reminders audit`: the export to stdout, or to a file with a progress bar on stderr."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from reminders import audit
from reminders.bootstrap import App
from reminders.errors import InputError


def run_audit(
    application: App,
    *,
    first: str,
    last: str,
    export_format: str,
    output: Path | None,
) -> None:
    if export_format not in audit.FORMATS:
        raise InputError("format", f"must be one of {', '.join(audit.FORMATS)}")
    clinic = application.clinic
    zone = ZoneInfo(clinic.timezone)
    within = audit.period(
        audit.parse_day(first, field="from"), audit.parse_day(last, field="to"), zone
    )
    reads = application.service.reads
    found = audit.rows(reads, clinic.id, zone, within)
    if output is None:
        _write(audit.WRITERS[export_format](found), sys.stdout)
        return
    total = audit.count(reads, clinic.id, within)
    columns = (TextColumn("audit"), BarColumn(), MofNCompleteColumn())
    with (
        _opened(output) as file,
        Progress(*columns, console=Console(stderr=True), transient=True) as bar,
    ):
        task = bar.add_task("audit", total=total)

        def counted() -> Iterator[dict[str, str]]:
            for row in found:
                yield row
                bar.advance(task)

        _write(audit.WRITERS[export_format](counted()), file)


def _opened(path: Path) -> TextIO:
    try:
        # newline="": the CSV writer ends its lines itself (CRLF, as RFC 4180 has it).
        return path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError("output", f"cannot be written: {exc.strerror or exc}") from exc


def _write(chunks: Iterator[str], file: TextIO) -> None:
    for chunk in chunks:
        file.write(chunk)
    file.flush()
