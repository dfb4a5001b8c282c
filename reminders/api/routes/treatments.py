"""Treatments: log (idempotently), read, list, correct the time, cancel."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Path, Query, Response, status

from reminders.actors import api_key_actor
from reminders.api import schemas
from reminders.api.deps import Caller, CallerDep, ContextDep
from reminders.api.presenters import (
    first_message_public,
    planned_step_public,
    treatment_public,
    treatment_zone,
)
from reminders.db.repo import TreatmentQuery
from reminders.desk import MAX_WAIT_SECONDS
from reminders.domain import TreatmentStatus
from reminders.errors import InputError
from reminders.inputs import aware_to_utc, local_to_utc, parse_length, parse_phone, parse_zone
from reminders.intake import TreatmentInput
from reminders.patients import PatientInput

router = APIRouter(prefix="/v1/treatments", tags=["treatments"])

# Ids are 32-bit in the schema; larger ones cannot exist and must not reach the database.
MAX_ID = 2**31 - 1
TreatmentId = Annotated[int, Path(ge=1, le=MAX_ID)]
ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": schemas.MessageOut, "description": "Missing or invalid API key"},
    422: {"model": schemas.ValidationErrorOut, "description": "Invalid input; nothing stored"},
    429: {"model": schemas.MessageOut, "description": "Rate limit exceeded; see Retry-After"},
    503: {"model": schemas.MessageOut, "description": "Database unavailable; see Retry-After"},
}
# Routes that read a body can also refuse it before validation.
BODY_ERRORS: dict[int | str, dict[str, object]] = {
    **ERRORS,
    400: {"model": schemas.MessageOut, "description": "Body could not be read"},
    413: {"model": schemas.MessageOut, "description": "Body larger than the limit"},
}
NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": schemas.MessageOut, "description": "No such treatment for this clinic"}
}


def to_utc(value: datetime | None, zone: ZoneInfo, field: str) -> datetime | None:
    """An aware time as UTC; a naive one read in the clinic's zone (DST-ambiguous: an error)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return local_to_utc(value, zone, field=field)
    return aware_to_utc(value, field=field)


def _treatment_input(body: schemas.TreatmentCreate, who: Caller, now: datetime) -> TreatmentInput:
    patient = body.patient
    consent_at = None
    if patient.sms_consent:
        consent_at = to_utc(patient.sms_consent_at, who.zone, "patient.sms_consent_at") or now
        if consent_at > now:
            raise InputError("patient.sms_consent_at", "is in the future")
    elif patient.sms_consent_at is not None:
        raise InputError("sms_consent", "sms_consent_at given but sms_consent is false")
    return TreatmentInput(
        restriction=parse_length(body.restriction, field="restriction")
        if body.restriction
        else None,
        restriction_reason=body.restriction_reason,
        patient=PatientInput(
            name=patient.name,
            phone=patient.phone,
            email=patient.email,
            preferred_channel=patient.preferred_channel,
            timezone=parse_zone(patient.timezone, field="tz") if patient.timezone else None,
            sms_consent_at=consent_at,
        ),
        treatment_type=body.treatment_type,
        performed_at=to_utc(body.performed_at, who.zone, "at"),
        logged_by=api_key_actor(who.key_label),
    )


def _request_hash(body: schemas.TreatmentCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.TreatmentLogged,
    responses={
        **BODY_ERRORS,
        409: {
            "model": schemas.MessageOut,
            "description": "Idempotency-Key reused with another body",
        },
    },
)
def log_treatment(
    body: schemas.TreatmentCreate,
    ctx: ContextDep,
    who: CallerDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Retrying with the same key and body returns the first result.",
        ),
    ] = None,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_SECONDS,
            description="Seconds to wait for the first message's last word (delivered, a "
            "problem, or sent where no delivery report comes) before answering; 0: at once. "
            "At most the deployment's `api.max_wait_seconds` (30 by default).",
        ),
    ] = 0,
) -> schemas.TreatmentLogged:
    """Log a treatment and plan its aftercare messages.

    The response lists every planned message with its due time in UTC and in
    the patient's (or clinic's) local time; steps that will not be sent carry
    the reason. `first_message` says how the first one is doing: with `wait`, the
    answer comes once it is delivered or has a problem (with what to do), or when
    the wait ends, whichever is first.
    """
    service = ctx.app.service
    request = _treatment_input(body, who, ctx.app.clock.now())
    if idempotency_key is None:
        treatment = service.log_treatment(who.clinic_id, request, clinic_row=who.clinic)
    else:
        treatment, replayed = service.log_treatment_once(
            who.clinic_id,
            request,
            key=idempotency_key,
            request_hash=_request_hash(body),
            clinic_row=who.clinic,
        )
        response.headers["Idempotent-Replayed"] = "true" if replayed else "false"
    desk = ctx.app.desk
    if wait > 0:
        first = desk.wait_for_first_message(
            who.clinic_id, treatment.id, timeout=min(wait, ctx.app.settings.api.max_wait_seconds)
        )
        treatment = service.treatment(who.clinic_id, treatment.id)  # as the wait left it
    else:
        first = desk.progress(treatment, email_fallback=who.clinic.email_fallback)
    public = treatment_public(treatment, who.zone)
    zone = treatment_zone(treatment, who.zone)
    return schemas.TreatmentLogged(
        **dict(public),
        first_message=first_message_public(first, zone) if first else None,
    )


@router.get(
    "/{treatment_id}", response_model=schemas.TreatmentPublic, responses={**ERRORS, **NOT_FOUND}
)
def get_treatment(
    treatment_id: TreatmentId, ctx: ContextDep, who: CallerDep
) -> schemas.TreatmentPublic:
    """A treatment with its message timeline: each message's state, times, reasons and history."""
    return treatment_public(ctx.app.service.treatment(who.clinic_id, treatment_id), who.zone)


def _encode_cursor(at: datetime, treatment_id: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{treatment_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        at_text, _, id_text = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        at = datetime.fromisoformat(at_text)
        last_id = int(id_text)
        if at.tzinfo is None or not 1 <= last_id <= MAX_ID:
            raise ValueError("not a cursor")
        return at.astimezone(UTC), last_id
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise InputError("cursor", "is not a cursor this API returned") from exc


@router.get("", response_model=schemas.TreatmentPage, responses=ERRORS)
def list_treatments(
    ctx: ContextDep,
    who: CallerDep,
    performed_from: Annotated[datetime | None, Query(description="Inclusive.")] = None,
    performed_to: Annotated[datetime | None, Query(description="Exclusive.")] = None,
    phone: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    status_: Annotated[TreatmentStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> schemas.TreatmentPage:
    """The clinic's treatments, newest first, one page at a time."""
    region = who.clinic.region
    query = TreatmentQuery(
        limit=limit,
        performed_from=to_utc(performed_from, who.zone, "performed_from"),
        performed_to=to_utc(performed_to, who.zone, "performed_to"),
        phone=parse_phone(phone, region=region, field="phone_query") if phone else None,
        status=status_.value if status_ else None,
        after=_decode_cursor(cursor) if cursor else None,
    )
    items = ctx.app.service.find_treatments(who.clinic_id, query)
    last = items[-1] if len(items) == limit else None
    return schemas.TreatmentPage(
        items=[treatment_public(t, who.zone) for t in items],
        next_cursor=_encode_cursor(last.performed_at, last.id) if last else None,
    )


@router.patch(
    "/{treatment_id}",
    response_model=schemas.CorrectionPublic,
    responses={
        **BODY_ERRORS,
        **NOT_FOUND,
        409: {"model": schemas.MessageOut, "description": "The treatment is cancelled"},
    },
)
def correct_treatment(
    treatment_id: TreatmentId, body: schemas.TreatmentUpdate, ctx: ContextDep, who: CallerDep
) -> schemas.CorrectionPublic:
    """Correct the treatment's time or restriction: what is still to go is planned again.

    A patient already told other times gets a correction (at once when a window is
    longer than they were told), returned as `correction`; with `notify: false` and a
    `not_notified_reason` they are not told. `dry_run: true` returns all this and stores
    nothing, so the desk sees the message before it is sent.
    """
    if body.performed_at is None and body.restriction is None:
        raise InputError("at", "give the corrected performed_at, a restriction, or both")
    result = ctx.app.service.correct(
        who.clinic_id,
        treatment_id,
        performed_at=to_utc(body.performed_at, who.zone, "at"),
        restriction=parse_length(body.restriction, field="restriction")
        if body.restriction
        else None,
        restriction_reason=body.restriction_reason,
        notify=body.notify,
        not_notified_reason=body.not_notified_reason,
        dry_run=body.dry_run,
    )
    treatment = treatment_public(result.treatment, who.zone)
    zone = treatment_zone(result.treatment, who.zone)
    return schemas.CorrectionPublic(
        treatment=treatment,
        kind=result.kind,
        correction=planned_step_public(result.correction, zone) if result.correction else None,
        notified=result.notified,
        not_notified_reason=result.not_notified_reason,
        dry_run=result.dry_run,
    )


@router.post(
    "/{treatment_id}/cancel",
    response_model=schemas.CancelPublic,
    responses={**BODY_ERRORS, **NOT_FOUND},
)
def cancel_treatment(
    treatment_id: TreatmentId,
    ctx: ContextDep,
    who: CallerDep,
    body: schemas.CancelRequest | None = None,
) -> schemas.CancelPublic:
    """Cancel every message not yet handed to a provider, recording the reason.

    With `error: true` (logged for the wrong patient), whoever received its messages is
    told to disregard them (`withdrawal`), unless `notify: false` with a reason.
    `dry_run: true` stores nothing.
    """
    request = body or schemas.CancelRequest()
    result = ctx.app.service.cancel(
        who.clinic_id,
        treatment_id,
        reason=request.reason,
        error=request.error,
        notify=request.notify,
        not_notified_reason=request.not_notified_reason,
        dry_run=request.dry_run,
    )
    treatment = ctx.app.service.treatment(who.clinic_id, treatment_id)
    zone = treatment_zone(treatment, who.zone)
    return schemas.CancelPublic(
        treatment=treatment_public(treatment, who.zone),
        cancelled_message_ids=result.cancelled,
        in_flight_message_ids=result.in_flight,
        withdrawal=planned_step_public(result.withdrawal, zone) if result.withdrawal else None,
        notified=result.notified,
        dry_run=result.dry_run,
    )
