"""`create_app`: the FastAPI application over an already-built service layer."""

from __future__ import annotations

import os
import sys

from fastapi import FastAPI

from reminders.accounts import Accounts
from reminders.api.deps import ApiContext
from reminders.api.docs import add_docs
from reminders.api.errors import ServerErrors, add_error_handlers
from reminders.api.routes import (
    admin,
    alerts,
    audit,
    desk,
    health,
    metrics,
    policies,
    replies,
    treatments,
    webhooks,
)
from reminders.api.security import BodySizeLimit, TokenBuckets, failure_throttle
from reminders.bootstrap import App, build_app
from reminders.settings import load_settings
from reminders.web.app import add_web

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
            {"name": "replies", "description": "Patients' replies, flagged ones first."},
            {"name": "audit", "description": "Every message sent, skipped, failed or cancelled."},
            {"name": "policies", "description": "Aftercare policies and plan previews."},
            {"name": "health", "description": "Liveness and readiness."},
            {
                "name": "admin",
                "description": "The operator's: clinics listed, shown, changed, disabled and "
                "enabled, with the record of every change. Needs an admin key "
                "(`reminders apikey create --admin`); a clinic's key is refused.",
            },
        ],
        docs_url=None,
        redoc_url=None,
    )
    api.state.context = ApiContext(
        app=application,
        accounts=accounts or Accounts(sessions=application.sessions, clock=application.clock),
        limiter=TokenBuckets(
            application.clock, per_minute=settings.rate_per_minute, burst=settings.rate_burst
        ),
        failures=failure_throttle(application.clock),
    )
    api.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    api.add_middleware(ServerErrors)  # added last: the outermost
    api.include_router(treatments.router)
    api.include_router(desk.router)
    api.include_router(alerts.router)
    api.include_router(replies.router)
    api.include_router(audit.router)
    api.include_router(policies.router)
    api.include_router(health.router)
    api.include_router(admin.router)
    api.include_router(metrics.router)
    api.include_router(webhooks.router)
    add_docs(api)
    add_error_handlers(api)
    add_web(api, api.state.context)
    return api


def app_from_environment() -> FastAPI:
    """The API as each process of `reminders api --workers N` builds it, from settings.

    The parent has migrated the database (or found it current) before starting them.
    """
    application = build_app(load_settings(), upgrade=False)
    print(f"reminders: API process {os.getpid()} ready", file=sys.stderr, flush=True)
    return create_app(application)
