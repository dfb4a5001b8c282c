"""`reminders clinic ...`: the clinics of this deployment, added, shown, changed, disabled,
enabled, and the history of their changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from reminders.cli_base import JsonOption, accounts, group, open_app, out, print_json, say, slug
from reminders.domain import ChannelKind
from reminders.errors import InputError

if TYPE_CHECKING:
    from reminders.clinic_records import Change

clinic_app = group("Clinics in this deployment: add, show, update, disable, enable, history.")

Slug = Annotated[str, typer.Argument(help="The clinic's slug.")]


@clinic_app.command("add")
def clinic_add(
    slug: Annotated[str, typer.Option(help="Short id, e.g. harbor-skin.")],
    name: Annotated[str, typer.Option(help="Name shown in every text.")],
    phone: Annotated[str, typer.Option(help="Clinic phone, E.164.")],
    timezone: Annotated[str, typer.Option(help="IANA zone, e.g. Europe/London.")],
    restriction: Annotated[str, typer.Option(help="Restriction length.")] = "4h",
    region: Annotated[str, typer.Option(help="Default phone region.")] = "US",
    quiet_hours: Annotated[
        str, typer.Option(help="e.g. 21:00-08:00; empty for none.")
    ] = "21:00-08:00",
    default_channel: Annotated[ChannelKind, typer.Option()] = ChannelKind.SMS,
    restriction_source: Annotated[
        str | None,
        typer.Option(help="For a length the answers do not support: a file in config/sources."),
    ] = None,
    restriction_quote: Annotated[
        str | None, typer.Option(help="The sentence in that file that sets the length.")
    ] = None,
    on_call_phone: Annotated[
        str | None, typer.Option(help="Texted at once about a flagged reply, E.164.")
    ] = None,
    on_call_email: Annotated[
        str | None, typer.Option(help="Emailed at once about a flagged reply.")
    ] = None,
    sms_monthly_segments: Annotated[
        int | None, typer.Option(min=1, help="SMS segments a month (default: no budget).")
    ] = None,
    test_mode: Annotated[
        bool, typer.Option(help="Send every message to the test phone and email instead.")
    ] = False,
    test_phone: Annotated[str | None, typer.Option(help="Test mode's phone, E.164.")] = None,
    test_email: Annotated[str | None, typer.Option(help="Test mode's email address.")] = None,
) -> None:
    """Add a clinic to this deployment; its settings are checked against the policies."""
    from pydantic import ValidationError

    from reminders.clinic_checks import check_clinic
    from reminders.inputs import parse_length
    from reminders.settings import ClinicSettings

    with open_app() as application:
        parse_length(restriction, field="restriction")  # a length too long for the calendar
        try:
            settings = ClinicSettings(
                slug=slug,
                name=name,
                phone=phone,
                timezone=timezone,
                restriction=restriction,
                region=region,
                quiet_hours=quiet_hours or None,
                default_channel=default_channel,
                restriction_source=restriction_source,
                restriction_quote=restriction_quote,
                on_call_phone=on_call_phone,
                on_call_email=on_call_email,
                sms_monthly_segments=sms_monthly_segments,
                test_mode=test_mode,
                test_phone=test_phone,
                test_email=test_email,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InputError(str(first["loc"][0]), first["msg"]) from exc
        settings, problems = check_clinic(
            settings, application.policies, application.settings.sources_dir
        )
        if problems:
            raise InputError(problems[0].setting, problems[0].message)
        clinic = accounts(application).add_clinic(settings)
        say(f"Clinic {clinic.slug!r} added (id {clinic.id}).")


@clinic_app.command("list")
def clinic_list(as_json: JsonOption = False) -> None:
    """Clinics in this deployment."""
    from reminders import views
    from reminders.reply_views import no_on_call

    with open_app() as application:
        clinics = accounts(application).clinics()
        if as_json:
            print_json(views.clinics_document(clinics))
            return
        out().print(views.clinics_table(clinics))
        for clinic in clinics:
            if clinic.disabled_at is not None:
                say(f"Clinic {clinic.slug!r} is disabled: {clinic.disabled_reason}")
            notice = no_on_call(clinic)
            if notice:
                say(notice)


@clinic_app.command("show")
def clinic_show(clinic: Slug, as_json: JsonOption = False) -> None:
    """Every setting of a clinic, its status, its live API keys and staff accounts."""
    from reminders import clinic_views

    with open_app() as application:
        summary = application.clinic_admin.summary(slug(clinic))
        if as_json:
            print_json(clinic_views.clinic_document(summary))
            return
        out().print(clinic_views.clinic_table(summary))


Text = str | None


@clinic_app.command("update")
def clinic_update(
    clinic: Slug,
    name: Annotated[Text, typer.Option(help="Name shown in every text.")] = None,
    phone: Annotated[Text, typer.Option(help="Clinic phone, E.164.")] = None,
    region: Annotated[Text, typer.Option(help="Default phone region, e.g. US.")] = None,
    timezone: Annotated[Text, typer.Option(help="IANA zone, e.g. Europe/London.")] = None,
    restriction: Annotated[Text, typer.Option(help="Restriction length, e.g. 6h.")] = None,
    quiet_hours: Annotated[Text, typer.Option(help='e.g. 21:00-08:00; "" for none.')] = None,
    default_channel: Annotated[ChannelKind | None, typer.Option()] = None,
    show_patient_name: Annotated[
        bool | None, typer.Option("--show-patient-name/--hide-patient-name")
    ] = None,
    show_product_name: Annotated[
        bool | None, typer.Option("--show-product-name/--hide-product-name")
    ] = None,
    time_format: Annotated[Text, typer.Option(help="12h or 24h.")] = None,
    sms_from: Annotated[Text, typer.Option(help='This clinic\'s SMS sender; "" for none.')] = None,
    messaging_service_sid: Annotated[
        Text, typer.Option(help='A Twilio Messaging Service (MG...); "" for none.')
    ] = None,
    email_fallback: Annotated[
        bool | None, typer.Option("--email-fallback/--no-email-fallback")
    ] = None,
    restriction_source: Annotated[
        Text, typer.Option(help='A file in config/sources; "" for none.')
    ] = None,
    restriction_quote: Annotated[
        Text, typer.Option(help='The sentence in it that sets the length; "" for none.')
    ] = None,
    on_call_phone: Annotated[Text, typer.Option(help='E.164; "" for none.')] = None,
    on_call_email: Annotated[Text, typer.Option(help='"" for none.')] = None,
    reply_auto_answer: Annotated[
        Text, typer.Option(help='What a reply without a flag is answered; "" for none.')
    ] = None,
    sms_monthly_segments: Annotated[
        int | None, typer.Option(min=0, help="SMS segments a month; 0 for no budget.")
    ] = None,
    test_mode: Annotated[bool | None, typer.Option("--test-mode/--no-test-mode")] = None,
    test_phone: Annotated[
        Text, typer.Option(help='Test mode\'s phone, E.164; "" for none.')
    ] = None,
    test_email: Annotated[Text, typer.Option(help='Test mode\'s address; "" for none.')] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Change a clinic's settings, checked as `clinic add` checks them; each change is
    recorded. Treatments already logged keep their planned messages."""
    from reminders.actors import cli_actor

    given = {
        "name": name,
        "phone": phone,
        "region": region,
        "timezone": timezone,
        "restriction": restriction,
        "quiet_hours": quiet_hours,
        "default_channel": default_channel,
        "show_patient_name": show_patient_name,
        "show_product_name": show_product_name,
        "time_format": time_format,
        "sms_from": sms_from,
        "messaging_service_sid": messaging_service_sid,
        "email_fallback": email_fallback,
        "restriction_source": restriction_source,
        "restriction_quote": restriction_quote,
        "on_call_phone": on_call_phone,
        "on_call_email": on_call_email,
        "reply_auto_answer": reply_auto_answer,
        "sms_monthly_segments": sms_monthly_segments,
        "test_mode": test_mode,
        "test_phone": test_phone,
        "test_email": test_email,
    }
    with open_app() as application:
        from reminders.clinic_admin import OPTIONAL

        # An empty text clears an optional setting (and is refused for a required one).
        values = {
            key: (None if value == "" and key in OPTIONAL else value)
            for key, value in given.items()
            if value is not None
        }
        if values.get("sms_monthly_segments") == 0:
            values["sms_monthly_segments"] = None  # no budget
        changes = application.clinic_admin.update(
            slug(clinic), values, by=cli_actor(), dry_run=dry_run
        )
        _report_update(changes, dry_run=dry_run, as_json=as_json)


def _report_update(changes: list[Change], *, dry_run: bool, as_json: bool) -> None:
    from reminders import clinic_views
    from reminders.clinic_admin import REPLANNING_NOTE, replans_nothing

    if as_json:
        print_json(clinic_views.planned_document(changes) | {"dry_run": dry_run})
        return
    if not changes:
        say("Nothing to change: the clinic already has these settings.")
        return
    title = "would change (dry run: nothing changed)" if dry_run else "changed"
    out().print(clinic_views.planned_table(changes, title=title))
    if not replans_nothing(changes):
        say(REPLANNING_NOTE)


@clinic_app.command("disable")
def clinic_disable(
    clinic: Slug,
    reason: Annotated[str, typer.Option(help="Why, for the record.")],
    cancel_pending: Annotated[
        bool,
        typer.Option(
            "--cancel-pending",
            help="Also cancel its messages not yet sent (default: they still go: patients "
            "were promised their aftercare).",
        ),
    ] = False,
) -> None:
    """Stop a clinic logging treatments and refuse its API keys. Messages already planned
    for its patients still go, unless --cancel-pending."""
    from reminders.actors import cli_actor

    with open_app() as application:
        disabled = application.clinic_admin.disable(
            slug(clinic), reason=reason, by=cli_actor(), cancel_pending=cancel_pending
        )
    say(f"Clinic {clinic!r} disabled: it logs no treatments and its API keys are refused.")
    if cancel_pending:
        say(f"{len(disabled.cancelled)} message(s) not yet sent were cancelled.")
    else:
        say("Messages already planned for its patients will still be sent.")


@clinic_app.command("enable")
def clinic_enable(clinic: Slug) -> None:
    """Let a disabled clinic log treatments and use its API keys again."""
    from reminders.actors import cli_actor

    with open_app() as application:
        application.clinic_admin.enable(slug(clinic), by=cli_actor())
    say(f"Clinic {clinic!r} enabled.")


@clinic_app.command("history")
def clinic_history(clinic: Slug, as_json: JsonOption = False) -> None:
    """Every change to a clinic's settings and status: when, by whom, from what to what."""
    from reminders import clinic_views

    with open_app() as application:
        changes = application.clinic_admin.history(slug(clinic))
        if as_json:
            print_json(clinic_views.changes_document(changes))
            return
        if not changes:
            say("No changes recorded.")
            return
        out().print(clinic_views.changes_table(changes))
