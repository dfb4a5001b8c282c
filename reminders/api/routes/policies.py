"""The clinic's effective policies, and plans for hypothetical treatments."""

from __future__ import annotations

from fastapi import APIRouter

from reminders.api import schemas
from reminders.api.deps import CallerDep, ContextDep
from reminders.api.presenters import plan_public, policy_public
from reminders.api.routes.treatments import BODY_ERRORS, ERRORS, to_utc
from reminders.domain import ChannelKind, PatientProfile
from reminders.inputs import parse_length, parse_zone

router = APIRouter(prefix="/v1", tags=["policies"])


@router.get("/policies", response_model=list[schemas.PolicyPublic], responses=ERRORS)
def list_policies(ctx: ContextDep, who: CallerDep) -> list[schemas.PolicyPublic]:
    """Every treatment type this clinic can log: steps, texts and the answers each cites."""
    policies = ctx.app.policies.policies
    return [policy_public(policies[name], who.clinic.restriction) for name in sorted(policies)]


@router.post("/preview", response_model=schemas.PlanPublic, responses=BODY_ERRORS)
def preview(body: schemas.PreviewRequest, ctx: ContextDep, who: CallerDep) -> schemas.PlanPublic:
    """The plan for a hypothetical treatment, with local times and reasons. Nothing is stored."""
    zone = parse_zone(body.timezone, field="preview_tz") if body.timezone else None
    performed_at = to_utc(body.performed_at, zone or who.zone, "at") or ctx.app.clock.now()
    patient = PatientProfile(
        name="Patient",
        has_phone=body.channel is ChannelKind.SMS,
        has_email=body.channel is ChannelKind.EMAIL,
        timezone=zone,
    )
    plan = ctx.app.service.preview(
        who.clinic_id,
        treatment_type=body.treatment_type,
        performed_at=performed_at,
        logged_at=to_utc(body.logged_at, zone or who.zone, "logged_at"),
        patient=patient,
        restriction=parse_length(body.restriction, field="restriction")
        if body.restriction
        else None,
    )
    return plan_public(plan)
