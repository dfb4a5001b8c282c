"""The audit export: every message sent, skipped, failed or cancelled in a period."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from reminders import audit
from reminders.api.deps import CallerDep, ContextDep
from reminders.api.routes.treatments import ERRORS

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get(
    "",
    response_class=StreamingResponse,
    responses={
        **ERRORS,
        200: {
            "description": "The export, as an attachment",
            "content": {media: {} for media in audit.MEDIA_TYPES.values()},
        },
    },
)
def audit_export(
    ctx: ContextDep,
    who: CallerDep,
    first: Annotated[date, Query(alias="from", description="First day, clinic-local.")],
    last: Annotated[date, Query(alias="to", description="Last day, included.")],
    format: Annotated[Literal["csv", "jsonl", "json"], Query()] = "csv",
) -> StreamingResponse:
    """Every message of this clinic's treatments due in the period (whole days in the
    clinic's zone, at most 366) that was sent, skipped, failed or cancelled: the patient,
    the address it went to, the exact text (and the text as sent where it was written
    again), outcome and reason, provider id, delivery status, and who logged the
    treatment. Written as it is read, a page of messages at a time."""
    within = audit.period(first, last, who.zone)
    found = audit.rows(ctx.app.service.reads, who.clinic_id, who.zone, within)
    filename = f"audit-{who.clinic.slug}-{first}-{last}.{format}"
    return StreamingResponse(
        audit.WRITERS[format](found),
        media_type=audit.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
