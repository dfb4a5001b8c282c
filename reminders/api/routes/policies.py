"""The clinic's effective policies, and plans for hypothetical treatments."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter

from reminders.api import schemas
from reminders.api.deps import CallerDep, ContextDep
from reminders.api.presenters import plan_public, policy_public
from reminders.api.routes.treatments import BODY_ERRORS, ERRORS, to_utc
from reminders.domain import ChannelKind, PatientProfile
from reminders.errors import InputError
from reminders.inputs import parse_length, parse_zone

router = APIRouter(prefix="/v1", tags=["policies"])
# How far from today a hypothetical treatment may be: far enough for any real question,
# near enough that every planned time stays inside the calendar (year 1 to 9999).
PREVIEW_SPAN = timedelta(days=10 * 366)


@router.get("/policies", response_model=list[schemas.PolicyPublic], responses=ERRORS)
def list_policies(ctx: ContextDep, who: CallerDep) -> list[schemas.PolicyPublic]:
    """Every treatment type this clinic can log: steps, texts and the answers each cites."""
    policies = ctx.app.policies.policies
    return [policy_public(policies[name], who.clinic.restriction) for name in sorted(policies)]


@router.post("/preview", response_model=schemas.PlanPublic, responses=BODY_ERRORS)
def preview(body: schemas.PreviewRequest, ctx: ContextDep, who: CallerDep) -> schemas.PlanPublic:
    """The plan for a hypothetical treatment, with local times and reasons. Nothing is stored."""
    now = ctx.app.clock.now()
    zone = parse_zone(body.timezone, field="preview_tz") if body.timezone else None
    performed_at = _near(to_utc(body.performed_at, zone or who.zone, "at"), now, "at") or now
    logged_at = _near(to_utc(body.logged_at, zone or who.zone, "logged_at"), now, "logged_at")
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
        logged_at=logged_at,
        patient=patient,
        restriction=parse_length(body.restriction, field="restriction")
        if body.restriction
        else None,
    )
    return plan_public(plan)


def _near(value: datetime | None, now: datetime, field: str) -> datetime | None:
    if value is not None and abs(value - now) > PREVIEW_SPAN:
        raise InputError(field, "must be within 10 years of today")
    return value
