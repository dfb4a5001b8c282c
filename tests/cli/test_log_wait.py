"""`reminders log --wait`: the first message followed live, to delivered, to a problem with
what to do and email offered, or to the end of the wait; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from reminders import cli
from reminders.bootstrap import App, build_app
from reminders.channels.base import ChannelRegistry
from reminders.channels.console import ConsoleChannel
from reminders.domain import ChannelKind
from reminders.inbound import ProviderReports
from reminders.settings import load_settings
from tests.cli.support import describe, invoke
from tests.support import RecordingChannel

LOG = ("log", "Jane Doe", "--treatment", "botox", "--sms-consent", "--phone", "2125550199")


@pytest.fixture
def service(any_database: str) -> Iterator[App]:
    """The service as the worker's process would have it, on the command line's database."""
    application = build_app(load_settings())
    yield application
    application.close()


def running(
    application: App, channels: ChannelRegistry, after: Callable[[], None]
) -> Callable[[], None]:
    """A worker passing every 20 ms in a thread, calling `after` after each pass; returns
    what stops it."""
    sending = application.dispatcher(channels)
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(0.02):
            sending.dispatch_due()
            after()

    thread = threading.Thread(target=run)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join()

    return halt


@pytest.fixture
def console_worker(service: App, tmp_path: Path) -> Iterator[None]:
    console = ConsoleChannel(tmp_path / "outbox.log", stream=io.StringIO())
    halt = running(
        service,
        ChannelRegistry({ChannelKind.SMS: console, ChannelKind.EMAIL: console}),
        lambda: None,
    )
    yield
    halt()


@pytest.fixture
def wrong_number_worker(service: App) -> Iterator[RecordingChannel]:
    """Every text is reported undelivered, as a carrier does for a number it does not know."""
    channel = RecordingChannel()
    reports = ProviderReports(
        sessions=service.sessions,
        clock=service.clock,
        reroutes=service.reroutes,
        triage=service.triage,
    )
    reported: set[int] = set()

    def report() -> None:
        for index, outgoing in enumerate(list(channel.sent), start=1):
            if outgoing.kind is ChannelKind.SMS and outgoing.message_id not in reported:
                reported.add(outgoing.message_id)
                reports.delivery_status(
                    provider_id=f"rec-{outgoing.message_id}-{index}",
                    status="undelivered",
                    error_code="30005",
                )

    halt = running(service, channel.registry(), report)
    yield channel
    halt()


def steps(service: App) -> list[tuple[str, str, str]]:
    with service.sessions() as session:
        rows = session.execute(sa.text("SELECT step_id, channel, state FROM messages"))
        return sorted((str(a), str(b), str(c)) for a, b, c in rows)


def test_waiting_shows_the_first_text_delivered(console_worker: None) -> None:
    result = invoke(*LOG, "--wait", "--wait-seconds", "20")
    assert result.exit_code == 0, describe(result)
    following = result.stdout.split("First message, followed for up to 20 s:\n")[1]
    assert following.splitlines()[-1].split()[1:] == ["delivered", "✓", "text", "delivered"]


def test_an_undelivered_text_says_what_to_do_and_how_to_email_instead(
    wrong_number_worker: RecordingChannel, service: App
) -> None:
    result = invoke(*LOG, "--wait", "--wait-seconds", "20")
    assert result.exit_code == 3, describe(result)
    output = result.stdout
    assert "undelivered ✗" in output
    assert "text not delivered: the number is unknown to its carrier (a wrong number?)" in output
    assert "  - check the mobile number with the patient (it looks wrong)" in output
    assert "  - send the aftercare by email instead (ask the patient for an address)" in output
    assert "To send the aftercare by email instead: reminders email-instead 1 [--email" in output
    assert steps(service) == [("all_clear", "sms", "pending"), ("avoid", "sms", "sent")]


def test_at_a_terminal_the_desk_gives_an_address_and_the_aftercare_goes_by_email(
    wrong_number_worker: RecordingChannel, service: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    result = invoke(*LOG, "--wait", input="not an address\njane@example.com\n")
    assert result.exit_code == 3, describe(result)
    assert "Email address to send the aftercare to instead" in result.stdout
    assert "email:" in result.stdout  # the first answer refused, asked again
    assert "will go by email instead" in result.stdout
    # The running worker may already have sent the emails: their state is not the point.
    assert [
        (step, channel, "-" if channel == "email" else state)
        for step, channel, state in steps(service)
    ] == [
        ("all_clear", "email", "-"),
        ("all_clear", "sms", "cancelled"),
        ("avoid", "email", "-"),
        ("avoid", "sms", "sent"),
    ]


def test_declining_keeps_the_texts(
    wrong_number_worker: RecordingChannel, service: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    result = invoke(*LOG, "--wait", input="\n")
    assert result.exit_code == 3, describe(result)
    assert "Texts kept. Later, to send by email instead: reminders email-instead 1" in result.stdout
    assert steps(service) == [("all_clear", "sms", "pending"), ("avoid", "sms", "sent")]


def test_without_a_worker_the_wait_ends_with_a_hint(service: App) -> None:
    result = invoke(*LOG, "--wait", "--wait-seconds", "1")
    assert result.exit_code == 4, describe(result)
    assert "queued" in result.stdout
    assert "Still queued after 1 s: is the worker running" in " ".join(result.stdout.split())


def test_email_instead_on_its_own(service: App) -> None:
    assert invoke(*LOG).exit_code == 0
    refused = invoke("email-instead", "1")
    assert refused.exit_code == 2, describe(refused)
    assert refused.stderr.startswith("error: email: the patient has no email address")
    moved = invoke("email-instead", "1", "--email", "jane@example.com")
    assert moved.exit_code == 0, describe(moved)
    assert "2 message(s) will go by email instead" in moved.stdout
    assert steps(service) == [
        ("all_clear", "email", "pending"),
        ("all_clear", "sms", "cancelled"),
        ("avoid", "email", "pending"),
        ("avoid", "sms", "cancelled"),
    ]
