"""What every command module shares: the consoles, refusals as one `error:` line, JSON
output, and the application opened for the configured clinic or for `--clinic SLUG`.

Imported by `--help`: only Typer, Rich and our small value modules at the top; the
database and the settings are imported when a command opens the application.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from reminders import views
from reminders.errors import InputError, NotFoundError, ReminderError

if TYPE_CHECKING:
    from reminders.accounts import Accounts
    from reminders.bootstrap import App

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document, for scripts, instead of tables.")
]
ClinicOption = Annotated[
    str | None,
    typer.Option("--clinic", help="The clinic's slug (default: the configured clinic)."),
]


def group(help_text: str, **options: Any) -> typer.Typer:
    # Help in Click's plain layout: Typer's Rich layout first imports Rich's Markdown,
    # traceback and pretty-printing modules, 130 ms of CPU on a 2-core machine, which
    # would make `--help` take twice as long as everything else it does.
    return typer.Typer(no_args_is_help=True, rich_markup_mode=None, help=help_text, **options)


def out() -> Console:
    """stdout, as Rich sees it when the command runs (its width, whether it is a terminal)."""
    return Console()


def err() -> Console:
    return Console(stderr=True)


def print_error(message: str) -> None:
    # The message may hold what a person typed: printed as text, never as markup.
    err().print(Text.assemble(("error:", "red"), " ", views.visible(message)), soft_wrap=True)


@contextmanager
def errors_as_messages() -> Iterator[None]:
    try:
        yield
    except ReminderError as exc:
        print_error(str(exc))
        raise typer.Exit(2) from exc


def say(message: str, *, stderr: bool = False) -> None:
    """A line for the desk (on stdout, or stderr); what it quotes from the database, the
    settings or a person is shown as text."""
    (err() if stderr else out()).print(Text(views.visible(message)))


def print_json(document: views.Document) -> None:
    typer.echo(views.to_json(document))


@contextmanager
def open_app(clinic: str | None = None) -> Iterator[App]:
    """The application, acting for the clinic `clinic` names, or else the configured one
    (which costs no query: start-up has just synced it)."""
    from reminders.bootstrap import build_app
    from reminders.settings import load_settings

    with errors_as_messages():
        application = build_app(load_settings())
        try:
            if clinic is not None:
                application.clinic = clinic_by_slug(application, clinic)
            yield application
        finally:
            application.close()


def clinic_by_slug(application: App, text: str) -> Any:
    """The clinic a `--clinic` names; an unknown one is refused as the option's error."""
    wanted = slug(text)
    try:
        return accounts(application).clinic_by_slug(wanted)
    except NotFoundError as exc:
        raise InputError("clinic", f"no clinic {wanted!r}") from exc


def slug(text: str) -> str:
    """A clinic's slug to look up: text the database can be asked about (not, say, bytes of
    a command line that are not UTF-8)."""
    from reminders.inputs import clean_text

    return clean_text(text, field="clinic", longest=40)


def accounts(application: App) -> Accounts:
    from reminders.accounts import Accounts

    return Accounts(sessions=application.sessions, clock=application.clock)
