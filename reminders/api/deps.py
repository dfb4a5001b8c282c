"""Request dependencies: the shared context, and the clinic a bearer key belongs to."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from reminders.accounts import Accounts
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
    clinic, prefix, label = found
    _refuse_if_waiting(ctx.limiter.acquire(prefix), "rate limit exceeded")
    return Caller(clinic, ZoneInfo(clinic.timezone), label)


def _refuse_if_waiting(wait: float | None, detail: str) -> None:
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail,
            headers={"Retry-After": retry_after_header(wait)},
        )


CallerDep = Annotated[Caller, Depends(caller)]
