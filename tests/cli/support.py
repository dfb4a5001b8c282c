"""Running a command in this process."""

from __future__ import annotations

import re
import traceback

from typer.testing import CliRunner, Result

from reminders.cli import app

FROZEN = "2026-11-27T19:00:00Z"  # 2:00 PM in New York

# A refusal's first line: `error: <field>: <message>`, or for an id that names nothing,
# `error: treatment 12 not found`.
REFUSAL = re.compile(r"error: (\S+: \S|(treatment|alert|reply) -?\d+ not found)")


def invoke(*args: str, input: str | None = None) -> Result:
    """The command's result, whatever it is; `input` is what the desk types."""
    return CliRunner().invoke(app, list(args), input=input)


def run(*args: str) -> str:
    """The command's output; it must succeed."""
    result = invoke(*args)
    assert result.exit_code == 0, describe(result)
    return result.output


def describe(result: Result) -> str:
    """What a test failure should show: the output, and the traceback if there was one."""
    crash = ""
    if result.exc_info is not None and not isinstance(result.exception, SystemExit):
        crash = "".join(traceback.format_exception(*result.exc_info))
    return (
        f"exit {result.exit_code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}{crash}"
    )


def assert_ends_cleanly(result: Result) -> None:
    """Exit 0, or exit 2 with one `error: <field>: ...` line first on stderr; never a crash."""
    assert result.exit_code in (0, 2), describe(result)
    assert result.exception is None or isinstance(result.exception, SystemExit), describe(result)
    assert "Traceback" not in result.output, describe(result)
    if result.exit_code == 2:
        assert REFUSAL.match(result.stderr), describe(result)


def refused(*args: str) -> str:
    """A clear refusal: exit 2, `error: <field>: ...` first on stderr, nothing on stdout;
    the refusal's first line."""
    result = invoke(*args)
    assert result.exit_code == 2, describe(result)
    assert_ends_cleanly(result)
    assert result.stdout == "", describe(result)
    return result.stderr.splitlines()[0]
