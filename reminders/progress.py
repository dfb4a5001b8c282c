"""How a treatment's first message is doing, as the front desk needs to know it.

The first message matters most while the patient is still at the desk: if it did
not arrive, that is the moment to check the number, switch to email, or hand over
the instructions on paper. `first_message` reads the treatment's messages and
says where the first one stands, whether that is the last word (`final`), and what
to do when it is a problem. A pure function: no I/O, `now` passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from reminders.domain import ChannelKind, MessageState

# Due within this of now: waiting for the worker, not planned for later.
DUE_NOW = timedelta(seconds=5)

# Twilio's delivery error codes, as the desk should read them (twilio.com/docs/api/errors).
DELIVERY_ERRORS = {
    "30003": "the phone is off or out of reach",
    "30004": "the patient or their carrier blocks texts from the clinic",
    "30005": "the number is unknown to its carrier (a wrong number?)",
    "30006": "the number is a landline or its carrier cannot take texts",
    "30007": "the carrier filtered it as unwanted",
    "30008": "the carrier could not say why",
    "30034": "the clinic's sender is not registered for texts (US 10DLC)",
    "30036": "it could not be delivered before it stopped being true",
}
WRONG_NUMBER = {"30005", "30006"}
CLINIC_PROBLEM = {"30034"}


class Stage(StrEnum):
    PLANNED = "planned"  # due later: held for quiet hours, or logged ahead of time
    QUEUED = "queued"  # due now, waiting for the worker (or for a retry)
    SENDING = "sending"  # with the provider, its answer not recorded yet
    SENT = "sent"  # the provider has it; no delivery report yet
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"  # the provider reported it undelivered or failed
    FAILED = "failed"  # the provider refused it
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class MessageView(Protocol):
    """What is read of each message."""

    @property
    def id(self) -> int: ...
    @property
    def step_id(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def natural_at(self) -> datetime: ...
    @property
    def send_after(self) -> datetime: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def delivery_status(self) -> str | None: ...
    @property
    def delivery_error(self) -> str | None: ...


@dataclass(frozen=True)
class Reach:
    """What the desk could do about a text that did not arrive."""

    reports_delivery: frozenset[ChannelKind]  # channels whose provider reports delivery
    email_fallback: bool  # the clinic allows email instead of texts
    has_email: bool  # the patient has an address on record


@dataclass(frozen=True)
class FirstMessage:
    message_id: int
    channel: ChannelKind
    stage: Stage
    final: bool  # nothing more will change without someone acting (or it is delivered)
    problem: bool  # it will not reach the patient as it stands
    summary: str
    what_to_do: tuple[str, ...] = ()
    due_at: datetime | None = None  # for a planned message: when it goes
    email_instead: bool = False  # offering to move the texts to email makes sense


def first_message(
    messages: Sequence[MessageView], *, now: datetime, reach: Reach
) -> FirstMessage | None:
    """The first step's newest message (an email planned instead of a refused text, or a
    re-plan, replaces the message before it) and where it stands."""
    if not messages:
        return None
    first_step = min(messages, key=lambda m: (m.natural_at, m.id)).step_id
    message = max((m for m in messages if m.step_id == first_step), key=lambda m: m.id)
    channel = ChannelKind(message.channel)
    stage = _stage(message, now)
    if stage in (Stage.UNDELIVERED, Stage.FAILED, Stage.SKIPPED):
        return _problem(message, channel, stage, reach)
    final = stage in (Stage.PLANNED, Stage.DELIVERED, Stage.CANCELLED) or (
        stage is Stage.SENT and channel not in reach.reports_delivery
    )
    return FirstMessage(
        message.id,
        channel,
        stage,
        final=final,
        problem=False,
        summary=_summary(message, channel, stage),
        due_at=message.send_after if stage is Stage.PLANNED else None,
    )


def _stage(message: MessageView, now: datetime) -> Stage:
    state = MessageState(message.state)
    if state is MessageState.PENDING:
        return Stage.PLANNED if message.send_after > now + DUE_NOW else Stage.QUEUED
    if state is MessageState.SENT:
        status = message.delivery_status
        if status == "delivered":
            return Stage.DELIVERED
        return Stage.UNDELIVERED if status in ("undelivered", "failed") else Stage.SENT
    return {
        MessageState.SENDING: Stage.SENDING,
        MessageState.FAILED: Stage.FAILED,
        MessageState.SKIPPED: Stage.SKIPPED,
        MessageState.CANCELLED: Stage.CANCELLED,
    }[state]


def _summary(message: MessageView, channel: ChannelKind, stage: Stage) -> str:
    what = "text" if channel is ChannelKind.SMS else "email"
    if stage is Stage.QUEUED and message.last_error:
        return f"{what} waiting to be tried again ({message.last_error})"
    return {
        Stage.PLANNED: f"{what} planned for later",
        Stage.QUEUED: f"{what} waiting for the worker",
        Stage.SENDING: f"{what} being handed to the provider",
        Stage.SENT: f"{what} accepted by the provider",
        Stage.DELIVERED: f"{what} delivered",
        Stage.CANCELLED: f"{what} cancelled" + (f": {message.reason}" if message.reason else ""),
    }[stage]


def _problem(
    message: MessageView, channel: ChannelKind, stage: Stage, reach: Reach
) -> FirstMessage:
    what = "text" if channel is ChannelKind.SMS else "email"
    code = message.delivery_error
    if stage is Stage.UNDELIVERED:
        meaning = DELIVERY_ERRORS.get(code or "", f"error {code}" if code else "no reason given")
        summary = f"{what} not delivered: {meaning}"
    else:
        verb = "refused" if stage is Stage.FAILED else "not sent"
        summary = f"{what} {verb}: {message.reason or message.last_error or 'no reason given'}"
    email_instead = channel is ChannelKind.SMS and reach.email_fallback
    return FirstMessage(
        message.id,
        channel,
        stage,
        final=True,
        problem=True,
        summary=summary,
        what_to_do=_what_to_do(channel, code, email_instead, reach.has_email),
        email_instead=email_instead,
    )


def _what_to_do(
    channel: ChannelKind, code: str | None, email_instead: bool, has_email: bool
) -> tuple[str, ...]:
    steps: list[str] = []
    if code in CLINIC_PROBLEM:
        steps.append("tell the clinic's administrator: texts cannot go until this is fixed")
    elif channel is ChannelKind.SMS:
        check = "check the mobile number with the patient"
        steps.append(check + (" (it looks wrong)" if code in WRONG_NUMBER else ""))
    else:
        steps.append("check the email address with the patient")
    if email_instead:
        steps.append(
            "send the aftercare by email instead"
            + ("" if has_email else " (ask the patient for an address)")
        )
    steps.append("print the instructions and hand them to the patient")
    return tuple(steps)
