"""A clinic's settings and its change history, as tables for the operator and as JSON
documents (the `--json` output and the admin API's answers alike)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.table import Table

from reminders.clinic_admin import UPDATABLE, ClinicSummary
from reminders.clinic_records import Change, as_text
from reminders.db.models import ClinicChange
from reminders.views import Document
from reminders.views import as_text as cell


def clinic_document(summary: ClinicSummary) -> Document:
    """Every setting, the status, the live API keys and staff accounts counted, and when."""
    clinic = summary.clinic
    document: Document = {"id": clinic.id, "slug": clinic.slug}
    document |= {name: getattr(clinic, name) for name in UPDATABLE}
    return document | {
        "status": summary.status,
        "disabled_at": clinic.disabled_at,
        "disabled_reason": clinic.disabled_reason,
        "api_keys": summary.api_keys,
        "staff": summary.staff,
        "created_at": clinic.created_at,
        "updated_at": clinic.updated_at,
    }


def clinics_document(summaries: Sequence[ClinicSummary]) -> Document:
    return {"items": [clinic_document(summary) for summary in summaries]}


def changes_document(changes: Sequence[ClinicChange]) -> Document:
    """Oldest first: who changed which field, when, from what to what."""
    return {
        "items": [
            {
                "changed_at": change.changed_at,
                "changed_by": change.changed_by,
                "field": change.field,
                "old_value": change.old_value,
                "new_value": change.new_value,
            }
            for change in changes
        ]
    }


def planned_document(changes: Sequence[Change]) -> Document:
    """Changes made, or that a dry run would make."""
    return {"changes": [{"field": c.field, "old": c.old, "new": c.new} for c in changes]}


def clinic_table(summary: ClinicSummary) -> Table:
    table = Table(title=f"clinic {summary.clinic.slug}", show_header=False)
    table.add_column("setting", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in clinic_document(summary).items():
        table.add_row(name, cell(_shown(value)))
    return table


def changes_table(changes: Sequence[ClinicChange]) -> Table:
    table = Table(title="changes")
    for header in ("when (UTC)", "by", "field"):
        table.add_column(header, no_wrap=True)
    table.add_column("from", overflow="fold")
    table.add_column("to", overflow="fold")
    for change in changes:
        table.add_row(
            f"{change.changed_at:%Y-%m-%d %H:%M:%S}",
            cell(change.changed_by),
            cell(change.field),
            cell(_shown(change.old_value)),
            cell(_shown(change.new_value)),
        )
    return table


def planned_table(changes: Sequence[Change], *, title: str) -> Table:
    table = Table(title=title)
    table.add_column("field", no_wrap=True)
    table.add_column("from", overflow="fold")
    table.add_column("to", overflow="fold")
    for change in changes:
        table.add_row(cell(change.field), cell(_shown(change.old)), cell(_shown(change.new)))
    return table


def _shown(value: object) -> str:
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S} UTC"
    return as_text(value) or "-"
