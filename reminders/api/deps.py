"""Request dependencies: the shared context, and the clinic a bearer key belongs to."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from reminders.accounts import Accounts, AdminHolder, KeyHolder
from reminders.api.security import TokenBuckets, client_address, retry_after_header
from reminders.bootstrap import App
from reminders.db.models import Clinic

log = logging.getLogger(__name__)


@dataclass
class ApiContext:
    app: App
    accounts: Accounts
    limiter: TokenBuckets  # requests per key
    failures: TokenBuckets  # failed authentications per client address


@dataclass(frozen=True)
class Caller:
    """The clinic a request acts for, as read when its key was checked."""

    clinic: Clinic
    zone: ZoneInfo
    key_label: str = ""  # the API key's label, recorded as who logged a treatment

    @property
    def clinic_id(self) -> int:
        return self.clinic.id


async def context(request: Request) -> ApiContext:
    # async: nothing here blocks, so it need not take a trip through the thread pool.
    ctx = request.app.state.context
    assert isinstance(ctx, ApiContext)
    return ctx


ContextDep = Annotated[ApiContext, Depends(context)]
_bearer = HTTPBearer(auto_error=False, description="An API key from `reminders apikey create`.")


def caller(
    ctx: ContextDep,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Authenticate the key, then charge it one request against its rate limit.

    A client address that has failed too often is refused before its key is looked up;
    only failures count, so one client's successes never lift another's throttle.
    """
    found = _authenticated(ctx, request, credentials)
    if isinstance(found, AdminHolder):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "an admin key manages clinics and acts for none: use a clinic's API key",
        )
    clinic, prefix, label = found
    if clinic.disabled_at is not None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"clinic {clinic.slug!r} is disabled: its API keys are refused",
        )
    _refuse_if_waiting(ctx.limiter.acquire(prefix), "rate limit exceeded")
    return Caller(clinic, ZoneInfo(clinic.timezone), label)


@dataclass(frozen=True)
class Admin:
    """The operator, by an admin key: manages clinics, acts for none."""

    key_label: str


def admin(
    ctx: ContextDep,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Admin:
    """An admin key, charged against its rate limit; a clinic's key is refused (403)."""
    found = _authenticated(ctx, request, credentials)
    if not isinstance(found, AdminHolder):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "a clinic's API key cannot manage clinics: use an admin key"
        )
    _refuse_if_waiting(ctx.limiter.acquire(found.prefix), "rate limit exceeded")
    return Admin(found.label)


def _authenticated(
    ctx: ApiContext, request: Request, credentials: HTTPAuthorizationCredentials | None
) -> KeyHolder | AdminHolder:
    """The live key's holder; 401 without one, 429 for an address failing too often."""
    address = client_address(request.client.host if request.client else None)
    _refuse_if_waiting(ctx.failures.wait(address), "too many failed authentications")
    found = ctx.accounts.authenticate(credentials.credentials) if credentials else None
    if found is None:
        ctx.failures.acquire(address)
        log.info(
            "authentication failed",
            extra={"client": address, "had_key": credentials is not None},
        )
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


def _refuse_if_waiting(wait: float | None, detail: str) -> None:
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail,
            headers={"Retry-After": retry_after_header(wait)},
        )


CallerDep = Annotated[Caller, Depends(caller)]
AdminDep = Annotated[Admin, Depends(admin)]
