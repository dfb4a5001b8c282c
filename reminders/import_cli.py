"""`reminders import`: read the file, run the import with a progress bar, print the report."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from reminders import imports
from reminders.actors import cli_actor
from reminders.bootstrap import App
from reminders.errors import InputError
from reminders.views import visible


def run_import(
    application: App,
    path: Path,
    *,
    mapping: Sequence[str],
    ignore_unknown: bool,
    dry_run: bool,
    skip_bad_rows: bool,
    progress: bool,
    as_json: bool,
) -> imports.ImportReport:
    """Import `path` for the configured clinic and print the report (text or JSON)."""
    rows = imports.read_csv(
        _read(path), mapping=imports.parse_mapping(mapping), ignore_unknown=ignore_unknown
    )
    with _progress_bar(progress) as on_progress:
        importer = imports.Importer(
            application.service, application.clinic, logged_by=cli_actor(), progress=on_progress
        )
        report = importer.run(rows, dry_run=dry_run, skip_bad_rows=skip_bad_rows)
    _print(report, as_json=as_json, skip_bad_rows=skip_bad_rows)
    return report


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError("file", f"cannot be read: {exc.strerror or exc}") from exc


@contextmanager
def _progress_bar(shown: bool) -> Iterator[imports.Progress]:
    """A progress callback: a bar on stderr (stdout stays the report's, JSON included)."""
    if not shown:
        yield lambda _phase, _done, _total: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


def _print(report: imports.ImportReport, *, as_json: bool, skip_bad_rows: bool) -> None:
    if as_json:
        print(json.dumps(imports.report_document(report), ensure_ascii=True, indent=2))
        return
    console = Console()
    for line in imports.report_lines(report):
        console.print(Text(visible(line)), soft_wrap=True)
    if report.dry_run:
        console.print("Dry run: nothing stored.")
    elif report.problems and not skip_bad_rows:
        console.print(
            "Nothing stored: correct the rows above and import again, or pass "
            "--skip-bad-rows to log the others."
        )
