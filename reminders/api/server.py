"""uvicorn for the API: its `Config` from `ApiSettings`, with the deadlines uvicorn lacks.

uvicorn (0.54, httptools) bounds only the idle time between requests
(`timeout_keep_alive`, re-armed after each response and cancelled by any byte received).
Nothing bounds a request still arriving: a client that connects and sends nothing, or
half a request line, or headers one byte at a time, or a declared body it never sends,
holds its connection (a file descriptor, a protocol object, its buffers) for as long as it
likes, and enough such clients exhaust the process. h11's `h11_max_incomplete_event_size`
is a size bound for the h11 parser only, and no bound in time. So the protocol here adds:

  - headers: the request line and headers must be complete `header_timeout` seconds after
    the connection opens or, on a kept-alive connection, after the request's first byte;
  - body: the body must be complete `body_timeout` seconds after the headers (bodies are
    at most `max_body_bytes`, 64 KiB by default: seconds even on a poor mobile link);
  - size: request line and headers larger than `max_header_bytes` are refused (431).

A request that misses a deadline gets 408 and the connection is closed; an idle connection
that never sent a byte is just closed, as the keep-alive timeout does.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from reminders.logs import AccessPathOnly
from reminders.settings import ApiSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestDeadlines:
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    max_header_bytes: int = 64 * 1024


# uvicorn's default: long enough for a client to reuse its connection for the next call.
KEEP_ALIVE_SECONDS = 5


class ApiServerConfig(uvicorn.Config):
    """uvicorn's Config, carrying the request deadlines to each connection's protocol.

    A module-level class with plain attributes, so that it pickles into the processes of
    `reminders api --workers N` like uvicorn's own.
    """

    def __init__(self, app: Any, *, deadlines: RequestDeadlines, **kwargs: Any) -> None:
        super().__init__(app, http=GuardedHttpProtocol, **kwargs)
        self.deadlines = deadlines


def server_config(
    app: Any,
    settings: ApiSettings,
    *,
    deadlines: RequestDeadlines | None = None,
    log_config: dict[str, Any] | None = None,
    **uvicorn_options: Any,
) -> ApiServerConfig:
    """The uvicorn Config the API runs with: `app` is the ASGI app, or an import string
    (with `factory=True, workers=N` for several processes).

    Logging is ours (`log_config=None` keeps what `configure_logging` set up; worker
    processes are given `logging_config(level)`); the access log is on, paths only.
    """
    _access_log_without_queries()
    return ApiServerConfig(
        app,
        deadlines=deadlines or RequestDeadlines(),
        host=settings.host,
        port=settings.port,
        log_config=log_config,
        access_log=True,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        # No route takes a WebSocket; an upgrade would also hand the connection to a
        # protocol these deadlines do not cover.
        ws="none",
        **uvicorn_options,
    )


def _access_log_without_queries() -> None:
    # Also set by `logs.logging_config` on its handler: this covers any other log set-up.
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessPathOnly) for f in access.filters):
        access.addFilter(AccessPathOnly())


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines for receiving each request."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.deadlines = (
            config.deadlines if isinstance(config, ApiServerConfig) else RequestDeadlines()
        )
        self._deadline: asyncio.TimerHandle | None = None
        self._reading_headers = False
        self._header_bytes = 0
        self._received_any = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._start_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._received_any = True
        in_headers = self._reading_headers
        super().data_received(data)
        if in_headers and self._reading_headers:  # this chunk did not finish them
            self._header_bytes += len(data)
            if self._header_bytes > self.deadlines.max_header_bytes:
                self._refuse(431, "Request Header Fields Too Large", phase="headers")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._reading_headers:  # a kept-alive connection's next request
            self._start_headers()

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._cancel_deadline()
        self._arm(self.deadlines.body_timeout, "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        super().on_message_complete()

    def _start_headers(self) -> None:
        self._reading_headers = True
        self._header_bytes = 0
        if self._deadline is None:
            self._arm(self.deadlines.header_timeout, "headers")

    def _arm(self, seconds: float, phase: str) -> None:
        self._cancel_deadline()
        self._deadline = self.loop.call_later(seconds, self._expired, phase)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, phase: str) -> None:
        self._deadline = None
        if phase == "headers" and not self._received_any:
            self.transport.close()  # it never said anything: there is nothing to answer
        else:
            self._refuse(408, "Request Timeout", phase=phase)

    def _refuse(self, status: int, reason: str, *, phase: str) -> None:
        """Answer `status` where no other answer is owed or begun, then close."""
        self._cancel_deadline()
        if self.transport.is_closing():  # uvicorn already answered (a malformed request)
            return
        cycle = self.cycle
        if phase == "headers":  # a request still in flight (pipelined) is owed its answer
            can_answer = cycle is None or cycle.response_complete
        else:  # the request whose body is late, unless it was answered already
            can_answer = cycle is not None and not cycle.response_started
        if can_answer:
            text = reason.encode("ascii")
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (status, text, len(text), text)
            )
        if cycle is not None and not cycle.response_complete:
            # The application's next receive() is a disconnect; anything it sends is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "unknown"
        log.info("connection closed", extra={"status": status, "phase": phase, "client": client})
        self.transport.close()
