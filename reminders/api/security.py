"""API key authentication, per-key rate limiting and the request body size limit."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reminders.clock import Clock


@dataclass
class _Bucket:
    tokens: float
    at: datetime


class RateLimiter:
    """A token bucket per key: `per_minute` sustained, bursts up to `burst`.

    Kept in process memory: with several API processes each enforces its own
    share, which bounds abuse without a round trip to the database per request.
    """

    def __init__(self, clock: Clock, *, per_minute: int, burst: int) -> None:
        self.clock = clock
        self.rate = per_minute / 60.0
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float | None:
        """Take one request's token; returns None, or the seconds to wait before retrying."""
        now = self.clock.now()
        with self._lock:
            bucket = self._buckets.get(key) or _Bucket(float(self.burst), now)
            elapsed = max((now - bucket.at).total_seconds(), 0.0)
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
            bucket.at = now
            self._buckets[key] = bucket
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return None
            return (1 - bucket.tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


class BodySizeLimit:
    """Refuses request bodies over `max_bytes` with 413, before any handler reads them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _too_large(send)


class _BodyTooLarge(HTTPException):
    # An HTTPException, so FastAPI's body reader passes it on instead of
    # turning it into a 400 "error parsing the body".
    def __init__(self) -> None:
        super().__init__(413, "request body too large")


async def _too_large(send: Send) -> None:
    body = b'{"detail":"request body too large"}'
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
