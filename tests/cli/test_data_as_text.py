"""What the database holds is printed as text: Rich markup in a name or a reason is shown as
written, and escape sequences (colour, OSC 8 hyperlinks, BEL, C1 controls, bidirectional
overrides) as their escapes, never acted on by the terminal."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from freezegun import freeze_time
from sqlalchemy import update

from reminders.bootstrap import App, build_app, default_channels
from reminders.db.models import Alert, Message, MessageEvent, Patient, Treatment
from reminders.inbound import ProviderReports
from reminders.settings import load_settings
from tests.cli.support import FROZEN, describe, invoke, refused, run
from tests.support import log

MARKUP = "[/b][link=https://evil.example]click[/link][bold red]"
# As a row written before names were checked, or by another writer, could hold them: SGR,
# an OSC 8 hyperlink, BEL, a right-to-left override and a one-byte CSI.
ESCAPES = "\x1b[31mred\x1b]8;;http://x\x1b\\link \x07bell\u202eevil\x9b2J"
SHOWN = "\\x1b[31mred\\x1b]8;;http://x\\x1b\\link \\x07bell\\u202eevil\\x9b2J"
RAW = ("\x1b", "\x07", "\x9b", "\u202e")
PHONE, OTHER_PHONE = "+12125550199", "+12125550198"
SGR = re.compile(r"\x1b\[[0-9;]*m")  # Rich's own colours and bold, on a terminal


@dataclass(frozen=True)
class Stored:
    called: int  # a treatment whose patient stopped texts: an alert, a message sent
    cancelled: int  # a treatment cancelled with a reason


@pytest.fixture
def stored(any_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stored]:
    """Markup in names and a cancel reason as logged; escapes added as a row could hold them."""
    monkeypatch.setenv("COLUMNS", "1000")  # every value on one line
    with freeze_time(FROZEN):
        application = build_app(load_settings())
        called = log(application, name=f"Ann {MARKUP}", phone=PHONE, at=None)
        cancelled = log(application, name=f"Bob {MARKUP}", phone=OTHER_PHONE, at=None)
        application.dispatcher(default_channels(application.settings)).dispatch_due()
        _stop_texts(application)
        application.service.cancel(
            application.clinic.id, cancelled.id, reason=f"patient asked {MARKUP}"
        )
        _add_escapes(application, called.id, cancelled.id)
        yield Stored(called=called.id, cancelled=cancelled.id)
        application.close()


def _stop_texts(application: App) -> None:
    ProviderReports(
        sessions=application.sessions,
        clock=application.clock,
        reroutes=application.reroutes,
        triage=application.triage,
    ).inbound_text(from_phone=PHONE, to_sender="+12125550100", body="STOP", provider_id="SM1")


def _add_escapes(application: App, called: int, cancelled: int) -> None:
    with application.sessions.begin() as session:
        session.execute(update(Patient).values(name=Patient.name + " " + ESCAPES))
        session.execute(
            update(Treatment)
            .where(Treatment.id == cancelled)
            .values(cancel_reason=Treatment.cancel_reason + " " + ESCAPES)
        )
        session.execute(update(Alert).values(detail=f"call her {MARKUP} {ESCAPES}"))
        session.execute(
            update(Message)
            .where(Message.treatment_id == called, Message.state == "sent")
            .values(sent_body=f"Sent {MARKUP} {ESCAPES}")
        )
        session.execute(
            update(MessageEvent)
            .where(MessageEvent.kind == "sent")
            .values(detail=f"provider said {MARKUP} {ESCAPES}")
        )


def _assert_inert(output: str) -> None:
    """No character a terminal would act on, and no hyperlink."""
    for raw in RAW:
        assert raw not in output, f"{raw!r} in\n{output}"
    assert "\x1b]8" not in output


def test_show_prints_names_reasons_alerts_and_texts_as_written(stored: Stored) -> None:
    with freeze_time(FROZEN):
        called = run("show", str(stored.called))
        cancelled = run("show", str(stored.cancelled))

    _assert_inert(called + cancelled)
    assert f"patient Ann {MARKUP} {SHOWN} (+12125550199)" in called
    assert f"NEEDS A CALL (alert 1): call her {MARKUP} {SHOWN}" in called
    assert f"Sent {MARKUP} {SHOWN}" in called  # the message as sent, in its panel
    assert f"sent: provider said {MARKUP} {SHOWN}" in called  # its history
    assert f"patient Bob {MARKUP} {SHOWN} (+12125550198)" in cancelled
    assert f"cancelled: patient asked {MARKUP} {SHOWN}" in cancelled


def test_list_and_failures_print_names_reasons_and_alerts_as_written(stored: Stored) -> None:
    with freeze_time(FROZEN):
        listing = run("list")
        failures = run("failures")

    _assert_inert(listing + failures)
    assert f"Ann {MARKUP} {SHOWN}" in listing
    assert f"Bob {MARKUP} {SHOWN}" in listing
    assert f"patient asked {MARKUP}" in listing  # each cancelled message's reason
    assert f"Ann {MARKUP} {SHOWN}" in failures
    assert f"call her {MARKUP} {SHOWN}" in failures


def test_on_a_terminal_only_rich_s_own_colours_are_sent(
    stored: Stored, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    with freeze_time(FROZEN):
        outputs = [
            run("show", str(stored.called)),
            run("show", str(stored.cancelled)),
            run("list"),
            run("failures"),
        ]

    assert all(SGR.search(output) for output in outputs)  # it is styled: a terminal
    text = "".join(SGR.sub("", output) for output in outputs)
    _assert_inert(text)
    assert f"NEEDS A CALL (alert 1): call her {MARKUP} {SHOWN}" in text
    assert f"cancelled: patient asked {MARKUP} {SHOWN}" in text


def test_json_carries_the_stored_text_exactly(stored: Stored) -> None:
    with freeze_time(FROZEN):
        output = run("show", str(stored.called), "--json")

    _assert_inert(output)  # ASCII only: the escapes are JSON's own \u001b
    document = json.loads(output)
    assert document["patient"]["name"] == f"Ann {MARKUP} {ESCAPES}"
    assert document["alerts"][0]["detail"] == f"call her {MARKUP} {ESCAPES}"
    sent = [m for m in document["messages"] if m["state"] == "sent"]
    assert [m["sent_body"] for m in sent] == [f"Sent {MARKUP} {ESCAPES}"]


@pytest.mark.parametrize(
    "treatment",
    ["[/b]", "[link=https://evil.example]click[/link]", "[bold red]x"],
)
def test_an_error_quoting_what_was_typed_prints_it_as_written(
    env: dict[str, str], treatment: str
) -> None:
    line = refused(
        "log", "Jane Doe", "--treatment", treatment, "--phone", "2125550199", "--sms-consent"
    )
    assert line.startswith(f"error: treatment: unknown treatment type {treatment!r}")


def test_a_usage_error_prints_what_was_typed_as_written(env: dict[str, str]) -> None:
    result = invoke("list", "--days", "[/b]\x1b[31m")
    assert result.exit_code == 2, describe(result)
    _assert_inert(result.stderr)
    assert result.stderr.startswith("error: days: ")
