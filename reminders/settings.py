"""Settings: config/clinic.toml, overridden by REMINDERS_* environment variables.

Nested keys use a double underscore: REMINDERS_CLINIC__NAME, REMINDERS_WORKER__BATCH_SIZE.
"""

from __future__ import annotations

import os
import re
from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from reminders.db.engine import MAX_OVERFLOW, POOL_SIZE
from reminders.domain import ChannelKind, ClinicProfile, QuietHours
from reminders.durations import parse_duration
from reminders.errors import ConfigError
from reminders.inputs import is_zone_name
from reminders.policies import MAX_RESTRICTION, MIN_RESTRICTION

_QUIET = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


def parse_quiet_hours(text: str) -> QuietHours:
    match = _QUIET.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a span like 21:00-08:00")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    try:
        return QuietHours(time(h1, m1), time(h2, m2))
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from exc


class ClinicSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    name: str = Field(min_length=1, max_length=60)
    phone: str
    region: str = Field(default="US", min_length=2, max_length=2)
    timezone: str
    restriction: str = "4h"
    quiet_hours: str | None = "21:00-08:00"
    default_channel: ChannelKind = ChannelKind.SMS
    show_patient_name: bool = False
    show_product_name: bool = False
    time_format: Literal["12h", "24h"] = "12h"
    # This clinic's own SMS sender, if not the deployment's.
    sms_from: str | None = None
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    # When a text cannot be delivered (invalid or landline number), email instead.
    email_fallback: bool = True
    # A restriction length the policies' cited answers do not support needs the
    # clinic's own source: a file in config/sources and the sentence in it that sets
    # the length (checked word for word; its version is recorded on each treatment).
    restriction_source: str | None = Field(default=None, max_length=120)
    restriction_quote: str | None = None
    # Who hears of a patient's reply that names a red flag or an emergency, at once:
    # by text, by email, or both. Without either, flagged replies reach staff only
    # in the inbox (`reminders replies`).
    on_call_phone: str | None = None
    on_call_email: str | None = Field(default=None, max_length=254)
    # What a reply without a flag is answered; none by default.
    reply_auto_answer: str | None = Field(default=None, max_length=320)
    # SMS segments the clinic may send in a calendar month (its time zone); none: no
    # budget. At 80 % staff are warned; at 100 % texts go by email or are held (README).
    sms_monthly_segments: int | None = Field(default=None, ge=1, le=100_000_000)
    # Test mode: every text goes to test_phone and every email to test_email instead of
    # the patient, to try policies safely (checked in clinic_checks).
    test_mode: bool = False
    test_phone: str | None = None
    test_email: str | None = Field(default=None, max_length=254)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not is_zone_name(value):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)")
        return value

    @field_validator("restriction")
    @classmethod
    def _restriction(cls, value: str) -> str:
        length = parse_duration(value)
        if not MIN_RESTRICTION <= length <= MAX_RESTRICTION:
            raise ValueError("must be between 30m and 7d")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value:
            parse_quiet_hours(value)
        return value or None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return _e164(value)

    @field_validator("on_call_phone", "test_phone")
    @classmethod
    def _on_call_phone(cls, value: str | None) -> str | None:
        return _e164(value) if value and value.strip() else None

    @field_validator("on_call_email", "test_email")
    @classmethod
    def _on_call_email(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        try:
            return validate_email(value.strip(), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(f"is not a valid email address: {exc}") from exc

    @field_validator("reply_auto_answer")
    @classmethod
    def _auto_answer(cls, value: str | None) -> str | None:
        return " ".join(value.split()) or None if value else None

    @property
    def has_on_call(self) -> bool:
        return bool(self.on_call_phone or self.on_call_email)

    def profile(self) -> ClinicProfile:
        number = phonenumbers.parse(self.phone, None)
        return ClinicProfile(
            name=self.name,
            phone_display=phonenumbers.format_number(
                number, phonenumbers.PhoneNumberFormat.NATIONAL
            ),
            timezone=ZoneInfo(self.timezone),
            restriction=parse_duration(self.restriction),
            quiet_hours=parse_quiet_hours(self.quiet_hours) if self.quiet_hours else None,
            default_channel=self.default_channel,
            show_patient_name=self.show_patient_name,
            show_product_name=self.show_product_name,
            clock_24h=self.time_format == "24h",
        )


class WorkerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # How often to look for work that another process added; the worker also
    # wakes exactly at the next due instant it knows of.
    poll_interval: float = Field(default=0.5, gt=0, le=60)
    # The most messages one claim takes; each claim is sized to about a second
    # of sending at the provider's measured speed, up to this.
    batch_size: int = Field(default=1000, ge=1, le=10_000)
    # A claim not settled within the lease is taken back (its worker is presumed dead).
    lease_seconds: int = Field(default=120, ge=10)
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_base_seconds: float = Field(default=30, gt=0)
    retry_max_seconds: float = Field(default=900, gt=0)
    # `reminders worker` serves /metrics on this port (0: not served; 9464 is the
    # usual choice). `serve` needs none: its API's /metrics has the worker's counters.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Requests per key per minute, with bursts up to `rate_burst`.
    rate_per_minute: int = Field(default=120, ge=1)
    rate_burst: int = Field(default=30, ge=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # The longest a request may wait for a first message's delivery (`wait`): each
    # waiting request holds one of the process's request threads meanwhile.
    max_wait_seconds: float = Field(default=30, ge=0, le=30)
    # Required from scrapers of /metrics when set (Authorization: Bearer <token>).
    metrics_token: str | None = None


class RetentionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Days after a patient's last message settled (or their treatment last changed)
    # until their phone and email are removed; None keeps them.
    contact_days: int | None = Field(default=None, ge=1, le=36_500)


def _e164(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("must be an international number like +15551234567") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class WebSettings(BaseModel):
    """The front desk's web page, served by the API process."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # A session ends after this long without a request, and in any case this long
    # after sign-in: a front desk computer left signed in overnight is signed out.
    session_idle_hours: float = Field(default=12, gt=0, le=24 * 7)
    session_max_days: float = Field(default=7, gt=0, le=90)
    # Consecutive wrong passwords that lock an account, and for how long.
    lockout_attempts: int = Field(default=5, ge=1, le=100)
    lockout_minutes: float = Field(default=15, gt=0, le=24 * 60)
    # argon2id's cost: argon2-cffi's defaults (RFC 9106's second choice: 64 MiB, 3 passes)
    # take about half a second a sign-in on one core. A smaller host may lower them
    # (OWASP's floor is 19 MiB with 2 passes); hashes are renewed at the next sign-in.
    password_hash_memory_kib: int = Field(default=65_536, ge=8_192, le=4_194_304)
    password_hash_time_cost: int = Field(default=3, ge=1, le=20)


def _secret(value: str | None, file: Path | None, name: str) -> str | None:
    """A secret given directly or, for container secrets, as a file holding it."""
    if value:
        return value
    if file is None:
        return None
    try:
        return file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{name}_file {file}: {exc.strerror}") from exc


class TwilioSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_sid: str | None = Field(default=None, pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: str | None = None
    auth_token_file: Path | None = None
    # The sender for clinics that set none: a number, or a Messaging Service.
    from_number: str | None = None
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    # Where Twilio reaches our webhooks, as the public sees it (behind any
    # TLS-terminating proxy): status callbacks are built on it and every
    # webhook signature is checked against it.
    public_base_url: str | None = Field(default=None, pattern=r"^https?://[^/]+(/.*)?$")
    # Only for tests against a local Twilio-compatible server.
    api_base_url: str | None = Field(default=None, pattern=r"^https?://")
    # Messages per second per sender: 1 for a US long code, 3 toll-free, 100 short code.
    rate_per_second: float = Field(default=1.0, gt=0, le=1000)
    timeout_seconds: float = Field(default=15, gt=0, le=120)
    # How long after a create Twilio's Messages list may take to show the message: a
    # text whose create may have been processed is sent again only if it is still not
    # listed this long after the call began (until then it is held, never resent).
    listing_lag_seconds: float = Field(default=60, ge=0, le=3600)

    def token(self) -> str | None:
        return _secret(self.auth_token, self.auth_token_file, "twilio.auth_token")

    @property
    def configured(self) -> bool:
        return bool(
            self.account_sid and self.token() and (self.from_number or self.messaging_service_sid)
        )


class SmtpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = None
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None
    from_address: str | None = None
    # A CA bundle to trust instead of the system's (a private mail relay).
    ca_file: Path | None = None
    timeout_seconds: float = Field(default=15, gt=0, le=120)

    def secret(self) -> str | None:
        return _secret(self.password, self.password_file, "smtp.password")

    @property
    def configured(self) -> bool:
        return bool(self.host and self.from_address)


def config_dir_from_env() -> Path:
    return Path(os.environ.get("REMINDERS_CONFIG_DIR", "config"))


def config_file() -> Path:
    """The settings file read at start-up (whether or not it exists)."""
    return _config_file()


def _config_file() -> Path:
    explicit = os.environ.get("REMINDERS_CONFIG_FILE")
    if explicit:
        return Path(explicit)
    return config_dir_from_env() / "clinic.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REMINDERS_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Path("data")
    config_dir: Path = Path("config")
    database_url: str | None = None
    # Connections each process keeps to PostgreSQL, and how many more it may open
    # under load (SQLite ignores both).
    database_pool_size: int = Field(default=POOL_SIZE, ge=1, le=1000)
    database_max_overflow: int = Field(default=MAX_OVERFLOW, ge=0, le=1000)
    clinic: ClinicSettings
    worker: WorkerSettings = WorkerSettings()
    api: ApiSettings = ApiSettings()
    web: WebSettings = WebSettings()
    twilio: TwilioSettings = TwilioSettings()
    smtp: SmtpSettings = SmtpSettings()
    retention: RetentionSettings = RetentionSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml, file_secret_settings)

    @property
    def policies_dir(self) -> Path:
        return self.config_dir / "policies"

    @property
    def sources_dir(self) -> Path:
        """Where cited sources live: the answers, and clinics' own protocols."""
        return self.config_dir / "sources"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'reminders.db').resolve()}"


def load_settings(**overrides: object) -> Settings:
    """Read settings; a bad value stops start-up with the file and key named."""
    path = _config_file()
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors()
        ]
        raise ConfigError(
            f"invalid settings (file {path}, or REMINDERS_* variables):\n" + "\n".join(lines)
        ) from exc
