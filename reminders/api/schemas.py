"""Request and response bodies. Requests forbid unknown fields: no mass assignment."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from reminders.domain import ChannelKind, MessageState, TreatmentStatus
from reminders.progress import Stage


def _printable(value: str) -> str:
    # NUL and other control characters cannot be stored by PostgreSQL or shown safely.
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise ValueError("must not contain control characters")
    return value


Printable = AfterValidator(_printable)
Name = Annotated[str, Field(min_length=1, max_length=120), Printable]
Phone = Annotated[str, Field(min_length=1, max_length=32), Printable]
Email = Annotated[str, Field(min_length=1, max_length=254), Printable]
Zone = Annotated[str, Field(min_length=1, max_length=64), Printable]
TreatmentType = Annotated[str, Field(min_length=1, max_length=40), Printable]
Reason = Annotated[str, Field(min_length=1, max_length=500), Printable]
Length = Annotated[str, Field(min_length=1, max_length=16, pattern=r"^\s*(\d+[dhms]\s*)+$")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatientCreate(_Request):
    name: Name
    phone: Phone | None = Field(
        default=None, description="Mobile number: E.164, or national in the clinic's region."
    )
    email: Email | None = None
    preferred_channel: ChannelKind | None = None
    sms_consent: bool = Field(default=False, description="The patient agreed to receive texts.")
    sms_consent_at: datetime | None = Field(
        default=None, description="When consent was given (default: now, if sms_consent)."
    )
    timezone: Zone | None = Field(
        default=None, description="IANA zone if the patient's differs from the clinic's."
    )


class TreatmentCreate(_Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "patient": {
                        "name": "Jane Doe",
                        "phone": "+12125550199",
                        "sms_consent": True,
                    },
                    "treatment_type": "botox",
                    "performed_at": "2026-11-27T14:30:00-05:00",
                }
            ]
        },
    )

    patient: PatientCreate
    treatment_type: TreatmentType
    performed_at: datetime | None = Field(
        default=None,
        description="With an offset, or a local time read in the clinic's zone. Default: now.",
    )
    restriction: Length | None = Field(
        default=None,
        description="This patient's restriction length (e.g. 6h), within what the policy's "
        "answers support; default: the clinic's.",
    )
    restriction_reason: Reason | None = Field(
        default=None, description="Why this patient's restriction differs (required with it)."
    )


class _Notifying(_Request):
    notify: bool = Field(
        default=True,
        description="Tell the patient when what they were sent changes (false: give "
        "not_notified_reason).",
    )
    not_notified_reason: Reason | None = None
    dry_run: bool = Field(
        default=False,
        description="Say what would happen, the patient's message included; store nothing.",
    )


class TreatmentUpdate(_Notifying):
    performed_at: datetime | None = Field(default=None, description="The corrected treatment time.")
    restriction: Length | None = Field(
        default=None, description="A new restriction length for this patient, e.g. 6h."
    )
    restriction_reason: Reason | None = None


class CancelRequest(_Notifying):
    reason: Reason = "cancelled by the clinic"
    error: bool = Field(
        default=False,
        description="Logged in error (the wrong patient): whoever received its messages is "
        "told to disregard them.",
    )


class EmailInsteadRequest(_Request):
    email: Email | None = Field(
        default=None,
        description="The patient's address, if none is on record or it changed.",
    )
    reason: Reason = "the texts did not arrive"


class PreviewRequest(_Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"treatment_type": "botox", "performed_at": "2026-03-08T00:30:00"}]
        },
    )

    treatment_type: TreatmentType
    performed_at: datetime | None = Field(
        default=None, description="Default: now. Within 10 years of today."
    )
    logged_at: datetime | None = Field(
        default=None,
        description="When it would be logged (default: the treatment time). Within 10 years "
        "of today.",
    )
    channel: ChannelKind = ChannelKind.SMS
    timezone: Zone | None = None
    restriction: Length | None = Field(
        default=None, description="A patient's own restriction length; default: the clinic's."
    )


class AcknowledgeRequest(_Request):
    by: Annotated[str, Field(min_length=1, max_length=80), Printable] = Field(
        description="Who called the patient or dealt with it."
    )


class ConfirmOptOutRequest(_Request):
    by: Annotated[str, Field(min_length=1, max_length=80), Printable] = Field(
        description="Who confirmed the patient's request to stop texts."
    )


class AlertPublic(BaseModel):
    id: int
    kind: str = Field(description="needs_call: the service can no longer reach the patient.")
    treatment_id: int | None
    detail: str = Field(description="Why, and what the patient will miss.")
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class ChannelWaitingPublic(BaseModel):
    channel: ChannelKind
    problem: str
    since: datetime
    retry_at: datetime | None


class ReplyPublic(BaseModel):
    id: int
    received_at: datetime
    kind: str = Field(description="reply, or the keyword handled: opt_out, opt_in, help.")
    triage: str | None = Field(
        description="emergency, clinical, opt_out_request (asked in words to stop texts: "
        "staff confirm or dismiss) or ordinary; none for a keyword."
    )
    flags: list[str] = Field(description="Ids of the red flags the reply matched.")
    flag_labels: list[str] = Field(description="The same flags, as staff read them.")
    body: str
    from_phone: str
    answer: str | None = Field(description="What the patient was answered at once, if anything.")
    patient_id: int | None
    patient_name: str | None
    treatment_id: int | None = Field(description="The patient's latest treatment.")
    open: bool = Field(
        description="Waiting for staff: flagged or a request to stop, unacknowledged."
    )
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    opt_out_confirmed_at: datetime | None


class ReplyPage(BaseModel):
    items: list[ReplyPublic] = Field(
        description="Replies waiting for staff first (emergencies, clinical flags, requests "
        "to stop), then newest first."
    )
    open_flagged: int = Field(description="Flagged replies nobody has acknowledged yet.")


class AlertPage(BaseModel):
    items: list[AlertPublic] = Field(description="Open alerts, oldest first.")
    replies: list[ReplyPublic] = Field(
        description="Flagged replies nobody has acknowledged yet (see /v1/replies)."
    )
    channels_waiting: list[ChannelWaitingPublic] = Field(
        description="Channels whose provider refused the deployment's settings: their "
        "messages wait, attempts unspent, until the settings are fixed."
    )


class EventPublic(BaseModel):
    at: datetime
    kind: str
    state: MessageState
    detail: str | None


class MessagePublic(BaseModel):
    id: int
    step_id: str
    channel: ChannelKind
    state: MessageState
    natural_at: datetime
    due_at: datetime
    due_at_local: datetime
    expires_at: datetime | None
    not_before: datetime | None
    sent_at: datetime | None
    attempts: int
    subject: str | None
    body: str
    sent_subject: str | None = Field(
        description="The subject as sent, where it differs from the planned one."
    )
    sent_body: str | None = Field(
        description="The text as sent, where it differs from the planned one: written anew "
        "for the moment it went (it went late), or from a newer policy."
    )
    policy_version: str
    note: str | None
    reason: str | None
    last_error: str | None
    delivery_status: str | None = Field(
        description="What the provider last reported: queued, sent, delivered, undelivered, failed."
    )
    delivery_error: str | None = Field(description="The provider's error code, if any.")
    events: list[EventPublic]


class PatientPublic(BaseModel):
    id: int
    name: str
    phone: str | None
    email: str | None
    preferred_channel: ChannelKind | None
    sms_consent_at: datetime | None
    timezone: str | None


class TreatmentPublic(BaseModel):
    id: int
    treatment_type: str
    status: TreatmentStatus
    performed_at: datetime
    performed_at_local: datetime
    logged_at: datetime
    restriction: str = Field(description="The treatment's restriction length, e.g. 4h.")
    restriction_reason: str | None = Field(
        description="Why this patient's restriction differs from the clinic's, if it does."
    )
    restriction_source: str | None = Field(
        description="The clinic's own source (file@version) for a length the policy's "
        "answers do not cover."
    )
    policy_version: str
    cancelled_at: datetime | None
    cancel_reason: str | None
    correction_note: str | None = Field(
        description="What the patient was told of the last correction, or why not."
    )
    patient: PatientPublic
    messages: list[MessagePublic]
    alerts: list[AlertPublic] = Field(
        description="What staff were asked to act on for this treatment, open or acknowledged."
    )


class FirstMessagePublic(BaseModel):
    """Where the treatment's first message stands, for the desk while the patient is there."""

    message_id: int
    channel: ChannelKind
    stage: Stage = Field(
        description="planned (due later), queued, sending, sent (the provider has it), "
        "delivered, undelivered, failed (refused), skipped or cancelled."
    )
    final: bool = Field(
        description="Nothing more will change unless someone acts: delivered, a problem, "
        "planned for later, or sent where the provider reports no delivery."
    )
    problem: bool = Field(description="It will not reach the patient as it stands.")
    summary: str
    what_to_do: list[str] = Field(description="For a problem: what the desk can do now.")
    due_at: datetime | None = Field(description="For a message planned for later: when.")
    due_at_local: datetime | None
    email_instead: bool = Field(
        description="Moving the patient's texts to email is possible: "
        "POST /v1/treatments/{id}/email-instead."
    )


class TreatmentLogged(TreatmentPublic):
    first_message: FirstMessagePublic | None = Field(
        description="The first message's progress: as the response left (with `wait`, once "
        "it reached its last word or the wait ended)."
    )


class TreatmentPage(BaseModel):
    items: list[TreatmentPublic]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class CancelPublic(BaseModel):
    treatment: TreatmentPublic
    cancelled_message_ids: list[int]
    in_flight_message_ids: list[int] = Field(
        description="Messages already being handed to a provider: they may still arrive."
    )
    withdrawal: PlannedStepPublic | None = Field(
        description="For a treatment logged in error: what whoever received its messages is told."
    )
    notified: bool = Field(description="Whether that message goes.")
    dry_run: bool


class CorrectionPublic(BaseModel):
    treatment: TreatmentPublic = Field(description="As stored; for a dry run, as it would be.")
    kind: str | None = Field(
        description="tightened (told at once), loosened, ended; null: the patient need not be told."
    )
    correction: PlannedStepPublic | None = Field(description="What the patient is told.")
    notified: bool = Field(description="Whether it goes.")
    not_notified_reason: str | None
    dry_run: bool


class PlannedStepPublic(BaseModel):
    step_id: str
    channel: ChannelKind
    natural_at: datetime
    due_at: datetime
    due_at_local: datetime
    expires_at: datetime | None
    not_before: datetime | None
    subject: str | None
    body: str
    skip_reason: str | None
    note: str | None


class PlanPublic(BaseModel):
    treatment_at: datetime
    restriction_end: datetime
    restriction_end_local: datetime
    timezone: str
    policy_version: str
    steps: list[PlannedStepPublic]


class CitationPublic(BaseModel):
    heading: str
    clinician: str
    quote: str | None


class InstructionPublic(BaseModel):
    says: str
    citations: list[CitationPublic]


class WindowPublic(BaseModel):
    id: str
    length: str = Field(description='"restriction" (the treatment\'s length) or a fixed one.')
    avoid: list[str]
    resume: list[str]
    instructions: list[InstructionPublic]


class RestrictionRangePublic(BaseModel):
    shortest: str
    longest: str
    says: str
    citations: list[CitationPublic]


class PolicyStepPublic(BaseModel):
    id: str
    offset: str
    expires: str
    not_before_restriction_end: bool
    may_wait: bool
    when: str = Field(
        description="planned (with every treatment), or the correction it is sent for: "
        "tightened, loosened, ended, withdrawn."
    )
    sms: str
    email_subject: str
    email_body: str
    instructions: list[InstructionPublic]


class PolicyPublic(BaseModel):
    treatment: str
    title: str
    version: str
    restriction: str = Field(description="This clinic's restriction length.")
    supported_restrictions: RestrictionRangePublic = Field(
        description="The restriction lengths the cited answers support."
    )
    windows: list[WindowPublic] = Field(description="What to avoid, for how long, and why.")
    steps: list[PolicyStepPublic]


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    detail: list[ErrorDetail]


class MessageOut(BaseModel):
    detail: str


class Health(BaseModel):
    status: str
