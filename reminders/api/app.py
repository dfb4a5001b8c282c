"""`create_app`: the FastAPI application over an already-built service layer."""

from __future__ import annotations

import logging
import os
import sys

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError

from reminders.accounts import Accounts
from reminders.api.deps import ApiContext
from reminders.api.routes import alerts, health, policies, treatments, webhooks
from reminders.api.security import BodySizeLimit, RateLimiter
from reminders.bootstrap import App, build_app
from reminders.errors import ConflictError, InputError, NotFoundError
from reminders.settings import load_settings

log = logging.getLogger(__name__)

# Where each service-level input field lives in a request, for 422 `loc`.
FIELD_LOCATIONS: dict[str, tuple[str, ...]] = {
    "name": ("body", "patient", "name"),
    "phone": ("body", "patient", "phone"),
    "email": ("body", "patient", "email"),
    "sms_consent": ("body", "patient", "sms_consent"),
    "patient.sms_consent_at": ("body", "patient", "sms_consent_at"),
    "tz": ("body", "patient", "timezone"),
    "preview_tz": ("body", "timezone"),
    "treatment": ("body", "treatment_type"),
    "at": ("body", "performed_at"),
    "logged_at": ("body", "logged_at"),
    "performed_from": ("query", "performed_from"),
    "performed_to": ("query", "performed_to"),
    "phone_query": ("query", "phone"),
    "cursor": ("query", "cursor"),
    "by": ("body", "by"),
    "restriction": ("body", "restriction"),
    "restriction_reason": ("body", "restriction_reason"),
    "not_notified_reason": ("body", "not_notified_reason"),
}

DESCRIPTION = """
Log treatments and follow their aftercare messages.

Every request carries `Authorization: Bearer <key>` (create one with
`reminders apikey create --clinic <slug>`). A key sees only its own clinic:
another clinic's ids answer 404, as ids that do not exist.

Times: send ISO 8601 with an offset, or a local time that is read in the
clinic's time zone (a local time that a DST change skips or repeats is a 422).
Responses give instants in UTC and, as `*_local`, in the patient's or clinic's zone.
"""


def create_app(application: App, *, accounts: Accounts | None = None) -> FastAPI:
    settings = application.settings.api
    api = FastAPI(
        title="reminders",
        version="1",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "treatments", "description": "Log treatments and follow their messages."},
            {"name": "alerts", "description": "Patients to call; channels waiting on settings."},
            {"name": "policies", "description": "Aftercare policies and plan previews."},
            {"name": "health", "description": "Liveness and readiness."},
        ],
    )
    api.state.context = ApiContext(
        app=application,
        accounts=accounts or Accounts(sessions=application.sessions, clock=application.clock),
        limiter=RateLimiter(
            application.clock, per_minute=settings.rate_per_minute, burst=settings.rate_burst
        ),
    )
    api.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    api.include_router(treatments.router)
    api.include_router(alerts.router)
    api.include_router(policies.router)
    api.include_router(health.router)
    api.include_router(webhooks.router)
    _add_error_handlers(api)
    return api


def app_from_environment() -> FastAPI:
    """The API as each process of `reminders api --workers N` builds it, from settings.

    The parent has migrated the database (or found it current) before starting them.
    """
    application = build_app(load_settings(), upgrade=False)
    print(f"reminders: API process {os.getpid()} ready", file=sys.stderr, flush=True)
    return create_app(application)


def _add_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(InputError)
    async def _input(_request: Request, exc: InputError) -> JSONResponse:
        loc = list(FIELD_LOCATIONS.get(exc.field, ("body", exc.field)))
        detail = [{"loc": loc, "msg": exc.message, "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)

    @api.exception_handler(NotFoundError)
    async def _not_found(_request: Request, _exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": "not found"}, status_code=404)

    @api.exception_handler(ConflictError)
    async def _conflict(_request: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @api.exception_handler(OperationalError)
    async def _database_away(_request: Request, exc: OperationalError) -> JSONResponse:
        return _unavailable(exc)

    @api.exception_handler(DBAPIError)
    async def _database_error(_request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return _unavailable(exc)
        raise exc


def _unavailable(exc: DBAPIError) -> JSONResponse:
    log.warning("database unavailable", extra={"error": type(exc.orig).__name__})
    return JSONResponse(
        {"detail": "database unavailable, try again shortly"},
        status_code=503,
        headers={"Retry-After": "5"},
    )
