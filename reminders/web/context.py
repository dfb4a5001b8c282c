"""What every web route is handed: the application, staff accounts, the throttle, templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from jinja2 import Environment

from reminders.api.security import TokenBuckets
from reminders.bootstrap import App
from reminders.staff import StaffAccounts


@dataclass
class WebContext:
    app: App
    staff: StaffAccounts
    failures: TokenBuckets  # the API's failed-authentication throttle, per client address
    templates: Environment


async def web_context(request: Request) -> WebContext:
    ctx = request.app.state.web
    assert isinstance(ctx, WebContext)
    return ctx


WebDep = Annotated[WebContext, Depends(web_context)]
