"""The desk after logging: the first message's progress, and texts moved to email."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from reminders.api import schemas
from reminders.api.deps import CallerDep, ContextDep
from reminders.api.presenters import first_message_public, treatment_public, treatment_zone
from reminders.api.routes.treatments import BODY_ERRORS, ERRORS, NOT_FOUND, TreatmentId
from reminders.desk import MAX_WAIT_SECONDS
from reminders.errors import NotFoundError

router = APIRouter(prefix="/v1/treatments", tags=["treatments"])


@router.get(
    "/{treatment_id}/first-message",
    response_model=schemas.FirstMessagePublic,
    responses={**ERRORS, **NOT_FOUND},
)
def first_message(
    treatment_id: TreatmentId,
    ctx: ContextDep,
    who: CallerDep,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_SECONDS,
            description="Seconds to wait for its last word before answering; 0: at once. "
            "At most the deployment's `api.max_wait_seconds` (30 by default).",
        ),
    ] = 0,
) -> schemas.FirstMessagePublic:
    """How the treatment's first message is doing: queued, sent, delivered, or a problem
    with what to do (check the number, email instead, print the instructions)."""
    desk = ctx.app.desk
    if wait > 0:
        desk.wait_for_first_message(
            who.clinic_id, treatment_id, timeout=min(wait, ctx.app.settings.api.max_wait_seconds)
        )
    treatment = ctx.app.service.treatment(who.clinic_id, treatment_id)
    first = desk.progress(treatment, email_fallback=who.clinic.email_fallback)
    if first is None:
        raise NotFoundError(f"treatment {treatment_id} has no messages")
    return first_message_public(first, treatment_zone(treatment, who.zone))


@router.post(
    "/{treatment_id}/email-instead",
    response_model=schemas.TreatmentPublic,
    responses={
        **BODY_ERRORS,
        **NOT_FOUND,
        409: {
            "model": schemas.MessageOut,
            "description": "The treatment is cancelled, or the clinic does not email instead",
        },
    },
)
def email_instead(
    treatment_id: TreatmentId,
    body: schemas.EmailInsteadRequest,
    ctx: ContextDep,
    who: CallerDep,
) -> schemas.TreatmentPublic:
    """Stop texting this patient: their texts not yet sent are cancelled, and those steps,
    and any text of this treatment that did not arrive, go by email as of now (to `email`,
    which becomes the patient's address, or to the one on record)."""
    ctx.app.desk.email_instead(
        who.clinic_id, treatment_id, email=body.email, why=body.reason, field="email_instead.email"
    )
    return treatment_public(ctx.app.service.treatment(who.clinic_id, treatment_id), who.zone)
