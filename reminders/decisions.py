"""Pure decisions about one message at the moment it would go, and after the provider answered.

`before_send` asks the planner's own rules again with `now` the moment of
sending, whatever brought the message here (its first attempt, a retry, the
end of a pause, a claim taken back after a lease expired): never early, never
stale, not in the quiet hours if it may wait, and in words that are true now.
`after_refusal` says what a provider's refusal means for the message, and
`after_lookup` what to do with a message whose earlier call may have reached the
provider, once the provider was asked (or could not be).

Both return values; the dispatcher claims, asks, acts and records. No I/O and
no clock here: everything is passed in, so both are tested as tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from reminders.domain import ChannelKind, ClinicProfile
from reminders.durations import describe_duration
from reminders.errors import ChannelError, FaultScope
from reminders.localtime import format_clock
from reminders.planning import after_quiet_hours, render_step, unhelpful_reason
from reminders.policies import Policy, Step

# A text speaks in whole minutes ("for the next 4 hours (until 2:00 PM)"): sent
# within a minute of the moment it was written for, on the same local day, it
# is still true as written. Later it is written again for the moment it goes.
RENDER_GRACE = timedelta(minutes=1)
# The least validity a provider can carry (Twilio's ValidityPeriod is whole seconds).
MIN_VALIDITY = timedelta(seconds=1)


class DueMessage(Protocol):
    """What the decision reads of a claimed message."""

    @property
    def channel(self) -> ChannelKind: ...
    @property
    def step_id(self) -> str: ...
    @property
    def due_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def not_before(self) -> datetime | None: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def body(self) -> str: ...
    @property
    def policy_version(self) -> str: ...
    @property
    def performed_at(self) -> datetime: ...
    @property
    def patient_name(self) -> str: ...
    @property
    def sms_consent(self) -> bool: ...
    @property
    def opted_out(self) -> bool: ...


@dataclass(frozen=True)
class SmsBudget:
    """A clinic's SMS segments this calendar month: used so far, and what it may use."""

    month: str  # "2026-11", in the clinic's zone
    used: int
    limit: int  # the monthly budget plus any allowance staff gave this month


@dataclass(frozen=True)
class SendContext:
    """What the message's text is made from: its clinic, policy, zone and restriction."""

    clinic: ClinicProfile
    policy: Policy | None  # the treatment type's policy as loaded now
    zone: ZoneInfo  # the patient's, else the clinic's
    restriction: timedelta  # the treatment's, as planned
    sms_budget: SmsBudget | None = None  # None: the clinic has no SMS budget


# -- before sending ---------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    subject: str | None
    body: str
    valid_for: timedelta | None  # how long a provider may still deliver it
    rewritten: str | None = None  # why the text differs from the planned one, if it does


@dataclass(frozen=True)
class Hold:
    """Not yet: back to the queue until `until`; the attempt does not count."""

    until: datetime
    why: str
    expires_at: datetime | None  # the step's usefulness, extended if quiet hours hold it


@dataclass(frozen=True)
class Skip:
    why: str


@dataclass(frozen=True)
class Reroute:
    """This channel cannot carry it (texts refused or not consented to): not sent, and the
    patient's remaining plan moves to another channel where one exists."""

    why: str


@dataclass(frozen=True)
class OverBudget:
    """A text that would go now, but the clinic's SMS budget for the month is used up:
    by email where the patient can take it, else held for staff (reminders.spend)."""

    why: str


SendDecision = Send | Hold | Skip | Reroute | OverBudget


def before_send(message: DueMessage, *, now: datetime, context: SendContext) -> SendDecision:
    """What to do with a claimed message at `now`, the moment it would go."""
    if message.not_before is not None and now < message.not_before:
        # Never early: an all-clear waits for its restriction to end.
        return Hold(message.not_before, "not before the restriction ends", message.expires_at)
    step = context.policy.step(message.step_id) if context.policy else None
    stale = _stale_reason(message, now, context, step)
    if stale:
        return Skip(stale)
    if message.channel is ChannelKind.SMS:
        blocked = sms_block_reason(message)
        if blocked:
            return Reroute(blocked)
    if step is not None and step.may_wait and context.clinic.quiet_hours:
        held = _quiet_hold(message, now, context, step)
        if held is not None:
            return held
    budget = context.sms_budget
    if message.channel is ChannelKind.SMS and budget is not None and budget.used >= budget.limit:
        # Only a text that would otherwise go now: a held or stale one is not its concern.
        return OverBudget(
            f"over the clinic's SMS budget: {budget.used} of {budget.limit} segments "
            f"used in {budget.month}"
        )
    return _send(message, now, context, step)


def sms_block_reason(message: DueMessage) -> str | None:
    """Why a text must not go to this patient now, if it must not."""
    if not message.sms_consent:
        return "no consent to texts on record"
    if message.opted_out:
        return "the patient opted out of texts (STOP)"
    return None


def _stale_reason(
    message: DueMessage, now: datetime, context: SendContext, step: Step | None
) -> str | None:
    expires = message.expires_at
    if expires is not None and now + MIN_VALIDITY > expires:
        return "expired before it could be sent (the restriction or its usefulness ended)"
    if step is not None:
        return unhelpful_reason(step, now, expires, context.zone, context.clinic)
    if _late(message, now, context.zone):
        # Its step left the policy: the planned words are all there is, and they are stale.
        return f"its text is out of date and step {message.step_id!r} is no longer in the policy"
    return None


def _quiet_hold(
    message: DueMessage, now: datetime, context: SendContext, step: Step
) -> Hold | Skip | None:
    held = after_quiet_hours(now, context.clinic, context.zone)
    if held == now:
        return None
    expires = message.expires_at
    if step.expires_after is not None:
        # As when planning: a quiet-hours hold extends how long the step is useful.
        expires = max(expires or held, held + step.expires_after)
    if expires is not None and held >= expires:
        return Skip("expired before the quiet hours ended")
    clock_24h = context.clinic.clock_24h
    why = (
        f"held to {format_clock(held, context.zone, clock_24h=clock_24h)} "
        f"by quiet hours {context.clinic.quiet_hours}"
    )
    return Hold(held, why, expires)


def _send(message: DueMessage, now: datetime, context: SendContext, step: Step | None) -> Send:
    valid_for = None
    if message.channel is ChannelKind.SMS and message.expires_at is not None:
        valid_for = message.expires_at - now
    policy = context.policy
    if step is None or policy is None:
        return Send(message.subject, message.body, valid_for)
    if policy.version == message.policy_version and not _late(message, now, context.zone):
        return Send(message.subject, message.body, valid_for)
    subject, body = render_step(
        step,
        policy,
        context.clinic,
        step_id=message.step_id,
        channel=message.channel,
        patient_name=message.patient_name,
        treatment_at=message.performed_at,
        restriction=context.restriction,
        at=now,
        zone=context.zone,
    )
    if (subject, body) == (message.subject, message.body):
        return Send(message.subject, message.body, valid_for)
    return Send(subject, body, valid_for, _rewrite_reason(message, now, context))


def _late(message: DueMessage, now: datetime, zone: ZoneInfo) -> bool:
    """Whether the planned words may no longer be true: past the grace, or another day."""
    if now - message.due_at >= RENDER_GRACE:
        return True
    return now.astimezone(zone).date() != message.due_at.astimezone(zone).date()


def _rewrite_reason(message: DueMessage, now: datetime, context: SendContext) -> str:
    policy = context.policy
    assert policy is not None
    if policy.version != message.policy_version:
        return f"text written anew from {policy.version} (planned from {message.policy_version})"
    late = describe_duration(max(now - message.due_at, timedelta(0)))
    return f"text written anew for the moment it went, {late} after it was due"


# -- after the provider refused ---------------------------------------------------------


@dataclass(frozen=True)
class Retry:
    at: datetime
    why: str


@dataclass(frozen=True)
class Wait:
    """The channel, not the message: back to the queue, the attempt uncounted, and the
    channel paused (a provider outage, or our own settings refused)."""

    why: str
    configuration: bool  # our settings were refused: someone must fix them


@dataclass(frozen=True)
class Fail:
    why: str
    # The number cannot take texts (invalid, not a mobile, unsubscribed): the patient's
    # remaining texts move to another channel too.
    stops_texts: bool = False
    opted_out: bool = False


@dataclass(frozen=True)
class Unknown:
    """The provider may have taken it: held, not sent again, until it has been looked
    for there at `at`; the attempt counts."""

    at: datetime
    why: str


Outcome = Retry | Wait | Fail | Skip | Unknown


def after_refusal(
    error: ChannelError,
    *,
    channel: ChannelKind,
    attempts: int,
    max_attempts: int,
    retry_at: datetime,
    expires_at: datetime | None,
    outage: bool,
    look_at: datetime | None = None,
) -> Outcome:
    """What a provider's refusal of attempt number `attempts` means for the message.

    `retry_at` is when the retry policy would try again; `outage` whether the
    failures span several messages, so the provider is down, not this message;
    `look_at` when the provider could be asked whether it took the message after
    all (None: it cannot be asked).
    """
    text = str(error)
    if error.permanent:
        stops = channel is ChannelKind.SMS and (error.bad_recipient or error.opted_out)
        return Fail(text, stops_texts=stops, opted_out=error.opted_out)
    if error.maybe_sent and look_at is not None:
        # Before attempts, outages and expiry: whatever comes next, first find out
        # whether the patient already has it.
        when = look_at.isoformat(timespec="seconds")
        return Unknown(look_at, f"{text}; the provider may have it: looking for it at {when}")
    if error.scope is FaultScope.CONFIGURATION:
        return Wait(f"{text}: waiting for the {channel.value} settings to be fixed", True)
    if error.scope is FaultScope.CHANNEL and outage:
        return Wait(f"provider unavailable: {text}", False)
    if attempts >= max_attempts:
        return Fail(f"gave up after {attempts} attempts: {text}")
    if expires_at is not None and retry_at >= expires_at:
        return Skip(f"expired before it could be retried; last error: {text}")
    return Retry(retry_at, f"{text}; next attempt at {retry_at.isoformat(timespec='seconds')}")


# -- after looking for an uncertain send at the provider -----------------------------


@dataclass(frozen=True)
class Adopt:
    """Found at the provider: the message is sent, with the provider's id, and not sent again."""

    provider_id: str
    why: str


@dataclass(frozen=True)
class SendAgain:
    """Not at the provider (or it cannot be asked): decided and sent as a fresh attempt."""

    why: str


Reconciliation = Adopt | SendAgain | Hold | Skip | Fail


@dataclass(frozen=True)
class Lookup:
    """What asking the provider gave: its id for the message, or why it could not answer.
    Neither: not found. None instead of a Lookup: the provider cannot be asked."""

    found: str | None = None
    error: str | None = None


def after_lookup(
    lookup: Lookup | None,
    *,
    since: datetime,
    now: datetime,
    lag: timedelta,
    retry_at: datetime,
    expires_at: datetime | None,
    attempts: int,
    max_attempts: int,
) -> Reconciliation:
    """What to do with a message whose call begun at `since` may have reached the provider.

    Not being listed proves nothing until the provider's listing `lag` has passed;
    a lookup that failed proves nothing at all: both hold the message, never send
    it blindly. `attempts` counts this claim; `retry_at` is when to ask again.
    """
    if lookup is None:
        return SendAgain("the provider cannot be asked whether it has it")
    if lookup.found is not None:
        return Adopt(lookup.found, f"found at the provider as {lookup.found}; not sent again")
    if lookup.error is not None:
        if expires_at is not None and retry_at >= expires_at:
            return Skip(
                f"expired while the provider could not say whether it has it: {lookup.error}"
            )
        when = retry_at.isoformat(timespec="seconds")
        return Hold(
            retry_at,
            f"could not ask the provider ({lookup.error}); asking again at {when}",
            expires_at,
        )
    if now < since + lag:
        when = (since + lag).isoformat(timespec="seconds")
        return Hold(
            since + lag, f"not listed at the provider yet; looking again at {when}", expires_at
        )
    waited = int((now - since).total_seconds())
    why = f"not found at the provider {waited} s after the call began"
    if attempts > max_attempts:
        return Fail(f"{why}; gave up after {attempts - 1} attempts")
    return SendAgain(why)
