"""Alerts: patients the service can no longer reach, for staff to call and acknowledge."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from reminders.api import schemas
from reminders.api.deps import CallerDep, ContextDep
from reminders.api.presenters import alert_public, channel_waiting_public, reply_public
from reminders.api.routes.treatments import BODY_ERRORS, ERRORS, MAX_ID

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
AlertId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("", response_model=schemas.AlertPage, responses=ERRORS)
def open_alerts(ctx: ContextDep, who: CallerDep) -> schemas.AlertPage:
    """Open alerts, oldest first: each names the patient's treatment, why the service can no
    longer reach them, and what they will miss. Also the flagged replies nobody has
    acknowledged, and the channels waiting for the deployment's settings to be fixed."""
    service = ctx.app.service
    return schemas.AlertPage(
        items=[alert_public(a) for a in service.needs_call(who.clinic_id)],
        replies=[
            reply_public(r, ctx.app.triage) for r in ctx.app.replies.open_flagged(who.clinic_id)
        ],
        channels_waiting=[channel_waiting_public(p) for p in service.channel_problems()],
    )


@router.post(
    "/{alert_id}/acknowledge",
    response_model=schemas.AlertPublic,
    responses={
        **BODY_ERRORS,
        404: {"model": schemas.MessageOut, "description": "No such alert for this clinic"},
    },
)
def acknowledge_alert(
    alert_id: AlertId, body: schemas.AcknowledgeRequest, ctx: ContextDep, who: CallerDep
) -> schemas.AlertPublic:
    """Mark an alert as dealt with (the patient was called). Acknowledging it again changes
    nothing."""
    return alert_public(ctx.app.service.acknowledge(who.clinic_id, alert_id, by=body.by))
