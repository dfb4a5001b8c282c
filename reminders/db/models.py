"""SQLAlchemy 2.0 models. Every planned message is a row: the database is the schedule."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from reminders.db.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


def table_of(model: type[Base]) -> Table:
    """A model's table, for Core statements."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class Clinic(Base):
    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    phone: Mapped[str] = mapped_column(String(20))
    region: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))
    restriction: Mapped[str] = mapped_column(String(16))
    quiet_hours: Mapped[str | None] = mapped_column(String(16))
    default_channel: Mapped[str] = mapped_column(String(10))
    show_patient_name: Mapped[bool]
    show_product_name: Mapped[bool]
    time_format: Mapped[str] = mapped_column(String(3))
    sms_from: Mapped[str | None] = mapped_column(String(20))
    messaging_service_sid: Mapped[str | None] = mapped_column(String(34))
    email_fallback: Mapped[bool] = mapped_column(default=True)
    # The clinic's own source for a restriction length the policies' answers do not
    # support: a file in config/sources and the sentence in it that sets the length.
    restriction_source: Mapped[str | None] = mapped_column(String(120))
    restriction_quote: Mapped[str | None] = mapped_column(Text)
    # Who hears of a flagged reply at once (by text, by email, or both), and what
    # a reply without a flag is answered, if anything.
    on_call_phone: Mapped[str | None] = mapped_column(String(20))
    on_call_email: Mapped[str | None] = mapped_column(String(254))
    reply_auto_answer: Mapped[str | None] = mapped_column(Text)
    # SMS segments a month, none for no budget; test mode and its destinations.
    sms_monthly_segments: Mapped[int | None]
    test_mode: Mapped[bool] = mapped_column(default=False)
    test_phone: Mapped[str | None] = mapped_column(String(20))
    test_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # A disabled clinic logs no treatments and its API keys are refused; what was
    # already planned for its patients still goes (reminders.clinic_admin).
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))


class ClinicChange(Base):
    """One setting of a clinic changed: by whom, when, from what to what."""

    __tablename__ = "clinic_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    changed_at: Mapped[datetime]
    # `cli:<os user>`, `admin-key:<label>` or `config:<file>` (reminders.actors).
    changed_by: Mapped[str] = mapped_column(String(120))
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    email: Mapped[str | None] = mapped_column(String(254))
    preferred_channel: Mapped[str | None] = mapped_column(String(10))
    timezone: Mapped[str | None] = mapped_column(String(64))  # only if not the clinic's
    sms_consent_at: Mapped[datetime | None]  # when the patient agreed to texts; None: no consent
    # Set when the retention setting removed the phone and email (reminders.retention).
    contact_removed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_patients_clinic_phone", "clinic_id", "phone"),
        Index("ix_patients_clinic_email", "clinic_id", "email"),
    )


class Treatment(Base):
    __tablename__ = "treatments"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    treatment_type: Mapped[str] = mapped_column(String(40))
    performed_at: Mapped[datetime]
    logged_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12))
    policy_version: Mapped[str] = mapped_column(String(60))
    # The treatment's restriction length, kept by corrections unless changed on purpose:
    # the clinic's when logged, or one staff gave for this patient, with their reason.
    restriction: Mapped[str] = mapped_column(String(16))
    restriction_reason: Mapped[str | None] = mapped_column(Text)
    # The clinic's own source (file@version) for a length the answers do not support.
    restriction_source: Mapped[str | None] = mapped_column(String(160))
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    # What the patient was told of the last correction, or why they were not told.
    correction_note: Mapped[str | None] = mapped_column(Text)
    # Who logged it: `cli:<os user>`, `apikey:<label>`; None for rows older than the column.
    logged_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    patient: Mapped[Patient] = relationship(lazy="joined")
    clinic: Mapped[Clinic] = relationship()
    messages: Mapped[list[Message]] = relationship(
        back_populates="treatment", order_by="Message.id", lazy="selectin"
    )
    alerts: Mapped[list[Alert]] = relationship(order_by="Alert.id", lazy="selectin", viewonly=True)

    __table_args__ = (Index("ix_treatments_clinic_performed", "clinic_id", "performed_at"),)


def _where(state: str) -> dict[str, Any]:
    condition = text(f"state = '{state}'")
    return {"sqlite_where": condition, "postgresql_where": condition}


PENDING_ROW = literal_column("'pending'", String)
SENDING_ROW = literal_column("'sending'", String)


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatments.id"), index=True)
    step_id: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(12))
    natural_at: Mapped[datetime]  # treatment + offset, before late-logging or quiet hours
    due_at: Mapped[datetime]  # when it should go out
    send_after: Mapped[datetime]  # due_at, or the next retry
    expires_at: Mapped[datetime | None]  # never sent at or after
    not_before: Mapped[datetime | None]  # never sent before
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # The text as it went, where it differs from the planned one above (written
    # anew at send time because it went late, or from a newer policy).
    sent_subject: Mapped[str | None] = mapped_column(Text)
    sent_body: Mapped[str | None] = mapped_column(Text)
    policy_version: Mapped[str] = mapped_column(String(60))
    note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)  # why skipped, failed or cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(80), index=True)
    # What the provider later reported: queued, sent, delivered, undelivered, failed.
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    delivery_error: Mapped[str | None] = mapped_column(String(16))
    delivery_updated_at: Mapped[datetime | None]
    # A claim: who holds it, until when, and the token every outcome must match.
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None]
    # Set when the provider call begins: from then on a cancel cannot stop it.
    handed_at: Mapped[datetime | None]
    # The text the call in flight sends, where it differs from `body` (written anew at
    # send time); written before the call, so a worker that dies mid-call leaves it.
    attempt_body: Mapped[str | None] = mapped_column(Text)
    # A call whose outcome is unknown (a 5xx, a timeout, a worker that died mid-call):
    # when it began and the text it carried, to look for at the provider before
    # sending again. Cleared once found there, or found not to be.
    uncertain_since: Mapped[datetime | None]
    uncertain_body: Mapped[str | None] = mapped_column(Text)
    # Why a pending message is parked for staff ("sms_budget": over the clinic's SMS
    # budget; see reminders.spend). None for every other message.
    held_for: Mapped[str | None] = mapped_column(String(20))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    treatment: Mapped[Treatment] = relationship(back_populates="messages")
    events: Mapped[list[MessageEvent]] = relationship(order_by="MessageEvent.id", viewonly=True)

    # The queue's indexes are partial: they hold only the rows still to send
    # (pending) or being sent, not the history, so they stay small however
    # much has been sent, and settling a send writes to none of them. Queries
    # name the state as a literal (PENDING_ROW, SENDING_ROW) so that both
    # databases can use them.
    __table_args__ = (
        # The next wake; claims in due order; the expiry sweep.
        Index("ix_messages_pending_send_after", "send_after", **_where("pending")),
        Index("ix_messages_pending_due_at", "due_at", "id", **_where("pending")),
        Index("ix_messages_pending_expires_at", "expires_at", **_where("pending")),
        # A claim's rows; lease sweeps read the few rows being sent. No index on
        # lease_until, and on PostgreSQL a fill factor of 80 (migration 0005):
        # starting a send then updates the row in place.
        Index("ix_messages_sending_claim_token", "claim_token", **_where("sending")),
        # The few messages held for staff, by clinic: the worker looks for them each second.
        Index(
            "ix_messages_held_clinic",
            "clinic_id",
            sqlite_where=text("held_for IS NOT NULL"),
            postgresql_where=text("held_for IS NOT NULL"),
        ),
    )


class MessageEvent(Base):
    """Append-only history of a message: planned, claimed, sent, retried, skipped..."""

    __tablename__ = "message_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(12))
    detail: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(80))


class ApiKey(Base):
    """A clinic's API key, or the operator's admin key (no clinic); only a hash of the
    secret is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"), index=True)
    # An admin key manages clinics and acts for none: it has no clinic, and a clinic's
    # key is never an admin key (the check keeps the two apart in the rows themselves).
    admin: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # public part, for lookup
    secret_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (CheckConstraint("admin = (clinic_id IS NULL)", name="admin_has_no_clinic"),)


class IdempotencyKey(Base):
    """A client's Idempotency-Key and the treatment its first request created."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatments.id"))
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("clinic_id", "key", name="uq_idempotency_keys_clinic_key"),)


class ImportKey(Base):
    """A row already imported from a file (its EMR id, or a hash of the row) and the
    treatment it became: importing the file again logs it once."""

    __tablename__ = "import_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    key: Mapped[str] = mapped_column(String(255))
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatments.id"))
    created_at: Mapped[datetime]

    # The key leads: a look-up by a file's keys then reads the index by key, even where the
    # planner's statistics still take the table (just filled by an import) for empty.
    __table_args__ = (UniqueConstraint("key", "clinic_id", name="uq_import_keys_key_clinic"),)


class SmsOptOut(Base):
    """A phone that texted STOP to a clinic's sender: no more texts from that clinic."""

    __tablename__ = "sms_opt_outs"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    phone: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(40))  # the keyword, or Twilio's 21610
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("clinic_id", "phone", name="uq_sms_opt_outs_clinic_phone"),)


_OPEN_REPLY = text(
    "acknowledged_at IS NULL AND triage IN ('emergency', 'clinical', 'opt_out_request')"
)


class InboundMessage(Base):
    """A text a patient sent us: keywords handled, the rest triaged and kept for staff."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"), index=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    # The patient's latest treatment when the reply came: what it most likely answers.
    treatment_id: Mapped[int | None] = mapped_column(ForeignKey("treatments.id"))
    provider_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    from_phone: Mapped[str] = mapped_column(String(20))
    to_sender: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(12))  # opt_out, opt_in, help, reply
    # A reply's triage (emergency, clinical, opt_out_request, ordinary) and the ids
    # of the flags it matched, comma-separated; None for keywords.
    triage: Mapped[str | None] = mapped_column(String(20))
    flags: Mapped[str | None] = mapped_column(String(200))
    answer: Mapped[str | None] = mapped_column(Text)  # what the patient was answered
    received_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))
    # A request in words to stop texts, confirmed by staff (then handled as STOP).
    opt_out_confirmed_at: Mapped[datetime | None]

    patient: Mapped[Patient | None] = relationship(viewonly=True)

    __table_args__ = (
        # A clinic's replies waiting for staff: the top of the inbox.
        Index(
            "ix_inbound_messages_open_clinic",
            "clinic_id",
            "received_at",
            sqlite_where=_OPEN_REPLY,
            postgresql_where=_OPEN_REPLY,
        ),
    )

    @property
    def flag_ids(self) -> list[str]:
        return self.flags.split(",") if self.flags else []


class OnCallAlert(Base):
    """A flagged reply to tell the clinic's on-call contact of, by one channel: written
    with the reply, claimed and sent by a worker (see reminders.on_call)."""

    __tablename__ = "on_call_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    inbound_id: Mapped[int] = mapped_column(ForeignKey("inbound_messages.id"))
    channel: Mapped[str] = mapped_column(String(10))
    to: Mapped[str] = mapped_column(String(254))  # the on-call phone or email when written
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12))  # pending, sending, sent, failed
    send_after: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(80))
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        # One alert per reply and channel: a retried webhook cannot add a second.
        UniqueConstraint("inbound_id", "channel", name="uq_on_call_alerts_inbound_channel"),
        Index("ix_on_call_alerts_pending_send_after", "send_after", **_where("pending")),
        Index("ix_on_call_alerts_sending_lease_until", "lease_until", **_where("sending")),
    )


class Alert(Base):
    """Something staff must act on, kept until someone acknowledges it: a patient the
    service can no longer reach ("needs a call"), with what they will miss."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    treatment_id: Mapped[int | None] = mapped_column(ForeignKey("treatments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))

    treatment: Mapped[Treatment | None] = relationship(viewonly=True)

    __table_args__ = (
        # The open alerts of a clinic: the desk's list.
        Index(
            "ix_alerts_open_clinic",
            "clinic_id",
            "created_at",
            sqlite_where=text("acknowledged_at IS NULL"),
            postgresql_where=text("acknowledged_at IS NULL"),
        ),
    )


class SmsUsage(Base):
    """SMS segments a clinic sent in a calendar month of its time zone, kept only for
    clinics with a budget; this month's extra allowance staff gave, and the 80 % warning."""

    __tablename__ = "sms_usage"

    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # "2026-11"
    segments: Mapped[int] = mapped_column(Integer, default=0)
    allowed_segments: Mapped[int] = mapped_column(Integer, default=0)
    allowed_by: Mapped[str | None] = mapped_column(String(80))
    allowed_at: Mapped[datetime | None]
    warned_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class EarlyDeliveryReport(Base):
    """A delivery report for a provider id no message carries yet: it arrived before
    the worker recorded the send. Applied when the id lands; dropped as foreign if it
    never does."""

    __tablename__ = "early_delivery_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(80), index=True)
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime]


class ChannelProblem(Base):
    """A channel waiting on our own settings (credentials refused): shown to staff until
    a send on it succeeds again."""

    __tablename__ = "channel_problems"

    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    problem: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime]
    retry_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class StaffAccount(Base):
    """A person at a clinic's front desk who signs in to the web page.

    `username` is kept case-folded, so `Ann@Example.org` and `ann@example.org` are one
    account; only an argon2id hash of the password is kept.
    """

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    username: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]
    # Wrong passwords since the last sign-in (or the last lock-out).
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_sign_in_at: Mapped[datetime | None]


class StaffSession(Base):
    """A web session, found by a SHA-256 of the cookie's random token (never the token).

    A row without `staff_id` is a sign-in form's session: it carries the form's CSRF
    token until the person signs in, when it is replaced by a new row.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # The earlier of the idle timeout from `last_seen_at` and the absolute one.
    expires_at: Mapped[datetime] = mapped_column(index=True)
