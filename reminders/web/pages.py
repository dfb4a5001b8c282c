"""Templates and how a page is answered: `render`, the security headers, the error pages."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import Response

from reminders.web.presenters import staff_time

STATIC = Path(__file__).parent / "static"
STATIC_URL = "/static/web"

# No inline script or style anywhere (htmx is configured by a meta tag and attributes,
# and its injected indicator styles are turned off), so 'self' is all a page needs.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors, for browsers that predate it
}
# Pages hold patients' names: never kept by the browser or a proxy, so the back button
# after signing out asks the server again (and is sent to sign in).
PAGE_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-store"}


def templates() -> Environment:
    """The page templates: autoescaped, and an undefined name is an error, not a blank."""
    env = Environment(
        loader=PackageLoader("reminders.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = _static_url
    env.filters["staff_time"] = staff_time
    return env


def _static_url(name: str) -> str:
    """A static file's address, with its content's hash, so a new release is fetched anew."""
    return f"{STATIC_URL}/{name}?v={_version(name)}"


_VERSIONS: dict[str, str] = {}


def _version(name: str) -> str:
    if name not in _VERSIONS:
        _VERSIONS[name] = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
    return _VERSIONS[name]


def render(
    request: Request,
    template: str,
    values: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A page: `template` rendered with `values`, plus `request`, `staff` (the signed-in
    person, or None) and `csrf_token` (theirs, or the sign-in form's)."""
    staff = getattr(request.state, "signed_in", None)
    csrf = staff.csrf_token if staff else getattr(request.state, "form_csrf", "")
    context = {
        "request": request,
        "staff": staff,
        "csrf_token": csrf,
        "open_flag_count": _open_flag_count(request, staff, status_code),
        **(values or {}),
    }
    html = request.app.state.web.templates.get_template(template).render(context)
    return HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))


def _open_flag_count(request: Request, staff: Any, status_code: int) -> Callable[[], int]:
    """The nav's count of flagged replies waiting for staff, asked for only by a template
    that shows it; an error page (the database may be why) shows none."""
    if staff is None or status_code >= 400:
        return lambda: 0
    replies = request.app.state.web.app.replies
    return lambda: int(replies.open_flagged_count(staff.clinic_id))


def with_page_headers(response: Response) -> Response:
    for name, value in PAGE_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
