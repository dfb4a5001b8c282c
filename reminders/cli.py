"""The `reminders` command: parse, call the service, print.

A command pays for what it imports, and `--help` imports this module alone: what a
command needs beyond Typer, Rich and our small value modules (the database, the
settings, input parsing, the worker, the API) is imported in its body.
"""

from __future__ import annotations

import functools
import logging
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text
from typer._click import Context  # Typer vendors Click: its context and usage errors are here
from typer._click.exceptions import (
    BadOptionUsage,
    BadParameter,
    MissingParameter,
    NoArgsIsHelpError,
    NoSuchOption,
    UsageError,
)
from typer.core import TyperGroup

from reminders import views
from reminders.cli_base import ClinicOption, JsonOption, err, out
from reminders.cli_base import accounts as _accounts
from reminders.cli_base import errors_as_messages as _errors_as_messages
from reminders.cli_base import group as _group
from reminders.cli_base import open_app as _app
from reminders.cli_base import print_error as _print_error
from reminders.cli_base import print_json as _print_json
from reminders.cli_base import say as _say
from reminders.cli_base import slug as _slug
from reminders.clinic_cli import clinic_app
from reminders.domain import ChannelKind, PatientProfile
from reminders.errors import InputError, ReminderError

if TYPE_CHECKING:
    from reminders.bootstrap import App
    from reminders.planning import PlannedStep
    from reminders.settings import ClinicSettings
    from reminders.staff import StaffAccounts
    from reminders.worker import Worker

# Ids are 32-bit in the schema: larger ones cannot exist and must not reach the database.
MAX_ID = 2**31 - 1
# How far from today a hypothetical treatment may be (as in the API's preview): far enough
# for any real question, near enough that every planned time stays inside the calendar.
PREVIEW_SPAN = timedelta(days=10 * 366)
LONGEST_LABEL = 80  # an API key's label, as stored


class _Commands(TyperGroup):
    """Typer's command group, refusing a bad or missing option as every other refusal is
    made: one `error: <field>: <message>` line on stderr and exit 2, not Click's box."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        with _usage_errors_as_messages():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: Context) -> Any:
        # A subcommand's options are parsed and converted within its group's invoke.
        with _usage_errors_as_messages():
            return super().invoke(ctx)


@contextmanager
def _usage_errors_as_messages() -> Iterator[None]:
    try:
        yield
    except NoArgsIsHelpError:
        raise  # not an error: the command's help
    except UsageError as exc:
        _print_error(f"{_usage_field(exc)}: {_usage_message(exc)}")
        if exc.ctx is not None:
            err().print(Text(f"Try '{exc.ctx.command_path} --help' for help."), soft_wrap=True)
        raise typer.Exit(2) from exc


def _usage_field(exc: UsageError) -> str:
    """The option (`at`, `patient-tz`) or argument (`treatment_id`) a usage error is about."""
    if isinstance(exc, BadParameter) and exc.param is not None:
        names = exc.param.opts or [exc.param.name or "argument"]
        return max(names, key=len).lstrip("-")
    if isinstance(exc, NoSuchOption):
        return exc.option_name  # as typed: `-5` is not an option, nor a `5`
    if isinstance(exc, BadOptionUsage):
        return exc.option_name.lstrip("-")
    if exc.ctx is not None and isinstance(exc.ctx.command, TyperGroup):
        return "command"
    return "arguments"


def _usage_message(exc: UsageError) -> str:
    if isinstance(exc, MissingParameter):
        return "is required"
    if isinstance(exc, BadParameter):
        return exc.message
    if isinstance(exc, NoSuchOption):
        return "no such option" + (
            f" (did you mean {', '.join(exc.possibilities)}?)" if exc.possibilities else ""
        )
    return exc.format_message()


app = _group("Post-treatment aftercare reminders.", cls=_Commands)
policies_app = _group("Aftercare policies.")
apikey_app = _group("API keys: a clinic's, or the operator's admin keys.")
staff_app = _group("Staff accounts for the web page.")
budget_app = _group("A clinic's monthly SMS budget: this month's use; letting held texts go.")
db_app = _group("Database schema.")
app.add_typer(policies_app, name="policies")
app.add_typer(db_app, name="db")
app.add_typer(clinic_app, name="clinic")
app.add_typer(apikey_app, name="apikey")
app.add_typer(budget_app, name="budget")
# `reminders replies` lists; its subcommands act on one reply.
replies_app = typer.Typer(
    rich_markup_mode=None,
    invoke_without_command=True,
    help="Patients' replies: flagged ones first, until staff acknowledge them.",
)
app.add_typer(replies_app, name="replies")
app.add_typer(staff_app, name="staff")


TzOption = Annotated[
    str | None,
    typer.Option("--tz", help="IANA time zone for --at without an offset (default: the clinic's)."),
]
TreatmentId = Annotated[int, typer.Argument(min=1, max=MAX_ID, help="The treatment's number.")]


def _when(text: str | None, tz: str | None, application: App, field: str = "at") -> datetime | None:
    if text is None:
        return None
    from reminders.inputs import parse_when, parse_zone

    zone = parse_zone(tz) if tz else application.clinic_zone
    return parse_when(text, zone=zone, field=field)


LogLevel = Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")]


def _worker(application: App) -> Worker:
    from reminders.bootstrap import default_channels

    channels = default_channels(application.settings)
    _say(
        f"reminders: clinic {application.clinic.name!r}, database "
        f"{application.engine.url.render_as_string(hide_password=True)}, "
        f"channels {channels.describe()}",
        stderr=True,
    )
    return application.worker(channels)


def _run_api(application: App, on_listening: Callable[[], None] = lambda: None) -> None:
    import uvicorn  # deferred: only the API commands need it

    from reminders.api.app import create_app
    from reminders.api.server import server_config

    settings = application.settings.api

    class Server(uvicorn.Server):
        """uvicorn's server, calling back once it accepts connections."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                on_listening()
                _say(
                    f"reminders: API on http://{settings.host}:{settings.port}/docs; "
                    "Ctrl-C to stop",
                    stderr=True,
                )

    server = Server(server_config(create_app(application), settings))
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal
    # again for the handler it found; ours ignores it so the worker can stop
    # cleanly too and the process exits 0.
    previous = {sig: signal.signal(sig, _ignore_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore_signal(signum: int, _frame: FrameType | None) -> None:
    logging.getLogger(__name__).info("stopping on signal", extra={"signal": signum})


@app.command()
def serve(log_level: LogLevel = "INFO") -> None:
    """Run the HTTP API and the worker together (the embedded default), until Ctrl-C or SIGTERM."""
    from reminders.logs import configure_logging

    configure_logging(log_level)
    with _app() as application:
        worker = _worker(application)
        try:
            # Sending starts once the API listens: Twilio's first status callbacks
            # (to the API) can then never be refused.
            _run_api(application, on_listening=worker.start)  # returns after SIGTERM or Ctrl-C
        finally:
            worker.stop()


@app.command("worker")
def run_worker(
    log_level: LogLevel = "INFO",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Serve /metrics on this port (0: off; default worker.metrics_port).",
        ),
    ] = None,
) -> None:
    """Run only the worker: send each message at its due time until Ctrl-C or SIGTERM."""
    from reminders.logs import configure_logging

    configure_logging(log_level)
    with _app() as application:
        worker = _worker(application)
        port = application.settings.worker.metrics_port if metrics_port is None else metrics_port
        if port:
            from reminders.metrics import serve_metrics

            host = application.settings.worker.metrics_host
            try:
                serve_metrics(application.sessions, application.clock, host=host, port=port)
                _say(f"reminders: worker metrics on http://{host}:{port}/metrics", stderr=True)
            except OSError as exc:
                # Sending matters more than being watched: warn, and send anyway.
                _say(f"reminders: worker metrics not served on {host}:{port}: {exc}", stderr=True)
        _say("reminders: worker running; Ctrl-C to stop", stderr=True)
        worker.run_until_signalled()


@app.command("api")
def run_api(
    log_level: LogLevel = "INFO",
    workers: Annotated[
        int,
        typer.Option(min=1, max=64, help="Processes serving the port; each has its own limits."),
    ] = 1,
) -> None:
    """Run only the HTTP API (several may share one database); it never sends messages."""
    from reminders.logs import configure_logging

    configure_logging(log_level)
    with _app() as application:
        if workers == 1:
            _run_api(application)
        else:
            _run_api_processes(application, workers, log_level)


def _run_api_processes(application: App, workers: int, log_level: str) -> None:
    """uvicorn's supervisor: `workers` processes accept on one socket, each with its own app."""
    from uvicorn.supervisors import Multiprocess

    from reminders.api.server import server_config
    from reminders.logs import logging_config

    settings = application.settings.api
    config = server_config(
        "reminders.api.app:app_from_environment",
        settings,
        factory=True,
        workers=workers,
        log_config=logging_config(log_level),
    )
    _say(
        f"reminders: API on http://{settings.host}:{settings.port}/docs, {workers} processes; "
        "Ctrl-C to stop",
        stderr=True,
    )
    # The supervisor handles SIGTERM and Ctrl-C itself: it stops the processes, then returns.
    Multiprocess(config, sockets=[config.bind_socket()]).run()


@app.command("log")
def log_treatment(
    name: Annotated[str, typer.Argument(help="Patient's full name.")],
    treatment: Annotated[str, typer.Option(help="Treatment type, e.g. botox.")],
    phone: Annotated[str | None, typer.Option(help="Mobile number (national or +E.164).")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    at: Annotated[str | None, typer.Option(help="Treatment time (default: now).")] = None,
    tz: TzOption = None,
    channel: Annotated[ChannelKind | None, typer.Option(help="Preferred channel.")] = None,
    sms_consent: Annotated[
        bool, typer.Option("--sms-consent", help="The patient has agreed to texts (recorded now).")
    ] = False,
    patient_tz: Annotated[
        str | None, typer.Option(help="Patient's time zone, if not the clinic's.")
    ] = None,
    restriction: Annotated[
        str | None,
        typer.Option(help="This patient's restriction length, if not the clinic's (e.g. 6h)."),
    ] = None,
    restriction_reason: Annotated[
        str | None, typer.Option(help="Why this patient's restriction differs.")
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Follow the first message until it is delivered or has a problem (with "
            "what to do, and email instead offered). Exit 3: it did not arrive; 4: no word "
            "within --wait-seconds.",
        ),
    ] = False,
    wait_seconds: Annotated[
        float, typer.Option(min=1, max=600, help="How long --wait follows it.")
    ] = 60,
    clinic: ClinicOption = None,
) -> None:
    """Log a treatment and plan its aftercare messages."""
    from reminders.actors import cli_actor
    from reminders.inputs import parse_length, parse_zone
    from reminders.intake import TreatmentInput
    from reminders.patients import PatientInput

    with _app(clinic) as application:
        request = TreatmentInput(
            patient=PatientInput(
                name=name,
                phone=phone,
                email=email,
                preferred_channel=channel,
                timezone=parse_zone(patient_tz, field="patient-tz") if patient_tz else None,
                sms_consent_at=application.clock.now() if sms_consent else None,
            ),
            treatment_type=treatment,
            performed_at=_when(at, tz, application),
            restriction=parse_length(restriction, field="restriction") if restriction else None,
            restriction_reason=restriction_reason,
            logged_by=cli_actor(),
        )
        logged = application.service.log_treatment(application.clinic.id, request)
        _say(f"Logged treatment {logged.id}.")
        out().print(views.treatment_view(logged, application.zone_for(logged)))
        if wait:
            outcome = _follow_first_message(application, logged.id, wait_seconds)
            if outcome:
                raise typer.Exit(int(outcome))


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="A CSV export: one treatment a row, a header.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and report; store nothing.")
    ] = False,
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="Log the good rows; report the others.")
    ] = False,
    ignore_unknown_columns: Annotated[
        bool, typer.Option("--ignore-unknown-columns", help="Skip columns no field matches.")
    ] = False,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", metavar="COLUMN=FIELD", help="Read a column as a field."),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress", help="A progress bar even when not at a terminal.")
    ] = False,
    as_json: JsonOption = False,
    clinic: ClinicOption = None,
) -> None:
    """Import a day's treatments from a CSV file. All or nothing unless --skip-bad-rows;
    rows already imported are not logged again. Exit 1 if any row has a problem."""
    from reminders.import_cli import run_import

    with _app(clinic) as application:
        report = run_import(
            application,
            file,
            mapping=mapping or [],
            ignore_unknown=ignore_unknown_columns,
            dry_run=dry_run,
            skip_bad_rows=skip_bad_rows,
            progress=progress or out().is_terminal,
            as_json=as_json,
        )
    if report.failed:
        raise typer.Exit(1)


@app.command("audit")
def audit_export(
    first: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD), clinic-local.")],
    last: Annotated[str, typer.Option("--to", help="Last day, included.")],
    clinic: ClinicOption = None,
    export_format: Annotated[
        str, typer.Option("--format", help="csv, jsonl (a line per message) or json.")
    ] = "csv",
    output: Annotated[
        Path | None, typer.Option(help="Write to this file (default: stdout).")
    ] = None,
) -> None:
    """Every message sent, skipped, failed or cancelled in a period, with its exact text,
    the address it went to and who logged the treatment."""
    from reminders.audit_cli import run_audit

    with _app(clinic) as application:
        run_audit(
            application,
            first=first,
            last=last,
            export_format=export_format,
            output=output,
        )


def _follow_first_message(application: App, treatment_id: int, seconds: float) -> int:
    from reminders.desk_terminal import EmailOffer, watch

    zone = application.clinic_zone
    interactive = _interactive()
    offer = (
        EmailOffer(
            confirm=lambda question: typer.confirm(question, default=True),
            prompt=lambda question: str(typer.prompt(question, default="", show_default=False)),
        )
        if interactive
        else None
    )
    return watch(
        application.desk,
        clinic_id=application.clinic.id,
        treatment_id=treatment_id,
        seconds=seconds,
        zone=zone,
        console=out(),
        offer=offer,
        now_text=lambda: f"{application.clock.now().astimezone(zone):%H:%M:%S}",
    )


def _usage(field: str, message: str) -> typer.Exit:
    """A refusal before anything is opened: the `error:` line, exit 2."""
    _print_error(f"{field}: {message}")
    return typer.Exit(2)


def _interactive() -> bool:
    """Someone at the terminal can answer a question (not a script or a pipe)."""
    return sys.stdin.isatty()


@app.command("email-instead")
def email_instead(
    treatment_id: TreatmentId,
    email: Annotated[
        str | None,
        typer.Option(help="The patient's address, if none is on record or it changed."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, for the history.")] = (
        "the texts did not arrive"
    ),
    clinic: ClinicOption = None,
) -> None:
    """Stop texting the patient: their texts not yet sent, and any text of this treatment
    that did not arrive, go by email as of now."""
    with _app(clinic) as application:
        rerouted = application.desk.email_instead(
            application.clinic.id, treatment_id, email=email, why=reason
        )
        _say(
            f"Texts stopped for this patient; {len(rerouted.emailed)} message(s) will go by "
            "email instead."
        )
        if rerouted.missed:
            _say("Some steps cannot go by email: see `reminders failures`.")
        treatment = application.service.treatment(application.clinic.id, treatment_id)
        out().print(views.treatment_view(treatment, application.zone_for(treatment)))


@app.command("list")
def list_messages(
    days: Annotated[
        int, typer.Option(min=0, max=3650, help="Also show messages settled in the last N days.")
    ] = 7,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 200,
    as_json: JsonOption = False,
    clinic: ClinicOption = None,
) -> None:
    """Upcoming messages and recent outcomes, in clinic-local time."""
    with _app(clinic) as application:
        messages = application.service.recent(application.clinic.id, days=days, limit=limit)
        if as_json:
            _print_json(views.messages_document(messages, application.clinic_zone))
            return
        out().print(
            views.messages_table(
                messages,
                application.clinic_zone,
                title=f"messages (upcoming, and settled in {days} days)",
            )
        )


@app.command()
def failures(
    hours: Annotated[int, typer.Option(min=1, max=24 * 90, help="How far back to look.")] = 24,
    as_json: JsonOption = False,
    clinic: ClinicOption = None,
) -> None:
    """Who to call (flagged replies, patients the service cannot reach), messages that
    failed or were not delivered, and channels waiting on their settings."""
    from reminders import reply_views

    with _app(clinic) as application:
        service, clinic_id, zone = (
            application.service,
            application.clinic.id,
            application.clinic_zone,
        )
        waiting = service.channel_problems()
        alerts = service.needs_call(clinic_id)
        flagged = application.replies.open_flagged(clinic_id)
        since = application.clock.now() - timedelta(hours=hours)
        problems = service.delivery_problems(clinic_id, since=since)
        if as_json:
            document = views.failures_document(
                alerts=alerts, waiting=waiting, problems=problems, since=since, clinic_zone=zone
            )
            document["replies"] = reply_views.replies_document(
                flagged, application.triage, open_flagged=len(flagged)
            )["items"]
            document["on_call"] = reply_views.no_on_call(application.clinic)
            _print_json(document)
            return
        if waiting:
            out().print(views.channel_problems_view(waiting, zone))
        if flagged:
            title = "flagged replies: call the patient (then `reminders replies ack ID`)"
            out().print(reply_views.replies_table(flagged, zone, application.triage, title=title))
        notice = reply_views.no_on_call(application.clinic)
        if notice:
            _say(notice)
        if alerts:
            out().print(views.needs_call_table(alerts, zone))
        if problems:
            out().print(
                views.failures_table(problems, zone, title=f"failed or undelivered, last {hours} h")
            )
        if not (waiting or alerts or problems or flagged):
            _say(f"Nobody to call; no failed or undelivered messages in {hours} h.")


ReplyId = Annotated[
    int, typer.Argument(min=1, max=MAX_ID, help="The reply's number, as `replies` lists it.")
]


@replies_app.callback()
def replies(
    ctx: typer.Context,
    flagged: Annotated[
        bool, typer.Option("--flagged", help="Only emergencies and clinical flags.")
    ] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="Every reply, not only those waiting for staff.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 200,
    as_json: JsonOption = False,
    clinic_slug: ClinicOption = None,
) -> None:
    """Replies waiting for staff: emergencies, clinical flags, then requests to stop texts
    (`replies ack ID` when dealt with; `replies confirm-opt-out ID` to stop texts)."""
    if ctx.invoked_subcommand is not None:
        # `replies --clinic x ack 5` acts for that clinic as `replies ack 5 --clinic x` does.
        ctx.obj = clinic_slug
        return
    from reminders import reply_views
    from reminders.replies import ReplyFilter

    with _app(clinic_slug) as application:
        replies_service, clinic = application.replies, application.clinic
        found = replies_service.inbox(
            clinic.id, ReplyFilter(flagged=flagged, open=not show_all, limit=limit)
        )
        if as_json:
            count = replies_service.open_flagged_count(clinic.id)
            _print_json(reply_views.replies_document(found, application.triage, open_flagged=count))
            return
        notice = reply_views.no_on_call(clinic)
        if notice:
            _say(notice)
        if not found:
            _say("No replies waiting for staff." if not show_all else "No replies.")
            return
        title = "replies" if show_all else "replies waiting for staff"
        out().print(
            reply_views.replies_table(
                found, application.clinic_zone, application.triage, title=title
            )
        )


@replies_app.command("ack")
def replies_ack(
    ctx: typer.Context,
    reply_id: ReplyId,
    by: Annotated[str, typer.Option(help="Who called the patient or dealt with it.")] = "staff",
    clinic: ClinicOption = None,
) -> None:
    """Mark a reply as dealt with, or a request to stop texts as dismissed."""
    with _app(clinic or ctx.obj) as application:
        reply = application.replies.acknowledge(application.clinic.id, reply_id, by=by)
        _say(f"Reply {reply.id} acknowledged by {reply.acknowledged_by}.")


@replies_app.command("confirm-opt-out")
def replies_confirm_opt_out(
    ctx: typer.Context,
    reply_id: ReplyId,
    by: Annotated[str, typer.Option(help="Who confirmed the request.")] = "staff",
    clinic: ClinicOption = None,
) -> None:
    """The patient asked in words to stop texts: stop them, as a STOP reply does (what is
    left of their aftercare goes by email, or to staff)."""
    with _app(clinic or ctx.obj) as application:
        reply = application.replies.confirm_opt_out(application.clinic.id, reply_id, by=by)
        who = reply.acknowledged_by
        _say(f"Reply {reply.id}: texts to this patient stopped, confirmed by {who}.")


@app.command()
def retention(
    apply: Annotated[
        bool, typer.Option("--apply", help="Remove them (without it, only count: a dry run).")
    ] = False,
    days: Annotated[
        int | None,
        typer.Option(min=1, max=36_500, help="Days to keep (default: retention.contact_days)."),
    ] = None,
) -> None:
    """Remove patients' phones and emails once their aftercare is long over (dry run first)."""
    from reminders.localtime import format_staff
    from reminders.retention import Retention

    with _app() as application:
        keep = days or application.settings.retention.contact_days
        if keep is None:
            raise InputError("days", "give --days, or set retention.contact_days")
        report = Retention(sessions=application.sessions, clock=application.clock).run(
            keep=timedelta(days=keep), dry_run=not apply
        )
        verb = "Removed" if apply else "Would remove"
        _say(
            f"{verb} the phone and email of {report.patients} patient(s) with nothing since "
            f"{format_staff(report.cutoff, application.clinic_zone)}, and the number on "
            f"{report.replies} of their replies."
            + ("" if apply else " Run again with --apply to remove them.")
        )


@app.command()
def acknowledge(
    alert_id: Annotated[
        int,
        typer.Argument(min=1, max=MAX_ID, help="The alert's number, as `failures` lists it."),
    ],
    by: Annotated[str, typer.Option(help="Who called the patient or dealt with it.")],
    clinic: ClinicOption = None,
) -> None:
    """Mark a "needs a call" alert as dealt with."""
    with _app(clinic) as application:
        alert = application.service.acknowledge(application.clinic.id, alert_id, by=by)
        _say(f"Alert {alert.id} acknowledged by {alert.acknowledged_by}.")


@app.command()
def show(
    treatment_id: TreatmentId, as_json: JsonOption = False, clinic: ClinicOption = None
) -> None:
    """A treatment's timeline: each message, its due and sent times, state and reasons."""
    with _app(clinic) as application:
        treatment = application.service.treatment(application.clinic.id, treatment_id)
        if as_json:
            _print_json(views.treatment_document(treatment, application.clinic_zone))
            return
        out().print(views.treatment_view(treatment, application.zone_for(treatment)))


NotifyOption = Annotated[
    str | None,
    typer.Option(
        "--no-notify",
        metavar="REASON",
        help="Do not tell the patient of the change; the reason is recorded.",
    ),
]
YesOption = Annotated[bool, typer.Option("--yes", help="Send the message shown without asking.")]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Show what the patient would be told; change nothing.")
]


@app.command()
def cancel(
    treatment_id: TreatmentId,
    reason: Annotated[
        str, typer.Option(help="Recorded on each cancelled message.")
    ] = "cancelled by staff",
    error: Annotated[
        bool,
        typer.Option(
            "--error",
            help="Logged in error (the wrong patient): whoever received its messages is "
            "told to disregard them.",
        ),
    ] = False,
    no_notify: NotifyOption = None,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
    clinic: ClinicOption = None,
) -> None:
    """Cancel a treatment's pending messages."""
    with _app(clinic) as application:
        service, clinic_id = application.service, application.clinic.id
        cancel_it = functools.partial(
            service.cancel,
            clinic_id,
            treatment_id,
            reason=reason,
            error=error,
            notify=no_notify is None,
            not_notified_reason=no_notify,
        )
        preview = cancel_it(dry_run=True)
        if error and preview.withdrawal is None:
            _say("Nothing was sent for this treatment: nobody is told.")
        elif error:
            _show_patient_message(preview.withdrawal, preview.notified, no_notify)
        if dry_run or not _confirmed(preview.notified, yes):
            return
        result = cancel_it()
        count = len(result.cancelled)
        _say(f"Treatment {treatment_id} cancelled; {count} message(s) will not be sent.")
        if result.in_flight:
            ids = ", ".join(str(i) for i in result.in_flight)
            _say(f"Message(s) {ids} were already being sent and may still arrive.")


@app.command()
def reschedule(
    treatment_id: TreatmentId,
    at: Annotated[str | None, typer.Option(help="The corrected treatment time.")] = None,
    tz: TzOption = None,
    restriction: Annotated[
        str | None, typer.Option(help="A new restriction length for this patient, e.g. 6h.")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Why this patient's restriction differs.")
    ] = None,
    no_notify: NotifyOption = None,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
    clinic: ClinicOption = None,
) -> None:
    """Correct a treatment's time or restriction. What is still to go is planned again; a
    patient already told other times is sent a correction, shown first."""
    from reminders.inputs import parse_length

    with _app(clinic) as application:
        if at is None and restriction is None:
            raise InputError("at", "give the corrected time (--at), a restriction, or both")
        service, clinic_id = application.service, application.clinic.id
        correct_it = functools.partial(
            service.correct,
            clinic_id,
            treatment_id,
            performed_at=_when(at, tz, application),
            restriction=parse_length(restriction, field="restriction") if restriction else None,
            restriction_reason=reason,
            notify=no_notify is None,
            not_notified_reason=no_notify,
        )
        preview = correct_it(dry_run=True)
        if preview.plan is not None:
            out().print(views.plan_view(preview.plan, title="the corrected plan"))
        _show_patient_message(preview.correction, preview.notified, no_notify)
        if dry_run or not _confirmed(preview.notified, yes):
            return
        result = correct_it()
        out().print(views.treatment_view(result.treatment, application.zone_for(result.treatment)))


def _show_patient_message(message: PlannedStep | None, notified: bool, reason: str | None) -> None:
    if message is None:
        _say("The patient need not be told: what they were sent still holds, or nothing went yet.")
    elif not notified:
        _say(f"The patient will not be told ({message.step_id}): {reason}")
    else:
        out().print(views.patient_message_view(message))


def _confirmed(notified: bool, yes: bool) -> bool:
    """Whether to go ahead: nothing goes to the patient, --yes, or the desk says so."""
    if not notified or yes:
        return True
    if not sys.stdin.isatty():
        raise InputError(
            "yes",
            "the patient would be sent the message above: add --yes to send it, "
            "or --no-notify REASON",
        )
    return typer.confirm("Save and send this to the patient?", default=False)


@app.command()
def preview(
    treatment: Annotated[str, typer.Option(help="Treatment type, e.g. botox.")],
    at: Annotated[str | None, typer.Option(help="Treatment time (default: now).")] = None,
    tz: TzOption = None,
    logged_at: Annotated[
        str | None, typer.Option(help="When it would be logged (default: at the treatment time).")
    ] = None,
    channel: Annotated[ChannelKind, typer.Option(help="Channel to render.")] = ChannelKind.SMS,
    restriction: Annotated[
        str | None, typer.Option(help="A patient's own restriction length (default: the clinic's).")
    ] = None,
    as_json: JsonOption = False,
    clinic: ClinicOption = None,
) -> None:
    """Show the plan for a hypothetical treatment: each window until when, the messages that
    tell the patient, their texts, local times and reasons. Stores nothing."""
    from reminders.inputs import parse_length, parse_zone

    with _app(clinic) as application:
        now = application.clock.now()
        performed_at = _near(_when(at, tz, application), now, "at") or now
        logged = _near(_when(logged_at, tz, application, field="logged-at"), now, "logged-at")
        zone = parse_zone(tz) if tz else None
        patient = PatientProfile(
            name="Patient",
            has_phone=channel is ChannelKind.SMS,
            has_email=channel is ChannelKind.EMAIL,
            timezone=zone,
        )
        plan = application.service.preview(
            application.clinic.id,
            treatment_type=treatment,
            performed_at=performed_at,
            logged_at=logged,
            patient=patient,
            restriction=parse_length(restriction, field="restriction") if restriction else None,
        )
        if as_json:
            _print_json(views.plan_document(plan))
            return
        out().print(views.plan_view(plan, title=f"{treatment} aftercare plan ({plan.zone.key})"))


def _near(instant: datetime | None, now: datetime, field: str) -> datetime | None:
    """A preview's time, refused where planning from it would run off the calendar."""
    if instant is not None and abs(instant - now) > PREVIEW_SPAN:
        raise InputError(field, "must be within 10 years of today")
    return instant


@policies_app.command("check")
def policies_check(
    directory: Annotated[
        Path | None, typer.Option(help="Policy folder (default: config/policies).")
    ] = None,
    triage: Annotated[
        Path | None,
        typer.Option(help="Reply triage policy (default: config/triage/replies.toml)."),
    ] = None,
) -> None:
    """Validate every policy: keys, offsets, template variables and citations; and the
    reply triage policy: its patterns and citations.

    Also reports what each SMS text costs (encoding and segments, at its longest)
    and warns about characters that force UCS-2 or texts over the segment budget.
    """
    from reminders.durations import parse_duration
    from reminders.policies import check_policies
    from reminders.settings import config_dir_from_env
    from reminders.sms_budget import sms_problems, sms_reports
    from reminders.sms_encoding import SEGMENT_BUDGET
    from reminders.triage_policy import check_triage_file, triage_path

    folder = directory or config_dir_from_env() / "policies"
    policy_set, problems = check_policies(folder)
    triage_file = triage or triage_path(config_dir_from_env())
    triage_policy, triage_problems = check_triage_file(triage_file)
    problems += triage_problems
    clinic = _configured_clinic()
    for policy in policy_set.policies.values():
        out().print(views.policy_summary(policy))
        out().print(views.sms_cost_table(policy, sms_reports(policy), SEGMENT_BUDGET))
        if clinic is not None:
            reports = sms_reports(
                policy,
                restrictions=(parse_duration(clinic.restriction),),
                clinic_name=clinic.name,
                clinic_phone=clinic.profile().phone_display,
            )
            out().print(
                views.sms_cost_table(
                    policy, reports, SEGMENT_BUDGET, name=f"this clinic: {clinic.name!r}"
                )
            )
        for warning in sms_problems(policy):
            err().print(
                Text.assemble(("warning:", "yellow"), " ", views.visible(str(warning))),
                soft_wrap=True,
            )
    if problems:
        views.print_problems(err(), problems)
        where = f"{folder} and {triage_file}" if triage_problems else str(folder)
        err().print(Text(views.visible(f"{len(problems)} problem(s) in {where}")), soft_wrap=True)
        raise typer.Exit(1)
    assert triage_policy is not None
    _say(f"{len(policy_set.policies)} policy file(s) OK in {folder}")
    _say(f"Reply triage: {len(triage_policy.flags)} flags OK in {triage_file}")


def _configured_clinic() -> ClinicSettings | None:
    """The clinic in the settings, if they load: its own texts are costed too."""
    from reminders.settings import load_settings

    try:
        return load_settings().clinic
    except ReminderError:
        return None


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the newest."""
    from reminders.db import migrate
    from reminders.db.engine import make_engine
    from reminders.settings import load_settings

    with _errors_as_messages():
        settings = load_settings()
        engine = make_engine(settings.effective_database_url)
        try:
            migrate.upgrade(engine)
            _say(f"database at revision {migrate.current_revision(engine)}")
        finally:
            engine.dispose()


BudgetClinic = Annotated[
    str | None, typer.Option("--clinic", help="The clinic's slug (default: this clinic).")
]


@budget_app.command("show")
def budget_show(clinic: BudgetClinic = None, as_json: JsonOption = False) -> None:
    """This month's SMS segments used, the budget, and texts held over it."""
    from reminders.spend import Budgets

    with _app() as application:
        slug = _slug(clinic) if clinic else application.clinic.slug
        status = Budgets(application.sessions, application.clock).status(slug)
        if as_json:
            _print_json(views.budget_document(status))
            return
        _say(views.budget_line(status))


@budget_app.command("allow")
def budget_allow(
    segments: Annotated[
        int, typer.Option(min=1, max=10_000_000, help="Segments more for this month.")
    ],
    by: Annotated[str, typer.Option(help="Who decided, for the record.")],
    clinic: BudgetClinic = None,
) -> None:
    """Let this month's texts go over the budget by SEGMENTS more; held texts go on the
    worker's next pass. Recorded with who decided; the budget alert is acknowledged."""
    from reminders.spend import Budgets

    with _app() as application:
        slug = _slug(clinic) if clinic else application.clinic.slug
        status = Budgets(application.sessions, application.clock).allow(
            slug, segments=segments, by=by
        )
        _say(views.budget_line(status))


@apikey_app.command("create")
def apikey_create(
    clinic: Annotated[str | None, typer.Option(help="The clinic's slug.")] = None,
    label: Annotated[str, typer.Option(help="What the key is for.")] = "api",
    admin: Annotated[
        bool, typer.Option("--admin", help="An admin key: manages clinics, acts for none.")
    ] = False,
) -> None:
    """Create an API key (a clinic's, or with --admin the operator's); it is shown once,
    only its hash is stored."""
    from reminders.inputs import clean_text

    if (clinic is None) == (not admin):
        raise _usage("clinic", "give --clinic SLUG for a clinic's key, or --admin")
    with _app() as application:
        label = clean_text(label, field="label", longest=LONGEST_LABEL)
        if clinic is None:
            key = _accounts(application).create_admin_key(label=label)
            _say(f"Admin API key {key.prefix} (shown once, store it now):")
        else:
            key = _accounts(application).create_key(_slug(clinic), label=label)
            _say(f"API key {key.prefix} for clinic {clinic!r} (shown once, store it now):")
        print(key.key)


@apikey_app.command("revoke")
def apikey_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix.")]) -> None:
    """Revoke an API key at once."""
    from reminders.inputs import clean_text

    with _app() as application:
        _accounts(application).revoke_key(clean_text(prefix, field="prefix", longest=16))
        _say(f"API key {prefix} revoked.")


@apikey_app.command("list")
def apikey_list(
    clinic: Annotated[
        str | None, typer.Option(help="The clinic's slug (without it: the admin keys).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """A clinic's API keys, or the admin keys (prefixes and labels; never the keys)."""
    with _app() as application:
        keys = _accounts(application).keys(_slug(clinic) if clinic is not None else None)
        if as_json:
            _print_json(views.keys_document(keys))
            return
        out().print(views.keys_table(keys))


Username = Annotated[str, typer.Argument(help="The username (an email address or a short name).")]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin (for scripts)."
    ),
]


@staff_app.command("add")
def staff_add(
    username: Username,
    clinic: Annotated[str, typer.Option(help="The clinic's slug.")],
    name: Annotated[str, typer.Option(help='The name the page shows, e.g. "Ann Lee".')],
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a staff account for the web page; the password is asked twice, never echoed."""
    with _app() as application:
        staff = _staff(application)
        staff.check_new(_slug(clinic), username)
        password = _new_password(password_stdin)
        staff_id = staff.add(_slug(clinic), username, display_name=name, password=password)
        _say(f"Staff account {username!r} added for clinic {clinic!r} (id {staff_id}).")


@staff_app.command("list")
def staff_list(
    clinic: Annotated[str | None, typer.Option(help="Only this clinic's accounts.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Staff accounts: usernames, names, whether disabled or locked; never passwords."""
    with _app() as application:
        accounts = _staff(application).accounts(_slug(clinic) if clinic is not None else None)
        if as_json:
            _print_json(views.staff_document(accounts))
            return
        out().print(views.staff_table(accounts))


@staff_app.command("disable")
def staff_disable(username: Username) -> None:
    """Refuse the account's sign-ins, and sign it out everywhere at once."""
    with _app() as application:
        _staff(application).disable(username)
        _say(f"Staff account {username!r} disabled; its sessions have ended.")


@staff_app.command("enable")
def staff_enable(username: Username) -> None:
    """Allow the account to sign in again, lifting any lock-out."""
    with _app() as application:
        _staff(application).enable(username)
        _say(f"Staff account {username!r} enabled.")


@staff_app.command("password")
def staff_password(username: Username, password_stdin: PasswordStdin = False) -> None:
    """Set a new password (asked twice); the account's sessions end."""
    with _app() as application:
        staff = _staff(application)
        staff.set_password(username, _new_password(password_stdin))
        _say(f"Password changed for {username!r}; its sessions have ended.")


def _new_password(from_stdin: bool) -> str:
    """A password from stdin's first line, or asked twice at the terminal, unechoed."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Password again", hide_input=True) != first:
        raise InputError("password", "the two entries differ")
    return str(first)


def _staff(application: App) -> StaffAccounts:
    from reminders.staff import StaffAccounts

    return StaffAccounts(
        sessions=application.sessions, clock=application.clock, settings=application.settings.web
    )


def main() -> None:
    app()
