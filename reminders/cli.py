"""The `reminders` command: parse, call the service, print."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from reminders import views
from reminders.bootstrap import App, build_app, default_channels
from reminders.db import migrate
from reminders.db.engine import make_engine
from reminders.domain import ChannelKind, PatientProfile
from reminders.errors import ReminderError
from reminders.inputs import parse_when, parse_zone
from reminders.logs import configure_logging
from reminders.policies import check_policies
from reminders.service import PatientInput, TreatmentInput
from reminders.settings import config_dir_from_env, load_settings
from reminders.worker import Worker

app = typer.Typer(no_args_is_help=True, help="Post-treatment aftercare reminders.")
policies_app = typer.Typer(no_args_is_help=True, help="Aftercare policies.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(policies_app, name="policies")
app.add_typer(db_app, name="db")

out = Console()
err = Console(stderr=True)

TzOption = Annotated[
    str | None,
    typer.Option("--tz", help="IANA time zone for --at without an offset (default: the clinic's)."),
]


@contextmanager
def _errors_as_messages() -> Iterator[None]:
    try:
        yield
    except ReminderError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from exc


@contextmanager
def _app() -> Iterator[App]:
    with _errors_as_messages():
        application = build_app(load_settings())
        try:
            yield application
        finally:
            application.close()


def _when(text: str | None, tz: str | None, application: App, field: str = "at") -> datetime | None:
    if text is None:
        return None
    zone = parse_zone(tz) if tz else application.clinic_zone
    return parse_when(text, zone=zone, field=field)


@app.command()
def serve(log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO") -> None:
    """Run the worker: send each message at its due time until stopped (Ctrl-C or SIGTERM)."""
    configure_logging(log_level)
    with _app() as application:
        channels = default_channels(application.settings)
        worker = Worker(
            application.dispatcher(channels),
            poll_interval=application.settings.worker.poll_interval,
        )
        err.print(
            f"reminders: clinic {application.clinic.name!r}, database "
            f"{application.engine.url.render_as_string(hide_password=True)}, "
            f"channels {channels.describe()}; Ctrl-C to stop"
        )
        worker.run_until_signalled()


@app.command("log")
def log_treatment(
    name: Annotated[str, typer.Argument(help="Patient's full name.")],
    treatment: Annotated[str, typer.Option(help="Treatment type, e.g. botox.")],
    phone: Annotated[str | None, typer.Option(help="Mobile number (national or +E.164).")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    at: Annotated[str | None, typer.Option(help="Treatment time (default: now).")] = None,
    tz: TzOption = None,
    channel: Annotated[ChannelKind | None, typer.Option(help="Preferred channel.")] = None,
    patient_tz: Annotated[
        str | None, typer.Option(help="Patient's time zone, if not the clinic's.")
    ] = None,
) -> None:
    """Log a treatment and plan its aftercare messages."""
    with _app() as application:
        request = TreatmentInput(
            patient=PatientInput(
                name=name,
                phone=phone,
                email=email,
                preferred_channel=channel,
                timezone=parse_zone(patient_tz, field="patient-tz") if patient_tz else None,
            ),
            treatment_type=treatment,
            performed_at=_when(at, tz, application),
        )
        logged = application.service.log_treatment(application.clinic.id, request)
        out.print(f"Logged treatment {logged.id}.")
        out.print(views.treatment_view(logged, application.zone_for(logged)))


@app.command("list")
def list_messages(
    days: Annotated[int, typer.Option(help="Also show messages settled in the last N days.")] = 7,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 200,
) -> None:
    """Upcoming messages and recent outcomes, in clinic-local time."""
    with _app() as application:
        messages = application.service.recent(application.clinic.id, days=days, limit=limit)
        out.print(
            views.messages_table(
                messages,
                application.clinic_zone,
                title=f"messages (upcoming, and settled in {days} days)",
            )
        )


@app.command()
def show(treatment_id: int) -> None:
    """A treatment's timeline: each message, its due and sent times, state and reasons."""
    with _app() as application:
        treatment = application.service.treatment(application.clinic.id, treatment_id)
        out.print(views.treatment_view(treatment, application.zone_for(treatment)))


@app.command()
def cancel(
    treatment_id: int,
    reason: Annotated[
        str, typer.Option(help="Recorded on each cancelled message.")
    ] = "cancelled by staff",
) -> None:
    """Cancel a treatment's pending messages."""
    with _app() as application:
        result = application.service.cancel(application.clinic.id, treatment_id, reason=reason)
        count = len(result.cancelled)
        out.print(f"Treatment {treatment_id} cancelled; {count} message(s) will not be sent.")
        if result.in_flight:
            ids = ", ".join(str(i) for i in result.in_flight)
            out.print(f"Message(s) {ids} were already being sent and may still arrive.")


@app.command()
def reschedule(
    treatment_id: int,
    at: Annotated[str, typer.Option(help="The corrected treatment time.")],
    tz: TzOption = None,
) -> None:
    """Correct a treatment's time: pending messages are re-planned, sent ones stay in history."""
    with _app() as application:
        performed_at = _when(at, tz, application)
        assert performed_at is not None
        treatment = application.service.reschedule(
            application.clinic.id, treatment_id, performed_at=performed_at
        )
        out.print(views.treatment_view(treatment, application.zone_for(treatment)))


@app.command()
def preview(
    treatment: Annotated[str, typer.Option(help="Treatment type, e.g. botox.")],
    at: Annotated[str | None, typer.Option(help="Treatment time (default: now).")] = None,
    tz: TzOption = None,
    logged_at: Annotated[
        str | None, typer.Option(help="When it would be logged (default: at the treatment time).")
    ] = None,
    channel: Annotated[ChannelKind, typer.Option(help="Channel to render.")] = ChannelKind.SMS,
) -> None:
    """Show the plan for a hypothetical treatment, with local times and reasons. Stores nothing."""
    with _app() as application:
        performed_at = _when(at, tz, application) or application.clock.now()
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
            logged_at=_when(logged_at, tz, application, field="logged-at"),
            patient=patient,
        )
        out.print(views.plan_view(plan, title=f"{treatment} aftercare plan ({plan.zone.key})"))


@policies_app.command("check")
def policies_check(
    directory: Annotated[
        Path | None, typer.Option(help="Policy folder (default: config/policies).")
    ] = None,
) -> None:
    """Validate every policy: keys, offsets, template variables and citations."""
    folder = directory or config_dir_from_env() / "policies"
    policy_set, problems = check_policies(folder)
    for policy in policy_set.policies.values():
        out.print(views.policy_summary(policy))
    if problems:
        views.print_problems(err, problems)
        err.print(f"{len(problems)} problem(s) in {folder}", soft_wrap=True)
        raise typer.Exit(1)
    out.print(f"{len(policy_set.policies)} policy file(s) OK in {folder}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the newest."""
    with _errors_as_messages():
        settings = load_settings()
        engine = make_engine(settings.effective_database_url)
        try:
            migrate.upgrade(engine)
            out.print(f"database at revision {migrate.current_revision(engine)}")
        finally:
            engine.dispose()


def main() -> None:
    app()
