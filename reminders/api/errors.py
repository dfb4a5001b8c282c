"""Errors to HTTP answers, in one place: each names the field and never echoes the input.

A refused value is not sent back: it may not even be encodable (a lone surrogate, NaN)
and it is the caller's own. Nothing here logs a value either: refusals are logged by
their error type, and a crash by its exception types and frames (see `logs.py`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reminders.errors import ConflictError, InputError, NotFoundError
from reminders.logs import safe_traceback

log = logging.getLogger(__name__)

# Where each service-level input field lives in a request, for 422 `loc`.
FIELD_LOCATIONS: dict[str, tuple[str, ...]] = {
    "name": ("body", "patient", "name"),
    "from": ("query", "from"),  # the audit export's period
    "to": ("query", "to"),
    "phone": ("body", "patient", "phone"),
    "email": ("body", "patient", "email"),
    "email_instead.email": ("body", "email"),
    "sms_consent": ("body", "patient", "sms_consent"),
    "patient.sms_consent_at": ("body", "patient", "sms_consent_at"),
    "tz": ("body", "patient", "timezone"),
    "preview_tz": ("body", "timezone"),
    "treatment": ("body", "treatment_type"),
    "at": ("body", "performed_at"),
    "logged_at": ("body", "logged_at"),
    "performed_from": ("query", "performed_from"),
    "performed_to": ("query", "performed_to"),
    "phone_query": ("query", "phone"),
    "cursor": ("query", "cursor"),
    "by": ("body", "by"),
    "restriction": ("body", "restriction"),
    "restriction_reason": ("body", "restriction_reason"),
    "not_notified_reason": ("body", "not_notified_reason"),
}


def add_error_handlers(api: FastAPI) -> None:
    api.add_exception_handler(InputError, _input)
    api.add_exception_handler(RequestValidationError, _invalid)
    api.add_exception_handler(HTTPException, _http)
    api.add_exception_handler(NotFoundError, _not_found)
    api.add_exception_handler(ConflictError, _conflict)
    api.add_exception_handler(OperationalError, _database_away)
    api.add_exception_handler(DBAPIError, _database_error)


def refused(errors: Sequence[dict[str, Any]]) -> JSONResponse:
    """A 422 listing each error's `loc`, `msg` and `type`, made safe to encode."""
    detail = [
        {
            "loc": [encodable(p) if isinstance(p, str) else p for p in error["loc"]],
            "msg": encodable(str(error["msg"])),
            "type": str(error["type"]),
        }
        for error in errors
    ]
    kinds = ",".join(str(error["type"]) for error in errors)
    log.debug("request refused", extra={"errors": kinds})
    return JSONResponse({"detail": detail}, status_code=422)


def encodable(text: str) -> str:
    """`text` with anything UTF-8 cannot carry (lone surrogates) written as `\\udXXX`."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


async def _input(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InputError)
    loc = FIELD_LOCATIONS.get(exc.field, ("body", exc.field))
    return refused([{"loc": loc, "msg": exc.message, "type": "value_error"}])


async def _invalid(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # pydantic's `input` (the refused value, which may not even encode) is dropped, and so
    # is `ctx` (limits the message already states, or an exception object).
    errors = []
    for error in exc.errors():
        msg = error["msg"]
        if error["type"] == "json_invalid":
            msg = f"{msg}: {error.get('ctx', {}).get('error', 'not JSON')}"
        errors.append({"loc": error["loc"], "msg": msg, "type": error["type"]})
    return refused(errors)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI could not decode the body; say which field holds the bad bytes.
        loc = ["body", *undecodable_path(await request.body())]
        return refused([{"loc": loc, "msg": "is not valid UTF-8", "type": "unicode_error"}])
    return await http_exception_handler(request, exc)


async def _not_found(_request: Request, _exc: Exception) -> Response:
    return JSONResponse({"detail": "not found"}, status_code=404)


async def _conflict(_request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": encodable(str(exc))}, status_code=409)


async def _database_away(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OperationalError)
    return _unavailable(exc)


async def _database_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    if exc.connection_invalidated:
        return _unavailable(exc)
    raise exc


def _unavailable(exc: DBAPIError) -> JSONResponse:
    log.warning("database unavailable", extra={"error": type(exc.orig).__name__})
    return JSONResponse(
        {"detail": "database unavailable, try again shortly"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def undecodable_path(body: bytes) -> list[str | int]:
    """The path to the first JSON key or string in `body` that is not UTF-8; [] if none
    can be told (the body is not JSON even so)."""
    try:
        document = json.loads(body.decode("utf-8", "surrogateescape"))
    except (ValueError, RecursionError):
        return []
    for path, text in _strings(document):
        if any("\udc80" <= ch <= "\udcff" for ch in text):
            return [encodable(p) if isinstance(p, str) else p for p in path]
    return []


def _strings(document: object) -> Iterator[tuple[list[str | int], str]]:
    """Every key and string in a JSON document, with its path; iterative, so that deep
    nesting cannot exhaust the stack."""
    stack: list[tuple[list[str | int], object]] = [([], document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            yield path, value
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                yield [*path, key], key
                stack.append(([*path, key], item))
        elif isinstance(value, list):
            stack.extend(([*path, i], item) for i, item in reversed(list(enumerate(value))))


class ServerErrors:
    """Outermost: an unhandled exception becomes a 500 and one log line with the exception
    types and frames, never their text (a database error quotes the row it could not
    write; a validation error, the request). The server never sees the exception."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            route = scope.get("route")
            where = getattr(route, "path", None) or scope.get("path", "?")
            log.error("request failed: %s %s\n%s", scope["method"], where, safe_traceback(exc))
            if not started:
                await JSONResponse({"detail": "internal server error"}, 500)(scope, receive, send)
