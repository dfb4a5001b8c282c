"""Who is signed in, and the CSRF check every state-changing form post makes.

The interface the pages use:
  - `StaffDep`: the signed-in person (`SignedIn`). Without a live session a GET is
    redirected (303) to `/sign-in?next=<path>`; an htmx request gets 401 with
    `HX-Redirect`, so htmx sends the whole page to sign-in rather than swapping a form
    into a fragment.
  - `CsrfDep`: the same person, once the request's `csrf_token` form field or
    `X-CSRF-Token` header matches their session's token; otherwise 403 ("the form
    expired"). Every POST that changes anything takes this instead of `StaffDep`.

The session cookie holds only a random token. SameSite=Lax rather than Strict: Strict
withholds the cookie when a person follows a link to the page from elsewhere (an email,
the clinic's intranet), so they would seem signed out on arriving; Lax still withholds it
from other sites' POSTs, and the CSRF token stops those in any case.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from starlette.responses import Response

from reminders.web.context import WebDep

COOKIE = "reminders_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Tokens are 43 characters: anything much longer is not one, and is not looked up.
LONGEST_TOKEN = 100


@dataclass(frozen=True)
class SignedIn:
    """The person a request acts for, as read from their session."""

    staff_id: int
    clinic_id: int
    username: str
    display_name: str
    csrf_token: str
    session_id: int
    clinic_name: str
    clinic_timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic_timezone)


class SignInRequired(Exception):
    """No live session: the person is sent to sign in."""


class CsrfRefused(Exception):
    """A form post whose CSRF token is missing or not its session's."""


def session_token(request: Request) -> str | None:
    token = request.cookies.get(COOKIE)
    return token if token and len(token) <= LONGEST_TOKEN else None


def signed_in(request: Request, web: WebDep) -> SignedIn:
    token = session_token(request)
    found = web.staff.signed_in(token) if token else None
    if found is None:
        raise SignInRequired
    staff = SignedIn(
        staff_id=found.staff_id,
        clinic_id=found.clinic_id,
        username=found.username,
        display_name=found.display_name,
        csrf_token=found.csrf_token,
        session_id=found.id,
        clinic_name=found.clinic_name,
        clinic_timezone=found.clinic_timezone,
    )
    request.state.signed_in = staff  # for `render`: the nav, and the CSRF field
    return staff


StaffDep = Annotated[SignedIn, Depends(signed_in)]


async def checked_post(request: Request, staff: StaffDep) -> SignedIn:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not same_token(sent, staff.csrf_token):
        raise CsrfRefused
    return staff


CsrfDep = Annotated[SignedIn, Depends(checked_post)]


def same_token(sent: str | None, expected: str) -> bool:
    # Compared as bytes: compare_digest refuses a str with non-ASCII characters.
    return bool(sent) and hmac.compare_digest(str(sent).encode(), expected.encode())


def local_path(target: str | None, default: str = "/today") -> str:
    """`target` if it is a path on this site (for `?next=`), else `default`.

    `//evil.example` and `/\\evil.example` are other sites to a browser, and a scheme or a
    host makes any address another site's.
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ch in target for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """The session cookie: no Max-Age, so it ends with the browser too; Secure over https
    (behind a TLS proxy, uvicorn's proxy headers tell the scheme)."""
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/"
    )
