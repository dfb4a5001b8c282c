"""The API's uvicorn server (`reminders.api.server`): deadlines for slow requests, the
access log without query strings. Each test runs a real server on a free loopback port
and talks to it over raw sockets, every wait bounded by a few seconds."""

from __future__ import annotations

import logging
import pickle
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from reminders.accounts import Accounts
from reminders.api.app import create_app
from reminders.api.server import GuardedHttpProtocol, RequestDeadlines, server_config
from reminders.bootstrap import App
from reminders.settings import ApiSettings

DEADLINES = RequestDeadlines(header_timeout=0.5, body_timeout=0.5, max_header_bytes=8 * 1024)
BOUND = 3.0  # seconds: far above the deadlines, far below the 30 s seen without them


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    """A minimal ASGI app: reads the whole body, answers with its length."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(app: Callable[..., object], deadlines: RequestDeadlines = DEADLINES) -> Iterator[int]:
    """A real server for `app` in a thread, on a free port; stopped when the block ends."""
    port = free_port()
    config = server_config(app, ApiSettings(port=port), deadlines=deadlines, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            assert thread.is_alive(), "server thread died"
            time.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive()


@contextmanager
def connection(port: int) -> Iterator[socket.socket]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
    try:
        yield sock
    finally:
        sock.close()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; fails if it keeps the socket past BOUND."""
    sock.settimeout(BOUND)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def timed(action: Callable[[], bytes]) -> tuple[bytes, float]:
    start = time.monotonic()
    result = action()
    return result, time.monotonic() - start


def test_half_a_request_line_gets_408_and_the_connection_is_closed() -> None:
    with serving(echo_length) as port, connection(port) as sock:
        sock.sendall(b"GET /hea")

        received, took = timed(lambda: read_until_closed(sock))

    assert received.startswith(b"HTTP/1.1 408 ")
    assert took < BOUND


def test_a_connection_that_sends_nothing_is_closed_without_an_answer() -> None:
    with serving(echo_length) as port, connection(port) as sock:
        received, took = timed(lambda: read_until_closed(sock))

    assert received == b""
    assert took < BOUND


def test_headers_trickled_a_byte_at_a_time_are_cut_off_at_the_deadline() -> None:
    # Each byte comes well inside the deadline: only a deadline for the whole headers stops it.
    request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    with serving(echo_length) as port, connection(port) as sock:
        start = time.monotonic()
        sent = 0
        try:
            for byte in request:
                sock.sendall(bytes([byte]))
                sent += 1
                time.sleep(0.05)
        except OSError:
            pass  # the server closed the connection: that is the point
        received = read_until_closed(sock)
        took = time.monotonic() - start

    assert sent < len(request)
    assert received.startswith(b"HTTP/1.1 408 ")
    assert took < BOUND


def test_a_declared_body_that_never_comes_gets_408() -> None:
    with serving(echo_length) as port, connection(port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")

        received, took = timed(lambda: read_until_closed(sock))

    assert received.startswith(b"HTTP/1.1 408 ")
    assert took < BOUND


def test_headers_over_the_size_limit_get_431() -> None:
    with serving(echo_length) as port, connection(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (16 * 1024))

        received = read_until_closed(sock)

    assert received.startswith(b"HTTP/1.1 431 ")


def test_a_request_within_the_deadlines_is_answered() -> None:
    with serving(echo_length) as port, connection(port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")

        response = sock.recv(65536)

    assert response.startswith(b"HTTP/1.1 200 ")
    assert response.endswith(b"\r\n\r\n5")


def test_a_kept_alive_connection_idle_longer_than_the_header_deadline_still_works() -> None:
    # Between requests only the keep-alive timeout (5 s) applies: the header deadline
    # starts again with the next request's first byte.
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with serving(echo_length) as port, connection(port) as sock:
        sock.sendall(request)
        first = sock.recv(65536)
        time.sleep(DEADLINES.header_timeout * 2)
        sock.sendall(request)
        second = sock.recv(65536)

    assert first.startswith(b"HTTP/1.1 200 ")
    assert second.startswith(b"HTTP/1.1 200 ")


def test_many_slow_clients_are_all_cut_off() -> None:
    with serving(echo_length) as port:
        sockets = [socket.create_connection(("127.0.0.1", port), timeout=BOUND) for _ in range(50)]
        try:
            for sock in sockets:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            start = time.monotonic()
            answers = [read_until_closed(sock) for sock in sockets]
            took = time.monotonic() - start
        finally:
            for sock in sockets:
                sock.close()

    assert len(answers) == 50
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers)
    assert took < BOUND


# -- the real API ----------------------------------------------------------------------


def test_the_api_sees_a_stalled_body_as_a_disconnect_and_logs_no_error(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    key = Accounts(sessions=app.sessions, clock=app.clock).create_key("default", label="t")
    head = (
        b"POST /v1/treatments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + key.key.encode() + b"\r\nContent-Length: 500\r\n\r\n"
    )
    with caplog.at_level(logging.INFO), serving(create_app(app)) as port:
        with connection(port) as sock:
            sock.sendall(head + b'{"patient": {"name": "Ja')
            received = read_until_closed(sock)
        time.sleep(0.2)  # the application's task sees the disconnect

    assert received.startswith(b"HTTP/1.1 408 ")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_access_log_has_the_path_without_the_query_string(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    key = Accounts(sessions=app.sessions, clock=app.clock).create_key("default", label="t")
    auth = b"Authorization: Bearer " + key.key.encode() + b"\r\n"
    request = b"GET /v1/treatments?phone=%2B12125550187 HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n"
    with caplog.at_level(logging.INFO), serving(create_app(app)) as port, connection(port) as sock:
        sock.sendall(request)
        response = sock.recv(65536)
        time.sleep(0.1)

    assert response.startswith(b"HTTP/1.1 200 ")
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert len(access) == 1
    assert access[0].endswith('"GET /v1/treatments HTTP/1.1" 200')
    assert "12125550187" not in caplog.text


def test_the_config_takes_host_and_port_from_the_settings_and_keeps_our_logging() -> None:
    config = server_config(echo_length, ApiSettings(host="127.0.0.2", port=8181))

    assert (config.host, config.port) == ("127.0.0.2", 8181)
    assert config.log_config is None
    assert config.access_log is True
    assert config.http is GuardedHttpProtocol
    assert config.deadlines == RequestDeadlines()


def test_the_config_for_several_processes_pickles_with_its_deadlines() -> None:
    # `reminders api --workers N` spawns processes: the config travels to them pickled.
    config = server_config(
        "reminders.api.app:app_from_environment",
        ApiSettings(),
        deadlines=DEADLINES,
        factory=True,
        workers=2,
    )

    copy = pickle.loads(pickle.dumps(config))  # noqa: S301 (our own object)

    assert copy.deadlines == DEADLINES
    assert copy.http is GuardedHttpProtocol
    assert copy.workers == 2
