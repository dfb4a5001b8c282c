"""Browser tests: the web page served by a real uvicorn on loopback, driven in Chromium.

`site` runs the API (with the web page) and a worker on the console channel, in threads of
this process, over a real database (a SQLite file, and PostgreSQL). `browser` is Debian's
`/usr/bin/chromium` driven by Playwright; Playwright's own browsers are never downloaded.
Without that binary these tests are skipped, except under REMINDERS_TEST_REQUIRE_BROWSER=1
(CI), where that is a failure.

Signing in from a test: `signed_in_page` is a page already signed in as `staff`; or
`sign_in(page, site, USERNAME)`; or, without a browser, `site.client(USERNAME)` gives an
httpx client holding a signed-in session cookie.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from reminders.api.app import create_app
from reminders.api.server import server_config
from reminders.bootstrap import App, build_app, default_channels
from reminders.settings import ApiSettings, Settings
from reminders.staff import StaffAccounts
from tests.conftest import make_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE_BROWSER = os.environ.get("REMINDERS_TEST_REQUIRE_BROWSER") == "1"
USERNAME = "ann@example.org"
NAME = "Ann Lee"
PASSWORD = "correct horse battery"
TIMEOUT_MS = 10_000
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ShiftedClock:
    """The wall clock, moved forward when a test says so: the worker's wake-ups follow real
    time, and a test can still step past a lock-out or a session's end."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        self._offset += delta


@dataclass
class Site:
    """The running page: its address, the application behind it and its clock."""

    url: str
    app: App
    clock: ShiftedClock
    staff: StaffAccounts
    _clients: list[httpx.Client] = field(default_factory=list)

    def add_staff(
        self,
        username: str = USERNAME,
        *,
        clinic: str | None = None,
        name: str = NAME,
        password: str = PASSWORD,
    ) -> int:
        return self.staff.add(
            clinic or self.app.clinic.slug, username, display_name=name, password=password
        )

    def client(self, username: str = USERNAME, password: str = PASSWORD) -> httpx.Client:
        """An httpx client signed in as `username` through the sign-in form."""
        client = httpx.Client(base_url=self.url, timeout=10)
        self._clients.append(client)
        form = client.get("/sign-in")
        token = _CSRF.search(form.text)
        assert token is not None, form.text
        done = client.post(
            "/sign-in",
            data={"username": username, "password": password, "csrf_token": token.group(1)},
        )
        assert done.status_code == 303, done.text
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()


@contextmanager
def running_site(tmp_path: Path, database_url: str) -> Iterator[Site]:
    """The API with its web page on a free loopback port, and a worker sending through the
    console channel (`<data dir>/outbox.log`), until the block ends."""
    settings = make_settings(tmp_path, database_url)
    clock = ShiftedClock()
    application = build_app(settings, clock=clock)
    worker = application.worker(default_channels(settings))
    port = free_port()
    server = uvicorn.Server(
        server_config(create_app(application), ApiSettings(port=port), lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    site = Site(f"http://127.0.0.1:{port}", application, clock, _staff(application, settings))
    try:
        _wait_until_started(server, thread)
        worker.start()
        yield site
    finally:
        site.close()
        server.should_exit = True
        thread.join(timeout=10)
        worker.stop()
        application.close()
    assert not thread.is_alive()


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[Site]:
    """The running site (see `running_site`), on each test database."""
    with running_site(tmp_path, database_url) as running:
        yield running


def _staff(application: App, settings: Settings) -> StaffAccounts:
    return StaffAccounts(
        sessions=application.sessions, clock=application.clock, settings=settings.web
    )


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        assert thread.is_alive(), "server thread died"
        time.sleep(0.01)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, launched once for the session."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not installed (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(f"browser required but {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _fresh_page(browser: Browser) -> Iterator[Page]:
    """A fresh page in a context of its own (no cookies), at a 1024 px wide window.

    The test fails if the page reports a script error or anything the Content-Security-
    Policy refused (an inline script or style): such a page may look right in a test and
    still be broken."""
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    opened.on("console", lambda message: problems.extend(_console_problem(message)))
    yield opened
    context.close()
    assert problems == []


def _console_problem(message: ConsoleMessage) -> list[str]:
    # A 4xx page (a refused sign-in is a 400) is reported as a failed load: not a problem.
    if message.type != "error" or message.text.startswith("Failed to load resource"):
        return []
    # htmx reports a poll cut short by leaving the page (the request is aborted, as it
    # should be) as an error; a failed answer is still caught as htmx:responseError.
    # So is a poll that finds the server stopped at the test's end (htmx:sendError).
    if message.text.startswith(("htmx:sendAbort", "htmx:afterRequest", "htmx:sendError")):
        return []
    return [f"console: {message.text}"]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in a context of its own (no cookies), at a 1024 px wide window."""
    yield from _fresh_page(browser)


@pytest.fixture
def other_page(browser: Browser) -> Iterator[Page]:
    """A second person's page: another context, sharing no cookies with `page`."""
    yield from _fresh_page(browser)


@pytest.fixture
def staff(site: Site) -> int:
    """A staff account at the site's clinic: USERNAME, NAME, PASSWORD."""
    return site.add_staff()


def sign_in(page: Page, site: Site, username: str = USERNAME, password: str = PASSWORD) -> None:
    """Fill in and send the sign-in form (ending wherever the site sends the page)."""
    page.goto(f"{site.url}/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


@pytest.fixture
def signed_in_page(page: Page, site: Site, staff: int) -> Page:
    """A page signed in as `staff`, on the today page."""
    sign_in(page, site)
    assert page.url == f"{site.url}/today"
    return page
