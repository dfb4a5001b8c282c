"""Errors in web routes as pages: 404, 403 (CSRF), 429, 500... never JSON, never details.

The API's handlers answer in JSON; a web route's errors never reach them: `WebRoute`
catches them here, around each web endpoint (its dependencies included).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlencode

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from reminders.errors import ConflictError, InputError, NotFoundError
from reminders.logs import safe_traceback
from reminders.web.auth import CsrfRefused, SignInRequired, local_path
from reminders.web.pages import render

log = logging.getLogger(__name__)

TITLES = {
    400: "The request could not be read",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed",
    409: "That cannot be done now",
    422: "Something in the form needs changing",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "The service is busy",
}


def error_response(request: Request, exc: Exception) -> Response:
    """The page (or redirect) for an exception raised in a web route."""
    if isinstance(exc, SignInRequired):
        return sign_in_first(request)
    if isinstance(exc, CsrfRefused):
        return form_expired(request)
    if isinstance(exc, NotFoundError):
        return error_page(request, 404)
    if isinstance(exc, HTTPException):
        return error_page(request, exc.status_code, headers=exc.headers)
    if isinstance(exc, RequestValidationError):
        # A path parameter that cannot be an id names no page; a bad form field is a 400.
        on_path = any(error["loc"][:1] == ("path",) for error in exc.errors())
        return error_page(request, 404 if on_path else 400)
    if isinstance(exc, InputError):
        return error_page(request, 422, detail=f"{exc.field}: {exc.message}")
    if isinstance(exc, ConflictError):
        # Its message says what clashed ("the treatment is cancelled..."), in the desk's words.
        return error_page(request, 409, detail=_sentence(str(exc)))
    if isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        log.warning("database unavailable", extra={"error": type(exc.orig).__name__})
        return error_page(request, 503, headers={"Retry-After": "5"})
    log.error("page failed: %s %s\n%s", request.method, _route(request), safe_traceback(exc))
    return error_page(request, 500)


def sign_in_first(request: Request) -> Response:
    """To the sign-in page, back here afterwards (for a GET): htmx is told with a header,
    as a redirect would be followed and its page swapped into a fragment."""
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = "/sign-in"
    if request.method == "GET" and local_path(path, default="") not in ("", "/today"):
        target = f"/sign-in?{urlencode({'next': path})}"
    if request.headers.get("HX-Request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def form_expired(request: Request) -> Response:
    return render(
        request,
        "errors/form_expired.html",
        {"title": "This form has expired"},
        status_code=403,
    )


def error_page(
    request: Request,
    status_code: int,
    *,
    detail: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    title = TITLES.get(status_code, "Something went wrong")
    template = "errors/404.html" if status_code == 404 else "errors/error.html"
    return render(
        request,
        template,
        {"title": title, "status_code": status_code, "detail": detail},
        status_code=status_code,
        headers=headers,
    )


def _sentence(text: str) -> str:
    return (text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")) if text else text


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", None) or request.url.path)
