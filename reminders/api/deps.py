"""Request dependencies: the shared context, and the clinic a bearer key belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from reminders.accounts import Accounts
from reminders.api.security import RateLimiter, retry_after_header
from reminders.bootstrap import App
from reminders.db.models import Clinic


@dataclass
class ApiContext:
    app: App
    accounts: Accounts
    limiter: RateLimiter


@dataclass(frozen=True)
class Caller:
    """The clinic a request acts for, as read when its key was checked."""

    clinic: Clinic
    zone: ZoneInfo

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
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Authenticate the key, then charge it one request against its rate limit."""
    found = ctx.accounts.authenticate(credentials.credentials) if credentials else None
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    clinic, prefix = found
    wait = ctx.limiter.acquire(prefix)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "rate limit exceeded",
            headers={"Retry-After": retry_after_header(wait)},
        )
    return Caller(clinic, ZoneInfo(clinic.timezone))


CallerDep = Annotated[Caller, Depends(caller)]
