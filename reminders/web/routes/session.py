"""Signing in and out.

The sign-in form is protected from cross-site posts (login CSRF: a page elsewhere signing
a person in as someone else) by a short-lived session of its own: a row with no account,
whose token is the same `reminders_session` cookie and whose CSRF token the form carries.
A row rather than a signed token, because a signature would need a secret every API
process shares, and rather than a second, double-submit cookie, to keep one cookie with
nothing in it but a token. Signing in replaces that row with a new session (a new token),
so a token planted before sign-in is worth nothing after it.
"""

from __future__ import annotations

import logging
import math
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from reminders.api.security import client_address, retry_after_header
from reminders.staff import FormSession, SignInOutcome
from reminders.web.auth import (
    CsrfDep,
    clear_session_cookie,
    local_path,
    same_token,
    session_token,
    set_session_cookie,
)
from reminders.web.context import WebContext, WebDep
from reminders.web.pages import render
from reminders.web.routing import web_router

log = logging.getLogger(__name__)
router = web_router()

FormText = Annotated[str, Form(max_length=2000)]


@router.get("/sign-in")
def sign_in_form(request: Request, web: WebDep, next: str = "/today") -> Response:
    target = local_path(next)
    token = session_token(request)
    if token and web.staff.signed_in(token):
        return RedirectResponse(target, status_code=303)
    return _form(request, web, target)


@router.post("/sign-in")
def sign_in(
    request: Request,
    web: WebDep,
    username: FormText = "",
    password: FormText = "",
    csrf_token: FormText = "",
    next: FormText = "/today",
) -> Response:
    """Sign in, or say why not without telling whether the username exists."""
    target = local_path(next)
    address = client_address(request.client.host if request.client else None)
    wait = web.failures.wait(address)
    if wait is not None:
        return _too_many(request, web, target, wait)
    form = _form_session(request, web)
    if form is None or not same_token(csrf_token, form.csrf_token):
        return _form(request, web, target, status_code=403, problem="expired")
    result = web.staff.sign_in(username, password)
    if result.outcome is not SignInOutcome.SIGNED_IN or result.staff_id is None:
        web.failures.acquire(address)
        log.info(
            "sign-in refused",
            extra={"staff_id": result.staff_id, "outcome": str(result.outcome), "client": address},
        )
        problem = "disabled" if result.outcome is SignInOutcome.DISABLED else "refused"
        request.state.form_csrf = form.csrf_token
        return _page(request, web, target, username=username, problem=problem, status_code=400)
    new = web.staff.start_session(result.staff_id, replacing=form.id)
    log.info("staff signed in", extra={"staff_id": result.staff_id, "session_id": new.id})
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, new.token)
    return response


@router.post("/sign-out")
def sign_out(request: Request, web: WebDep, staff: CsrfDep) -> Response:
    web.staff.end_session(staff.session_id)
    log.info("staff signed out", extra={"staff_id": staff.staff_id})
    response = RedirectResponse("/sign-in", status_code=303)
    clear_session_cookie(request, response)
    return response


def _form_session(request: Request, web: WebContext) -> FormSession | None:
    token = session_token(request)
    return web.staff.form_session(token) if token else None


def _form(
    request: Request,
    web: WebContext,
    target: str,
    *,
    status_code: int = 200,
    problem: str | None = None,
) -> Response:
    """The sign-in form, in its own session: the one the cookie names, or a new one."""
    form = _form_session(request, web)
    token = None
    if form is None:
        new = web.staff.start_form_session()
        form, token = FormSession(new.id, new.csrf_token), new.token
    request.state.form_csrf = form.csrf_token
    response = _page(request, web, target, problem=problem, status_code=status_code)
    if token is not None:
        set_session_cookie(request, response, token)
    return response


def _too_many(request: Request, web: WebContext, target: str, wait: float) -> Response:
    form = _form_session(request, web)
    request.state.form_csrf = form.csrf_token if form else ""
    return _page(
        request,
        web,
        target,
        problem="throttled",
        minutes=max(1, math.ceil(wait / 60)),
        status_code=429,
        headers={"Retry-After": retry_after_header(wait)},
    )


def _page(
    request: Request,
    web: WebContext,
    target: str,
    *,
    username: str = "",
    problem: str | None = None,
    minutes: int = 0,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    settings = web.app.settings.web
    return render(
        request,
        "sign_in.html",
        {
            "title": "Sign in",
            "next": target,
            "username": username,
            "problem": problem,
            "wait_minutes": minutes,
            "lockout_attempts": settings.lockout_attempts,
            "lockout_minutes": math.ceil(settings.lockout_minutes),
        },
        status_code=status_code,
        headers=headers,
    )
