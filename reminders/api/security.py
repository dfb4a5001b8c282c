"""Per-key rate limits, the failed-authentication throttle and the request body size limit."""

from __future__ import annotations

import ipaddress
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reminders.clock import Clock

# Failed authentications a client address may make: a burst, then this many a minute.
# A person mistyping a key stays well inside it; guessing keys at speed does not.
AUTH_FAILURES_PER_MINUTE = 10
AUTH_FAILURE_BURST = 10
# Addresses tracked at once; beyond it the one quiet longest is forgotten.
MAX_TRACKED_ADDRESSES = 10_000


@dataclass
class _Bucket:
    tokens: float
    at: datetime


class TokenBuckets:
    """A token bucket per key: `per_minute` sustained, bursts up to `burst`.

    Kept in process memory: with several API processes each enforces its own
    share, which bounds abuse without a round trip to the database per request.
    """

    def __init__(
        self, clock: Clock, *, per_minute: int, burst: int, max_keys: int | None = None
    ) -> None:
        self.clock = clock
        self.rate = per_minute / 60.0
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float | None:
        """Take one token; returns None, or the seconds to wait before retrying."""
        with self._lock:
            bucket = self._refilled(key)
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return None
            return self._wait(bucket)

    def wait(self, key: str) -> float | None:
        """None while `key` has a token left, else the seconds until it has one; takes none."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return None
            bucket = self._refilled(key)
            return None if bucket.tokens >= 1 else self._wait(bucket)

    def _refilled(self, key: str) -> _Bucket:
        now = self.clock.now()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            self._forget_the_quietest()
        else:
            self._buckets.move_to_end(key)
        elapsed = max((now - bucket.at).total_seconds(), 0.0)
        bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
        bucket.at = now
        return bucket

    def _wait(self, bucket: _Bucket) -> float:
        return (1 - bucket.tokens) / self.rate

    def _forget_the_quietest(self) -> None:
        # Many addresses (an IPv6-rotating client) must not grow memory without bound: the
        # bucket touched longest ago goes first, the one most likely to have refilled anyway.
        while self.max_keys is not None and len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)


def failure_throttle(clock: Clock) -> TokenBuckets:
    """Failed authentications per client address (see `client_address`)."""
    return TokenBuckets(
        clock,
        per_minute=AUTH_FAILURES_PER_MINUTE,
        burst=AUTH_FAILURE_BURST,
        max_keys=MAX_TRACKED_ADDRESSES,
    )


def client_address(host: str | None) -> str:
    """The key a client's failures are counted under: its IPv4 address, or its IPv6 /64.

    An IPv6 host is usually given a whole /64, so counting single addresses would let one
    client make 2**64 fresh starts. Behind a proxy this is the proxy's address.
    """
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


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
