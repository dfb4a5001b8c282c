"""The `reminders` command, as a real process, prints what the database holds as text:
Rich markup in a name or reason as written, terminal escape sequences (colour, OSC 8
hyperlinks, BEL, C1 controls, bidirectional overrides) as visible escapes. On a terminal
the only escape sequences written are Rich's own colours."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.e2e.helpers import Result, logged_id, sqlite_url
from tests.e2e.test_cli import Cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

MARKUP = "Ann [/b] Markup [link=https://evil.example]click[/link]"
REASON = "moved [link=https://evil.example]click[/link] [bold red]"
# What a row written before names were checked (or by another writer) could hold.
ESCAPES = "\x1b[31mred\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \x07bell\u202eevil\x9b2J"
SHOWN = "\\x1b[31mred\\x1b]8;;http://x\\x1b\\link\\x1b]8;;\\x1b\\ \\x07bell\\u202eevil\\x9b2J"
RAW = ("\x1b", "\x07", "\x9b", "\u202e")
SGR = re.compile(r"\x1b\[[0-9;]*m")  # Rich's own colours and bold


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = Cli(tmp_path)
    cli.env["COLUMNS"] = "1000"  # every value on one line of its cell
    return cli


def _store_escapes(cli: Cli, treatment_id: int) -> None:
    engine = sa.create_engine(sqlite_url(cli.data_dir), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE patients SET name = name || ' ' || :e"), {"e": ESCAPES}
            )
            connection.execute(
                sa.text(
                    "UPDATE treatments SET cancel_reason = cancel_reason || ' ' || :e WHERE id = :i"
                ),
                {"e": ESCAPES, "i": treatment_id},
            )
    finally:
        engine.dispose()


def _assert_inert(result: Result) -> None:
    for stream in (result.stdout, result.stderr):
        for raw in RAW:
            assert raw not in stream, result.describe()


def test_show_and_list_print_stored_markup_and_escapes_as_text(cli: Cli) -> None:
    logged = cli.ok("log", MARKUP, "--treatment", "botox", "--sms-consent", "--phone", "2125550199")
    treatment_id = logged_id(logged)
    assert MARKUP in logged.stdout
    cli.ok("cancel", str(treatment_id), "--reason", REASON)
    _store_escapes(cli, treatment_id)

    shown = cli.ok("show", str(treatment_id))
    listing = cli.ok("list")

    for result in (shown, listing):
        _assert_inert(result)
        assert f"{MARKUP} {SHOWN}" in result.stdout, result.describe()
    assert f"cancelled: {REASON} {SHOWN}" in shown.stdout
    assert REASON in listing.stdout  # each cancelled message's reason


def test_on_a_terminal_no_hyperlink_or_escape_but_rich_s_colours_is_written(cli: Cli) -> None:
    treatment_id = logged_id(
        cli.ok("log", MARKUP, "--treatment", "botox", "--sms-consent", "--phone", "2125550199")
    )
    cli.ok("cancel", str(treatment_id), "--reason", REASON)
    _store_escapes(cli, treatment_id)
    cli.env = {k: v for k, v in cli.env.items() if k != "NO_COLOR"}
    cli.env.update({"FORCE_COLOR": "1", "TERM": "xterm-256color"})

    outputs = [cli.ok("show", str(treatment_id)).stdout, cli.ok("list").stdout]

    assert all(SGR.search(output) for output in outputs)  # it did take this for a terminal
    for output in outputs:
        assert "\x1b]" not in output  # no OSC: no hyperlink, no title
        text = SGR.sub("", output)
        for raw in RAW:
            assert raw not in text
        assert f"{MARKUP} {SHOWN}" in text


def test_a_name_with_escapes_typed_at_the_desk_is_never_echoed_raw(cli: Cli) -> None:
    name = f"Ann {ESCAPES}"
    logged = cli("log", name, "--treatment", "botox", "--sms-consent", "--phone", "2125550199")

    assert logged.returncode in (0, 2), logged.describe()
    assert "Traceback" not in logged.stderr
    _assert_inert(logged)
    if logged.returncode == 0:  # taken as typed: shown as text, like any stored name
        shown = cli.ok("show", str(logged_id(logged)))
        _assert_inert(shown)
        assert SHOWN in shown.stdout
    else:
        assert logged.stderr.startswith("error: name: "), logged.describe()
