"""Patients' replies: the staff inbox, acknowledging, confirming a request to stop texts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from reminders.api import schemas
from reminders.api.deps import CallerDep, ContextDep
from reminders.api.presenters import reply_public
from reminders.api.routes.treatments import BODY_ERRORS, ERRORS, MAX_ID
from reminders.replies import ReplyFilter

router = APIRouter(prefix="/v1/replies", tags=["replies"])
ReplyId = Annotated[int, Path(ge=1, le=MAX_ID)]
NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": schemas.MessageOut, "description": "No such reply for this clinic"}
}


@router.get("", response_model=schemas.ReplyPage, responses=ERRORS)
def replies(
    ctx: ContextDep,
    who: CallerDep,
    flagged: Annotated[bool, Query(description="Only emergencies and clinical flags.")] = False,
    open: Annotated[
        bool, Query(description="Only replies waiting for staff (unacknowledged).")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> schemas.ReplyPage:
    """Patients' replies: those waiting for staff first (emergencies, clinical flags, requests
    to stop texts), then newest first; each with its patient and their latest treatment."""
    found = ctx.app.replies.inbox(
        who.clinic_id, ReplyFilter(flagged=flagged, open=open, limit=limit)
    )
    return schemas.ReplyPage(
        items=[reply_public(r, ctx.app.triage) for r in found],
        open_flagged=ctx.app.replies.open_flagged_count(who.clinic_id),
    )


@router.post(
    "/{reply_id}/acknowledge",
    response_model=schemas.ReplyPublic,
    responses={**BODY_ERRORS, **NOT_FOUND},
)
def acknowledge_reply(
    reply_id: ReplyId, body: schemas.AcknowledgeRequest, ctx: ContextDep, who: CallerDep
) -> schemas.ReplyPublic:
    """Mark a reply as dealt with (the patient was called), or a request to stop texts as
    dismissed. Acknowledging it again changes nothing."""
    reply = ctx.app.replies.acknowledge(who.clinic_id, reply_id, by=body.by)
    return reply_public(reply, ctx.app.triage)


@router.post(
    "/{reply_id}/confirm-opt-out",
    response_model=schemas.ReplyPublic,
    responses={**BODY_ERRORS, **NOT_FOUND},
)
def confirm_opt_out(
    reply_id: ReplyId, body: schemas.ConfirmOptOutRequest, ctx: ContextDep, who: CallerDep
) -> schemas.ReplyPublic:
    """The patient asked in words to stop texts: record the opt-out and move the rest of
    their aftercare off texts, as a STOP keyword does. Confirming again changes nothing."""
    reply = ctx.app.replies.confirm_opt_out(who.clinic_id, reply_id, by=body.by)
    return reply_public(reply, ctx.app.triage)
