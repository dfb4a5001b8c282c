"""Twilio's webhooks: delivery status callbacks and inbound texts.

Every request must carry a valid X-Twilio-Signature, computed over the URL
Twilio called: the configured public base URL (what the public sees, behind
any TLS-terminating proxy), not the address this process listens on.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from reminders import metrics
from reminders.api.deps import ApiContext, ContextDep
from reminders.inbound import ProviderReports

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks/twilio", include_in_schema=False)


async def signed_form(request: Request, ctx: ContextDep) -> FormData:
    """The posted form, if Twilio signed it; 403 otherwise, before anything changes."""
    settings = ctx.app.settings.twilio
    token = settings.token()
    signature = request.headers.get("X-Twilio-Signature", "")
    form = await request.form()
    if not (token and settings.public_base_url and signature):
        log.warning("webhook refused: no signature or webhook settings")
        raise HTTPException(403, "forbidden")
    url = settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not RequestValidator(token).validate(url, form, signature):
        log.warning("webhook refused: bad signature")
        metrics.WEBHOOKS.labels(request.url.path.rsplit("/", 1)[-1], "bad_signature").inc()
        raise HTTPException(403, "forbidden")
    return form


SignedForm = Annotated[FormData, Depends(signed_form)]


def _reports(ctx: ApiContext) -> ProviderReports:
    return ctx.app.reports


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


@router.post("/status")
def delivery_status(form: SignedForm, ctx: ContextDep) -> Response:
    """A message's delivery status changed at Twilio (queued, sent, delivered, failed...)."""
    outcome = _reports(ctx).delivery_status(
        provider_id=_field(form, "MessageSid"),
        status=_field(form, "MessageStatus").lower(),
        error_code=_field(form, "ErrorCode") or None,
    )
    metrics.WEBHOOKS.labels("status", outcome.value).inc()
    return Response(status_code=204)


@router.post("/inbound")
def inbound_text(form: SignedForm, ctx: ContextDep) -> Response:
    """A patient texted us: STOP/START/HELP are handled; other replies are triaged, kept
    for staff and, if flagged, answered with the clinic's phone and sent to on-call."""
    result = _reports(ctx).inbound_text(
        from_phone=_field(form, "From"),
        to_sender=_field(form, "To"),
        body=_field(form, "Body"),
        provider_id=_field(form, "MessageSid") or None,
    )
    metrics.WEBHOOKS.labels("inbound", "answered" if result.reply else "kept").inc()
    twiml = MessagingResponse()
    if result.reply:
        twiml.message(result.reply)
    return Response(content=str(twiml), media_type="application/xml")
