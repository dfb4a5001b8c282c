"""Builds the running parts from settings: engine, migrations, policies, channels, service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from reminders.actors import config_actor
from reminders.channels.base import Channel, ChannelRegistry
from reminders.channels.console import ConsoleChannel
from reminders.clinic_checks import check_clinic
from reminders.clock import Clock, SystemClock
from reminders.db import revisions, wakeups
from reminders.db.engine import make_engine, make_session_factory
from reminders.db.models import Clinic, Treatment
from reminders.domain import ChannelKind
from reminders.errors import ConfigError
from reminders.policies import PolicySet, load_policies
from reminders.retry import RetryPolicy
from reminders.service import ReminderService
from reminders.settings import Settings, config_file
from reminders.triage import TriagePolicy
from reminders.triage_policy import load_triage

# What only the worker, the API or a configured provider needs is imported where it is
# used: every command builds an App, and most never send or reroute anything.
if TYPE_CHECKING:
    from reminders.clinic_admin import ClinicAdmin
    from reminders.desk import Desk
    from reminders.dispatch import Dispatcher
    from reminders.inbound import ProviderReports
    from reminders.on_call import OnCallSender
    from reminders.replies import Replies
    from reminders.reroute import Reroutes
    from reminders.worker import Worker


@dataclass
class App:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    policies: PolicySet
    service: ReminderService
    clinic: Clinic
    # Rung after every commit that planned messages: the worker in this process wakes.
    bell: wakeups.Bell
    # What patients' replies are checked for (config/triage/replies.toml).
    triage: TriagePolicy

    def worker(self, channels: ChannelRegistry, worker_id: str | None = None) -> Worker:
        """The worker, woken by this process's writes and, on PostgreSQL, by any process's."""
        from reminders.worker import Worker  # APScheduler: only the commands that send

        dispatcher = self.dispatcher(channels, worker_id)
        return Worker(
            dispatcher,
            poll_interval=self.settings.worker.poll_interval,
            bell=self.bell,
            listen=self.engine,
            on_call=self.on_call(channels, dispatcher.worker_id),
            chores=self.chores(),
        )

    def chores(self) -> list[Callable[[], object]]:
        """What a worker also does, hourly: remove contact details past their retention."""
        days = self.settings.retention.contact_days
        if days is None:
            return []
        from reminders.retention import Retention

        retention = Retention(sessions=self.sessions, clock=self.clock)
        return [lambda: retention.run(keep=timedelta(days=days), dry_run=False)]

    def on_call(self, channels: ChannelRegistry, worker_id: str) -> OnCallSender:
        """What sends flagged replies to the clinics' on-call contacts."""
        from reminders.on_call import OnCallSender

        worker = self.settings.worker
        return OnCallSender(
            sessions=self.sessions,
            clock=self.clock,
            channels=channels,
            retry=RetryPolicy(
                worker.max_attempts, worker.retry_base_seconds, worker.retry_max_seconds
            ),
            worker_id=worker_id,
            lease=timedelta(seconds=worker.lease_seconds),
        )

    @cached_property
    def replies(self) -> Replies:
        """Patients' replies for staff: the inbox, acknowledging, confirming a stop."""
        from reminders.replies import Replies

        return Replies(sessions=self.sessions, clock=self.clock, reroutes=self.reroutes)

    @cached_property
    def reports(self) -> ProviderReports:
        """Delivery reports and patients' replies, as the webhooks hand them over."""
        from reminders.inbound import ProviderReports

        return ProviderReports(
            sessions=self.sessions, clock=self.clock, reroutes=self.reroutes, triage=self.triage
        )

    def dispatcher(self, channels: ChannelRegistry, worker_id: str | None = None) -> Dispatcher:
        from reminders.dispatch import Dispatcher
        from reminders.worker import default_worker_id

        worker = self.settings.worker
        return Dispatcher(
            sessions=self.sessions,
            clock=self.clock,
            channels=channels,
            retry=RetryPolicy(
                worker.max_attempts, worker.retry_base_seconds, worker.retry_max_seconds
            ),
            worker_id=worker_id or default_worker_id(),
            policies=self.policies,
            batch_size=worker.batch_size,
            lease=timedelta(seconds=worker.lease_seconds),
        )

    @cached_property
    def desk(self) -> Desk:
        """The first message's progress, and texts moved to email, for the front desk."""
        from reminders.desk import Desk

        return Desk(self.sessions, self.clock, self.reroutes, delivery_reports(self.settings))

    @cached_property
    def reroutes(self) -> Reroutes:
        """What moving a patient's plan to another channel needs."""
        from reminders.reroute import Reroutes

        return Reroutes(self.policies, self.service.profiles)

    @cached_property
    def clinic_admin(self) -> ClinicAdmin:
        """The operator's: clinics shown, changed, disabled and enabled, with a record."""
        from reminders.clinic_admin import ClinicAdmin

        return ClinicAdmin(
            sessions=self.sessions,
            clock=self.clock,
            policies=self.policies,
            sources=self.settings.sources_dir,
            configured=self.settings.clinic.slug,
        )

    @property
    def clinic_zone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic.timezone)

    def zone_for(self, treatment: Treatment) -> ZoneInfo:
        """The patient's zone if they have one, else the clinic's."""
        zone = treatment.patient.timezone
        return ZoneInfo(zone) if zone else self.clinic_zone

    def close(self) -> None:
        self.engine.dispose()


# Passwords that examples and tutorials use: a database reached with one is not
# protected (the compose example's `change-me` among them).
PLACEHOLDER_PASSWORDS = frozenset(
    {"change-me", "changeme", "change_me", "password", "secret", "example", "placeholder"}
)


def build_app(settings: Settings, *, clock: Clock | None = None, upgrade: bool = True) -> App:
    """Open the database (migrating it when asked), load policies, sync the clinic."""
    password = make_url(settings.effective_database_url).password
    if password is not None and str(password).lower() in PLACEHOLDER_PASSWORDS:
        raise ConfigError(
            "the database password is an example's placeholder: set a real one "
            "(POSTGRES_PASSWORD in .env for docker-compose.yml, or REMINDERS_DATABASE_URL)"
        )
    policies = load_policies(settings.policies_dir)
    triage = load_triage(settings.config_dir)
    engine = make_engine(
        settings.effective_database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    if not revisions.is_current(engine):
        _migrate_or_refuse(engine, upgrade=upgrade)
    clinic_settings, problems = check_clinic(settings.clinic, policies, settings.sources_dir)
    if problems:
        engine.dispose()
        raise ConfigError(
            "invalid clinic settings (config file or REMINDERS_CLINIC__* variables):\n"
            + "\n".join(f"  {problem}" for problem in problems)
        )
    sessions = make_session_factory(engine)
    bell = wakeups.install(engine)
    clock = clock or SystemClock()
    service = ReminderService(sessions=sessions, clock=clock, policies=policies)
    clinic = service.sync_clinic(clinic_settings, by=config_actor(str(config_file())))
    return App(settings, engine, sessions, clock, policies, service, clinic, bell, triage)


def delivery_reports(settings: Settings) -> frozenset[ChannelKind]:
    """The kinds of message whose channel here reports delivery: the console channel at
    once, Twilio through status callbacks (when it knows where to send them); SMTP never."""
    kinds = set()
    if not settings.twilio.configured or settings.twilio.public_base_url:
        kinds.add(ChannelKind.SMS)
    if not settings.smtp.configured:
        kinds.add(ChannelKind.EMAIL)
    return frozenset(kinds)


def _migrate_or_refuse(engine: Engine, *, upgrade: bool) -> None:
    # The embedded SQLite file migrates itself; a shared server is migrated on
    # purpose (`reminders db upgrade`) so one process cannot surprise the others.
    if upgrade and engine.dialect.name == "sqlite":
        from reminders.db import migrate  # Alembic: only when there is something to apply

        migrate.upgrade(engine)
        return
    engine.dispose()
    raise ConfigError(
        f"database schema is at {revisions.describe_current(engine)}, not the newest "
        f"({revisions.head_revision()}): run `reminders db upgrade`"
    )


def default_channels(settings: Settings) -> ChannelRegistry:
    """Twilio and SMTP where configured; the console channel for any kind that is not."""
    console = ConsoleChannel(settings.data_dir / "outbox.log")
    channels: dict[ChannelKind, Channel] = {ChannelKind.SMS: console, ChannelKind.EMAIL: console}
    # Each provider's SDK is imported only when that provider is configured (Twilio's
    # costs a tenth of a second).
    if settings.twilio.configured:
        from reminders.channels.twilio_sms import TwilioSmsChannel

        channels[ChannelKind.SMS] = TwilioSmsChannel(settings.twilio)
    if settings.smtp.configured:
        from reminders.channels.smtp_email import SmtpEmailChannel

        channels[ChannelKind.EMAIL] = SmtpEmailChannel(settings.smtp)
    return ChannelRegistry(channels)
