"""Importing a day's treatments from an EMR's CSV export.

Every row is checked before anything is stored, and every problem is reported
with the file's line (the header is line 1) and the field. By default an import
is all or nothing: one bad row and nothing is stored. With `skip_bad_rows` the
good rows are logged, in transactions of `CHUNK` rows, and the others reported.

Each row has a key: the EMR's id for it (`external_id`) when the file gives one,
else a SHA-256 of the row as logged (name, phone, email, treatment, time). The
key is stored with the treatment the row became (`import_keys`), so importing a
file again logs only rows not yet imported, and a row repeated in one file is
one treatment.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from reminders import intake
from reminders.db import bulk
from reminders.db.models import Clinic, ImportKey, table_of
from reminders.domain import ChannelKind
from reminders.errors import ConflictError, InputError
from reminders.inputs import (
    check_treatment_time,
    clean_text,
    parse_email,
    parse_length,
    parse_mobile,
    parse_when,
)
from reminders.patients import MAX_NAME, PatientInput, name_key
from reminders.service import ReminderService

# The fields a row may give, and the header names (after case and spacing are
# folded: `Patient Name` is `patient_name`) that give each.
ALIASES: dict[str, tuple[str, ...]] = {
    "patient": ("patient", "patient_name", "name"),
    "phone": ("phone", "mobile", "cell"),
    "email": ("email", "e_mail"),
    "sms_consent": ("sms_consent",),
    "channel": ("channel",),
    "treatment": ("treatment", "treatment_type", "procedure"),
    "performed_at": ("performed_at", "time", "treated_at"),
    "restriction": ("restriction",),
    "restriction_reason": ("restriction_reason",),
    "external_id": ("external_id", "visit_id", "id"),
}
FIELDS = tuple(ALIASES)
REQUIRED = ("patient", "treatment", "performed_at")
_BY_HEADER = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
CHUNK = 500  # rows per transaction with skip_bad_rows; also keys per look-up
MAX_EXTERNAL_ID = 200
_YES = frozenset({"yes", "y", "true", "1"})
_NO = frozenset({"no", "n", "false", "0", ""})
# Where the service names a field other than the file's column does.
_SERVICE_FIELDS = {"name": "patient", "at": "performed_at"}


@dataclass(frozen=True)
class Problem:
    line: int  # in the file; the header is line 1
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.message}"


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, str]  # field -> the cell, trimmed; "" where empty or absent
    extra: bool = False  # more cells than the header has columns


@dataclass(frozen=True)
class Parsed:
    """A row that passed its checks, with its key."""

    line: int
    key: str
    checked: intake.Checked


@dataclass
class ImportReport:
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    already_imported: list[int] = field(default_factory=list)  # lines
    repeated: list[tuple[int, int]] = field(default_factory=list)  # (line, same as line)
    treatment_ids: list[int] = field(default_factory=list)  # logged now
    would_log: int = 0
    dry_run: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.problems)


Progress = Callable[[str, int, int], None]  # phase, done, total


def _no_progress(_phase: str, _done: int, _total: int) -> None:
    return None


def header_key(text: str) -> str:
    """A header as compared: case, spacing and dashes folded (`Patient Name` -> `patient_name`)."""
    return "_".join(text.replace("-", " ").replace("_", " ").split()).casefold()


def parse_mapping(options: Sequence[str]) -> dict[str, str]:
    """`--map COLUMN=FIELD` options as {header key: field}."""
    mapping: dict[str, str] = {}
    for option in options:
        column, sep, target = option.partition("=")
        target = target.strip().casefold()
        if not sep or not column.strip():
            raise InputError("map", f"{option!r} is not COLUMN=FIELD")
        if target not in ALIASES:
            raise InputError("map", f"unknown field {target!r} (fields: {', '.join(FIELDS)})")
        mapping[header_key(column)] = target
    return mapping


def read_csv(
    data: bytes, *, mapping: dict[str, str] | None = None, ignore_unknown: bool = False
) -> list[Row]:
    """The file's rows by field. UTF-8, with or without a byte-order mark; comma or
    semicolon delimited (sniffed). A header this cannot read is an InputError."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError("file", f"is not UTF-8 text (byte {exc.start})") from exc
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text))
    try:
        header = next(reader, None)
        if header is None:
            raise InputError("file", "is empty")
        columns = _columns(header, mapping or {}, ignore_unknown)
        return list(_rows(reader, columns, len(header)))
    except csv.Error as exc:
        raise InputError("file", f"line {reader.line_num}: {exc}") from exc


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters=",;")
    except csv.Error:
        return csv.excel  # one column, or too little to tell: commas


def _columns(header: list[str], mapping: dict[str, str], ignore_unknown: bool) -> dict[int, str]:
    """Column index -> field."""
    columns: dict[int, str] = {}
    unknown: list[str] = []
    for index, name in enumerate(header):
        key = header_key(name)
        target = mapping.get(key) or _BY_HEADER.get(key)
        if target is None:
            unknown.append(name)
        elif target in columns.values():
            raise InputError("columns", f"two columns give {target}: map one elsewhere with --map")
        else:
            columns[index] = target
    if unknown and not ignore_unknown:
        raise InputError(
            "columns",
            f"unknown column(s) {', '.join(repr(name) for name in unknown)}: map them with "
            f"--map COLUMN=FIELD (fields: {', '.join(FIELDS)}) or pass --ignore-unknown-columns",
        )
    missing = [name for name in REQUIRED if name not in columns.values()]
    if missing:
        raise InputError("columns", f"missing column(s) for {', '.join(missing)}")
    if not {"phone", "email"} & set(columns.values()):
        raise InputError("columns", "needs a phone or an email column")
    return columns


def _rows(reader: Any, columns: dict[int, str], width: int) -> Iterator[Row]:
    start = 2
    for record in reader:
        if any(cell.strip() for cell in record):
            values = {name: "" for name in columns.values()}
            for index, name in columns.items():
                if index < len(record):
                    values[name] = record[index].strip()
            extra = any(cell.strip() for cell in record[width:])
            yield Row(start, values, extra)
        start = reader.line_num + 1  # a quoted field may span lines: the next starts after


@dataclass(frozen=True)
class RowContext:
    """What checking a row needs: the clinic, its zone, the policies, now, who imports."""

    service: ReminderService
    clinic: Clinic
    zone: ZoneInfo
    now: datetime
    logged_by: str


def parse_row(row: Row, ctx: RowContext) -> Parsed | list[Problem]:
    """The row checked, with its key; or every problem found in it.

    The fields that need reading from text are read first; then intake checks the
    request as it checks any treatment. Only a row it refuses has its contact and
    treatment checked field by field too, so that each of its problems is reported:
    phone numbers, the costliest check, are read once for a good row.
    """
    problems: list[Problem] = []

    def checked(name: str, parse: Callable[[str], object], *, required: bool = False) -> object:
        text = row.values.get(name, "")
        if not text:
            if required:
                problems.append(Problem(row.line, name, "is required"))
            return None
        try:
            return parse(text)
        except InputError as exc:
            problems.append(Problem(row.line, _file_field(exc.field), exc.message))
            return None

    if row.extra:
        problems.append(Problem(row.line, "columns", "more cells than the header has columns"))
    name = checked("patient", lambda t: t, required=True)
    consent = checked("sms_consent", lambda t: _consent(t, ctx))
    channel = checked("channel", _channel)
    performed_at = checked("performed_at", lambda t: _performed_at(t, ctx), required=True)
    restriction = checked("restriction", lambda t: parse_length(t, field="restriction"))
    external_id = checked(
        "external_id", lambda t: clean_text(t, field="external_id", longest=MAX_EXTERNAL_ID)
    )
    refusal = None
    if not problems and row.values["treatment"]:
        request = intake.TreatmentInput(
            patient=PatientInput(
                name=str(name),
                phone=row.values.get("phone") or None,
                email=row.values.get("email") or None,
                preferred_channel=channel,  # type: ignore[arg-type]
                sms_consent_at=consent,  # type: ignore[arg-type]
            ),
            treatment_type=row.values["treatment"],
            performed_at=performed_at,  # type: ignore[arg-type]
            restriction=restriction,  # type: ignore[arg-type]
            restriction_reason=row.values.get("restriction_reason") or None,
            logged_by=ctx.logged_by,
        )
        try:
            result = intake.check(ctx.service.policies, ctx.clinic, request, ctx.now)
            return Parsed(row.line, _key(result, external_id), result)
        except InputError as exc:
            refusal = Problem(row.line, _file_field(exc.field), exc.message)
    if name:
        checked("patient", lambda t: clean_text(t, field="patient", longest=MAX_NAME))
    checked("phone", lambda t: parse_mobile(t, region=ctx.clinic.region))
    checked("email", parse_email)
    checked("treatment", lambda t: ctx.service.policy(t, field="treatment"), required=True)
    if refusal is not None and refusal not in problems:
        problems.append(refusal)  # a rule across fields (a phone needed for texts...)
    return sorted(problems, key=lambda problem: _ORDER.get(problem.field, len(_ORDER)))


_ORDER = {name: index for index, name in enumerate(("columns", *FIELDS))}


def _file_field(service_field: str) -> str:
    return _SERVICE_FIELDS.get(service_field, service_field)


def _consent(text: str, ctx: RowContext) -> datetime | None:
    """yes/no (consent recorded as of the import), or when the patient consented."""
    folded = text.casefold()
    if folded in _YES:
        return ctx.now
    if folded in _NO:
        return None
    at = parse_when(text, zone=ctx.zone, field="sms_consent")
    if at > ctx.now:
        raise InputError("sms_consent", "is in the future")
    return at


def _channel(text: str) -> ChannelKind:
    try:
        return ChannelKind(text.casefold())
    except ValueError as exc:
        choices = ", ".join(kind.value for kind in ChannelKind)
        raise InputError("channel", f"{text!r} is not a channel ({choices})") from exc


def _performed_at(text: str, ctx: RowContext) -> datetime:
    # The API's rule: an offset is honoured; a local time is read in the clinic's zone,
    # and one that a DST change skips or repeats is refused, never guessed.
    at = parse_when(text, zone=ctx.zone, field="performed_at")
    check_treatment_time(at, now=ctx.now, field="performed_at")
    return at


def _key(checked: intake.Checked, external_id: object) -> str:
    if external_id:
        return f"id:{external_id}"
    contact = checked.contact
    normalised = [
        name_key(contact.name),
        contact.phone or "",
        (contact.email or "").casefold(),
        checked.policy.treatment,
        checked.performed_at.isoformat(),
    ]
    digest = hashlib.sha256(json.dumps(normalised).encode()).hexdigest()
    return f"row:{digest}"


class Importer:
    """Checks a file's rows and logs the new ones for one clinic."""

    def __init__(
        self,
        service: ReminderService,
        clinic: Clinic,
        *,
        logged_by: str,
        progress: Progress = _no_progress,
    ) -> None:
        self.service = service
        self.clinic = clinic
        self.logged_by = logged_by
        self.progress = progress
        self.now = service.clock.now()
        self.to_log = 0

    def run(
        self, rows: Sequence[Row], *, dry_run: bool = False, skip_bad_rows: bool = False
    ) -> ImportReport:
        """Check every row, then log the new ones: all or nothing unless `skip_bad_rows`.

        A dry run checks and stores nothing."""
        report = ImportReport(rows=len(rows), dry_run=dry_run)
        fresh = self._fresh(self._parsed(rows, report), report)
        if dry_run or (report.problems and not skip_bad_rows):
            fresh = self._reachable_only(fresh, report)
            report.would_log = len(fresh)
            report.problems.sort(key=lambda p: p.line)
            return report
        self.to_log = len(fresh)
        if skip_bad_rows:
            self._write_chunks(fresh, report)
        else:
            self._write_all(fresh, report)
        if report.treatment_ids:
            report.would_log = len(report.treatment_ids)
        report.problems.sort(key=lambda p: p.line)
        return report

    def _parsed(self, rows: Sequence[Row], report: ImportReport) -> list[Parsed]:
        ctx = RowContext(
            self.service,
            self.clinic,
            ZoneInfo(self.clinic.timezone),
            self.now,
            self.logged_by,
        )
        parsed: list[Parsed] = []
        for done, row in enumerate(rows, start=1):
            result = parse_row(row, ctx)
            if isinstance(result, Parsed):
                parsed.append(result)
            else:
                report.problems.extend(result)
            if done % 100 == 0 or done == len(rows):
                self.progress("checking", done, len(rows))
        return parsed

    def _fresh(self, parsed: list[Parsed], report: ImportReport) -> list[Parsed]:
        """The rows neither imported before nor repeating an earlier row of the file."""
        first: dict[str, int] = {}
        unique: list[Parsed] = []
        for row in parsed:
            if row.key in first:
                report.repeated.append((row.line, first[row.key]))
            else:
                first[row.key] = row.line
                unique.append(row)
        with self.service.reads() as session:
            known = _imported(session.connection(), self.clinic.id, [r.key for r in unique])
        report.already_imported = [row.line for row in unique if row.key in known]
        return [row for row in unique if row.key not in known]

    def _reachable_only(self, rows: list[Parsed], report: ImportReport) -> list[Parsed]:
        with self.service.reads() as session:
            return self._drop_unreachable(session.connection(), rows, report)

    def _drop_unreachable(
        self, connection: Connection, rows: list[Parsed], report: ImportReport
    ) -> list[Parsed]:
        """The rows whose patient a channel may reach, once matched with those on record
        (a patient's consent or address may be on record already); the others reported."""
        while True:
            found = intake.unreachable(
                connection, self.clinic.id, [r.checked for r in rows], self.now
            )
            if not found:
                return rows
            for index, exc in found.items():
                report.problems.append(Problem(rows[index].line, exc.field, exc.message))
            rows = [row for index, row in enumerate(rows) if index not in found]

    def _write_all(self, rows: list[Parsed], report: ImportReport) -> None:
        with self.service.sessions.begin() as session:
            connection = session.connection()
            rows = self._drop_unreachable(connection, rows, report)
            if report.problems:
                session.rollback()
                report.would_log = len(rows)
                return
            report.treatment_ids = self._write(connection, rows, report)

    def _write_chunks(self, rows: list[Parsed], report: ImportReport) -> None:
        for start in range(0, len(rows), CHUNK):
            with self.service.sessions.begin() as session:
                connection = session.connection()
                chunk = self._drop_unreachable(connection, rows[start : start + CHUNK], report)
                report.treatment_ids += self._write(connection, chunk, report)

    def _write(self, connection: Connection, rows: list[Parsed], report: ImportReport) -> list[int]:
        if not rows:
            return []
        profile = self.service.planning_profile(self.clinic)
        written = intake.write(
            connection, profile, self.clinic, [r.checked for r in rows], self.now
        )
        keys = [
            {
                "clinic_id": self.clinic.id,
                "key": row.key,
                "treatment_id": w.treatment_id,
                "created_at": self.now,
            }
            for row, w in zip(rows, written, strict=True)
        ]
        try:
            bulk.insert_rows(connection, table_of(ImportKey), keys)
        except IntegrityError as exc:
            raise ConflictError(
                "another import stored some of these rows meanwhile: nothing from this "
                "transaction was kept; run the import again to log the rest"
            ) from exc
        self.progress("logging", len(report.treatment_ids) + len(rows), self.to_log)
        return [w.treatment_id for w in written]


def _imported(connection: Connection, clinic_id: int, keys: list[str]) -> set[str]:
    table = table_of(ImportKey)
    known: set[str] = set()
    for start in range(0, len(keys), CHUNK):
        known.update(
            connection.scalars(
                select(table.c.key)
                .where(table.c.clinic_id == clinic_id)
                .where(table.c.key.in_(keys[start : start + CHUNK]))
            )
        )
    return known


def report_lines(report: ImportReport) -> list[str]:
    """The report as the desk reads it: each problem, each repeated row, then a summary."""
    lines = [str(problem) for problem in report.problems]
    lines += [f"line {line} repeats line {first}: imported once" for line, first in report.repeated]
    counts = [f"rows: {report.rows}"]
    if report.dry_run or (report.problems and not report.treatment_ids):
        counts.append(f"would log: {report.would_log}")
    else:
        counts.append(f"logged: {len(report.treatment_ids)}")
    counts += [
        f"already imported: {len(report.already_imported)}",
        f"repeated in the file: {len(report.repeated)}",
        f"problems: {len(report.problems)}",
    ]
    lines.append(", ".join(counts))
    return lines


def report_document(report: ImportReport) -> dict[str, object]:
    """The report for scripts (`--json`)."""
    return {
        "dry_run": report.dry_run,
        "stored": bool(report.treatment_ids),
        "rows": report.rows,
        "logged": len(report.treatment_ids),
        "would_log": report.would_log,
        "already_imported": len(report.already_imported),
        "already_imported_lines": report.already_imported,
        "repeated": [{"line": line, "same_as_line": first} for line, first in report.repeated],
        "problems": [
            {"line": p.line, "field": p.field, "message": p.message} for p in report.problems
        ],
        "treatment_ids": report.treatment_ids,
    }
