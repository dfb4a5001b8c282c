"""`add_web`: the front desk's pages and their static files, on the API's application."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

from reminders.api.deps import ApiContext
from reminders.staff import StaffAccounts
from reminders.web.context import WebContext
from reminders.web.pages import SECURITY_HEADERS, STATIC, STATIC_URL, templates
from reminders.web.routes import changes, new_treatment, replies, session, timeline, today


class _StaticFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def add_web(api: FastAPI, context: ApiContext) -> None:
    """Serve the web page (unless `web.enabled` is off): its routes are left out of the
    OpenAPI schema, and it shares the API's failed-authentication throttle."""
    application = context.app
    if not application.settings.web.enabled:
        return
    api.state.web = WebContext(
        app=application,
        staff=StaffAccounts(
            sessions=application.sessions,
            clock=application.clock,
            settings=application.settings.web,
        ),
        failures=context.failures,
        templates=templates(),
    )
    api.mount(STATIC_URL, _StaticFiles(directory=STATIC), name="web-static")
    api.include_router(session.router)
    api.include_router(today.router)
    # Before the timeline's: `/treatments/new` is not a treatment id.
    api.include_router(new_treatment.router)
    api.include_router(timeline.router)
    api.include_router(changes.router)
    api.include_router(replies.router)
