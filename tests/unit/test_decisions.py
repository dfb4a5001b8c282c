"""The send-time decisions, as tables: what a claimed message becomes at the moment it would
go, and what each provider outcome means for it.

Messages are planned by the real planner from the shipped botox policy, then decided
at another instant, as a worker would after a delay, a retry, a pause or a lease
that expired. Every time is passed explicitly.
"""

from __future__ import annotations

import dataclasses
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from twilio.base.exceptions import TwilioRestException

from reminders.channels import smtp_email, twilio_sms
from reminders.decisions import (
    Adopt,
    Fail,
    Hold,
    Lookup,
    OverBudget,
    Reroute,
    Retry,
    Send,
    SendAgain,
    SendContext,
    SendDecision,
    Skip,
    SmsBudget,
    Unknown,
    Wait,
    after_lookup,
    after_refusal,
    before_send,
)
from reminders.domain import ChannelKind, PatientProfile
from reminders.errors import ChannelError
from reminders.planning import plan_treatment
from reminders.policies import Policy, load_policies
from tests.conftest import CONFIG_DIR, clinic_settings

NY = ZoneInfo("America/New_York")
H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)
# Friday 2026-11-27 10:00 EST: a daytime treatment clear of DST and quiet hours.
T = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
CLINIC = clinic_settings().profile()
AVOID_TEXT = (
    "Harbor Skin Clinic: for the next {remaining} (until {until}) please avoid exercise, "
    "facials, rubbing the treated area, lying flat and bending over. Drooping eyelid, severe "
    "swelling or bruising? No exercise; call (212) 555-0143"
)


@cache
def botox() -> Policy:
    policy = load_policies(CONFIG_DIR / "policies").get("botox")
    assert policy is not None
    return policy


@dataclass(frozen=True)
class Due:
    """A claimed message, as the worker reads it."""

    channel: ChannelKind
    step_id: str
    due_at: datetime
    expires_at: datetime | None
    not_before: datetime | None
    subject: str | None
    body: str
    policy_version: str
    performed_at: datetime
    patient_name: str = "Ann Lee"
    sms_consent: bool = True
    opted_out: bool = False


def planned(
    treatment_at: datetime,
    step_id: str,
    *,
    channel: ChannelKind = ChannelKind.SMS,
    logged_at: datetime | None = None,
    policy: Policy | None = None,
) -> Due:
    """A step as the planner stored it when the treatment was logged."""
    plan = plan_treatment(
        treatment_at=treatment_at,
        policy=policy or botox(),
        clinic=CLINIC,
        patient=PatientProfile(
            name="Ann Lee",
            has_phone=channel is ChannelKind.SMS,
            has_email=channel is ChannelKind.EMAIL,
        ),
        now=logged_at or treatment_at,
    )
    [step] = [s for s in plan.steps if s.step_id == step_id]
    assert step.skip_reason is None
    return Due(
        channel=channel,
        step_id=step_id,
        due_at=step.due_at,
        expires_at=step.expires_at,
        not_before=step.not_before,
        subject=step.subject,
        body=step.body,
        policy_version=plan.policy_version,
        performed_at=treatment_at,
    )


def decide(message: Due, now: datetime, *, policy: Policy | None = None) -> SendDecision:
    context = SendContext(CLINIC, policy or botox(), NY, 4 * H)
    return before_send(message, now=now, context=context)


def local(*args: int, fold: int = 0) -> datetime:
    """A New York wall time as an instant."""
    return datetime(*args, tzinfo=NY, fold=fold).astimezone(UTC)


def send(decision: SendDecision) -> Send:
    assert isinstance(decision, Send), decision
    return decision


# -- on time, late, and too late -----------------------------------------------------


def test_on_time_the_planned_text_goes_with_what_is_left_of_its_validity() -> None:
    message = planned(T, "avoid")
    decision = send(decide(message, T))
    assert (decision.subject, decision.body, decision.rewritten) == (None, message.body, None)
    assert decision.body == AVOID_TEXT.format(remaining="4 hours", until="2:00 PM")
    assert decision.valid_for == 4 * H


@pytest.mark.parametrize(
    ("late", "remaining", "valid_for"),
    [
        (30 * S, "4 hours", 4 * H - 30 * S),  # within a minute: the words still hold
        (59 * S, "4 hours", 4 * H - 59 * S),
        (M, "3 hours and 59 minutes", 4 * H - M),
        (3 * H + 40 * M, "20 minutes", 20 * M),
        (3 * H + 45 * M, "15 minutes", 15 * M),  # exactly the minimum worth a message
    ],
    ids=["30s", "59s", "1m", "3h40m", "3h45m"],
)
def test_a_late_avoid_text_says_what_is_left_when_it_goes(
    late: timedelta, remaining: str, valid_for: timedelta
) -> None:
    decision = send(decide(planned(T, "avoid"), T + late))
    assert decision.body == AVOID_TEXT.format(remaining=remaining, until="2:00 PM")
    assert decision.valid_for == valid_for
    if late < M:
        assert decision.rewritten is None
    else:
        assert decision.rewritten is not None
        assert "after it was due" in decision.rewritten


@pytest.mark.parametrize(
    ("late", "reason"),
    [
        (3 * H + 50 * M, "only 10 minutes left when it could be sent, under the 15 minutes"),
        (3 * H + 45 * M + S, "only 14 minutes left"),
        (4 * H - S / 2, "expired before it could be sent"),  # under a second: no validity left
        (4 * H, "expired before it could be sent"),
        (9 * H, "expired before it could be sent"),
    ],
    ids=["10m-left", "14m59s-left", "half-second-left", "at-the-end", "hours-after"],
)
def test_an_avoid_text_with_too_little_left_is_skipped(late: timedelta, reason: str) -> None:
    decision = decide(planned(T, "avoid"), T + late)
    assert isinstance(decision, Skip)
    assert decision.why.startswith(reason)


def test_a_claim_taken_back_near_the_end_of_the_window_goes_only_if_worth_it() -> None:
    # A worker died holding the avoid text; its lease expired and another worker has it now.
    message = planned(T, "avoid")
    assert isinstance(decide(message, T + 4 * H - 10 * M), Skip)
    decision = send(decide(message, T + 4 * H - 20 * M))
    assert decision.body == AVOID_TEXT.format(remaining="20 minutes", until="2:00 PM")
    assert decision.valid_for == 20 * M


def test_an_all_clear_is_never_sent_before_the_restriction_ends() -> None:
    message = planned(T, "all_clear")
    decision = decide(message, T + 4 * H - S)
    assert decision == Hold(T + 4 * H, "not before the restriction ends", message.expires_at)


def test_a_late_all_clear_whose_words_do_not_depend_on_time_goes_as_planned() -> None:
    message = planned(T, "all_clear")
    decision = send(decide(message, T + 6 * H))
    assert (decision.body, decision.rewritten) == (message.body, None)
    assert decision.valid_for == 10 * H  # useful until 12 h after the restriction ended


def test_a_late_email_names_the_day_of_the_treatment_when_it_is_no_longer_today() -> None:
    # Treatment at 4:30 PM; the all-clear email goes the next morning after an outage.
    treatment = local(2026, 11, 27, 16, 30)
    message = planned(treatment, "all_clear", channel=ChannelKind.EMAIL)
    assert "(4 hours after your anti-wrinkle treatment at 4:30 PM)\nhas ended." in message.body
    decision = send(decide(message, local(2026, 11, 28, 8, 0)))
    assert "(4 hours after your anti-wrinkle treatment at 4:30 PM yesterday)" in decision.body
    assert decision.valid_for is None  # validity is a text's: an email has no carrier queue
    assert decision.rewritten is not None


# -- quiet hours, at the moment of sending ----------------------------------------------


def test_a_retry_that_falls_in_the_quiet_hours_is_held_to_their_end() -> None:
    # Due 8:55 PM, refused, retried at 9:05 PM: inside 21:00-08:00.
    treatment = local(2026, 11, 27, 16, 55)
    message = planned(treatment, "all_clear")
    assert message.due_at == local(2026, 11, 27, 20, 55)
    decision = decide(message, local(2026, 11, 27, 21, 5))
    morning = local(2026, 11, 28, 8, 0)
    # Held, as planning holds: its 12 hours of usefulness now run from the morning.
    assert decision == Hold(morning, "held to 8:00 AM by quiet hours 21:00-08:00", morning + 12 * H)


@pytest.mark.parametrize(
    ("at", "held"),
    [
        (local(2026, 11, 27, 20, 59, 59), False),
        (local(2026, 11, 27, 21, 0), True),  # a pause that ended just after quiet hours began
        (local(2026, 11, 28, 7, 59), True),
        (local(2026, 11, 28, 8, 0), False),
    ],
    ids=["20:59:59", "21:00", "07:59", "08:00"],
)
def test_a_step_that_may_wait_goes_only_outside_the_quiet_hours(at: datetime, held: bool) -> None:
    message = planned(local(2026, 11, 27, 16, 55), "all_clear")
    decision = decide(message, at)
    assert isinstance(decision, Hold if held else Send)


def test_the_immediate_instructions_never_wait_for_the_quiet_hours() -> None:
    treatment = local(2026, 11, 27, 20, 30)
    decision = send(decide(planned(treatment, "avoid"), local(2026, 11, 27, 21, 30)))
    assert decision.body == AVOID_TEXT.format(remaining="3 hours", until="12:30 AM tomorrow")


def test_a_quiet_hours_hold_extends_how_long_the_step_is_useful_as_planning_does() -> None:
    # Useful for 8 hours from 8:55 PM: it would expire at 4:55 AM, inside the quiet hours.
    short = _with_step(botox(), "all_clear", expires_after=8 * H)
    message = planned(local(2026, 11, 27, 16, 55), "all_clear", policy=short)
    assert message.expires_at == local(2026, 11, 28, 4, 55)
    decision = decide(message, local(2026, 11, 27, 21, 5), policy=short)
    assert decision == Hold(
        local(2026, 11, 28, 8, 0),
        "held to 8:00 AM by quiet hours 21:00-08:00",
        local(2026, 11, 28, 16, 0),
    )


# -- DST days --------------------------------------------------------------------------


def test_on_the_spring_forward_day_a_late_text_counts_elapsed_time() -> None:
    # 00:30 EST; the restriction ends at 05:30 EDT (4 h elapsed, 5 on the clock).
    # At 03:10 EDT the clock says 2 h 20 min to go, and so does elapsed time.
    treatment = local(2026, 3, 8, 0, 30)
    decision = send(decide(planned(treatment, "avoid"), local(2026, 3, 8, 3, 10)))
    assert decision.body == AVOID_TEXT.format(remaining="2 hours and 20 minutes", until="5:30 AM")
    # At 01:50 EST, before the clocks jump, the clock reads 3 h 40 min to 5:30; 2 h 40 min
    # of time are left.
    decision = send(decide(planned(treatment, "avoid"), local(2026, 3, 8, 1, 50)))
    assert decision.body == AVOID_TEXT.format(remaining="2 hours and 40 minutes", until="5:30 AM")


def test_on_the_fall_back_day_a_late_text_names_the_right_day_and_hour() -> None:
    # 10:45 PM EDT; the restriction ends at the second 1:45 AM (EST) of the next day.
    treatment = local(2026, 10, 31, 22, 45)
    message = planned(treatment, "avoid")
    assert message.body == AVOID_TEXT.format(remaining="4 hours", until="1:45 AM EST tomorrow")
    # Sent after midnight, it is no longer "tomorrow".
    decision = send(decide(message, local(2026, 11, 1, 0, 15)))
    assert decision.body == AVOID_TEXT.format(
        remaining="2 hours and 30 minutes", until="1:45 AM EST"
    )


def test_a_text_due_before_midnight_and_sent_just_after_is_written_again() -> None:
    treatment = local(2026, 11, 27, 23, 59, 30)
    message = planned(treatment, "avoid")
    assert "until 3:59 AM tomorrow" in message.body
    decision = send(decide(message, local(2026, 11, 28, 0, 0, 5)))  # 35 s late
    assert "until 3:59 AM)" in decision.body


# -- who may be texted ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("consent", "opted_out", "expected"),
    [
        (True, False, None),
        (False, False, Reroute("no consent to texts on record")),
        (True, True, Reroute("the patient opted out of texts (STOP)")),
    ],
    ids=["consented", "no-consent", "opted-out"],
)
def test_a_text_goes_only_with_consent_and_no_opt_out(
    consent: bool, opted_out: bool, expected: Reroute | None
) -> None:
    message = dataclasses.replace(planned(T, "avoid"), sms_consent=consent, opted_out=opted_out)
    decision = decide(message, T)
    assert decision == expected if expected else isinstance(decision, Send)


def test_an_email_is_not_stopped_by_an_opt_out_of_texts() -> None:
    email = planned(T, "avoid", channel=ChannelKind.EMAIL)
    message = dataclasses.replace(email, sms_consent=False, opted_out=True)
    assert send(decide(message, T)).body == email.body


# -- the policy as loaded now -------------------------------------------------------------


def test_a_message_planned_from_an_earlier_policy_goes_with_the_current_words() -> None:
    earlier = _with_step(botox(), "avoid", sms="{clinic_name}: avoid exercise until {until}.")
    earlier = dataclasses.replace(earlier, version="botox@000000000000")
    message = planned(T, "avoid", policy=earlier)
    assert message.body == "Harbor Skin Clinic: avoid exercise until 2:00 PM."
    decision = send(decide(message, T))
    assert decision.body == AVOID_TEXT.format(remaining="4 hours", until="2:00 PM")
    assert decision.rewritten == (
        f"text written anew from {botox().version} (planned from botox@000000000000)"
    )


def test_a_step_no_longer_in_the_policy_goes_as_planned_on_time_and_is_skipped_late() -> None:
    message = dataclasses.replace(planned(T, "avoid"), step_id="retired")
    assert send(decide(message, T + 30 * S)).body == message.body
    late = decide(message, T + H)
    assert isinstance(late, Skip)
    assert "step 'retired' is no longer in the policy" in late.why


# -- after the provider refused -------------------------------------------------------------


def twilio_error(status: int, code: int | None) -> ChannelError:
    exc = TwilioRestException(status, "https://api.twilio.com/...", "refused", code=code)
    return twilio_sms.error_for(exc, retry_after=None)


SMTP_ERRORS: dict[str, smtplib.SMTPException | OSError] = {
    "smtp-535": smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication failed"),
    "smtp-450-rcpt": smtplib.SMTPRecipientsRefused({"a@example.org": (450, b"Greylisted")}),
    "smtp-550-rcpt": smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"No such user")}),
    "smtp-421": smtplib.SMTPResponseException(421, b"Service not available"),
    "smtp-553-sender": smtplib.SMTPSenderRefused(553, b"Sender refused", "us@example.org"),
    "smtp-dropped": ConnectionResetError(),
}
RETRY_AT = T + 30 * S
EXPIRES = T + 4 * H


def refused(error: ChannelError, **overrides: object) -> object:
    channel = ChannelKind.EMAIL if str(error).startswith("SMTP") else ChannelKind.SMS
    arguments: dict[str, object] = {
        "channel": channel,
        "attempts": 1,
        "max_attempts": 5,
        "retry_at": RETRY_AT,
        "expires_at": EXPIRES,
        "outage": False,
    }
    arguments.update(overrides)
    return after_refusal(error, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "overrides", "expected"),
    [
        # Rate limited or down: this message retries, unless several failed (an outage).
        (twilio_error(429, 20429), {}, Retry),
        (twilio_error(429, 20429), {"outage": True}, Wait),
        (twilio_error(500, 20500), {}, Retry),
        (twilio_error(503, None), {"outage": True}, Wait),
        (ChannelError("Twilio unreachable: ReadTimeout", permanent=False), {}, Retry),
        # Our credentials: the channel waits, whatever the attempts or the queue.
        (twilio_error(401, 20003), {}, Wait),
        (twilio_error(401, 20003), {"attempts": 5}, Wait),
        (smtp_email.error_for(SMTP_ERRORS["smtp-535"]), {"attempts": 5}, Wait),
        (smtp_email.error_for(SMTP_ERRORS["smtp-553-sender"]), {}, Wait),
        # One recipient's temporary refusal: that message retries alone.
        (smtp_email.error_for(SMTP_ERRORS["smtp-450-rcpt"]), {}, Retry),
        (smtp_email.error_for(SMTP_ERRORS["smtp-450-rcpt"]), {"outage": True}, Retry),
        (smtp_email.error_for(SMTP_ERRORS["smtp-421"]), {"outage": True}, Wait),
        (smtp_email.error_for(SMTP_ERRORS["smtp-dropped"]), {}, Retry),
        # Permanent: fails at once.
        (twilio_error(400, 21211), {}, Fail),
        (twilio_error(400, 21614), {}, Fail),
        (twilio_error(400, 21610), {}, Fail),
        (twilio_error(400, 21617), {}, Fail),
        (smtp_email.error_for(SMTP_ERRORS["smtp-550-rcpt"]), {}, Fail),
        # Out of attempts or out of time.
        (twilio_error(500, 20500), {"attempts": 5}, Fail),
        (twilio_error(500, 20500), {"retry_at": EXPIRES}, Skip),
    ],
    ids=[
        "429",
        "429-outage",
        "500",
        "503-outage",
        "timeout",
        "20003",
        "20003-last-attempt",
        "smtp-535-last-attempt",
        "smtp-553-sender",
        "smtp-450-rcpt",
        "smtp-450-rcpt-while-others-fail",
        "smtp-421-outage",
        "smtp-dropped",
        "21211",
        "21614",
        "21610",
        "21617",
        "smtp-550-rcpt",
        "500-last-attempt",
        "500-retry-after-expiry",
    ],
)
def test_what_each_provider_outcome_means(
    error: ChannelError, overrides: dict[str, object], expected: type
) -> None:
    assert type(refused(error, **overrides)) is expected


def test_refused_credentials_wait_for_the_settings_and_say_so() -> None:
    assert refused(twilio_error(401, 20003)) == Wait(
        "Twilio 401 error 20003: credentials refused: waiting for the sms settings to be fixed",
        True,
    )


def test_an_outage_waits_without_blaming_the_settings() -> None:
    outcome = refused(twilio_error(503, 20503), outage=True)
    assert outcome == Wait(
        "provider unavailable: Twilio 503 error 20503: server error (may have been processed)",
        False,
    )


@pytest.mark.parametrize(
    ("code", "stops_texts", "opted_out"),
    [(21211, True, False), (21614, True, False), (21610, True, True), (21617, False, False)],
)
def test_a_number_that_cannot_take_texts_stops_the_patients_texts(
    code: int, stops_texts: bool, opted_out: bool
) -> None:
    outcome = refused(twilio_error(400, code))
    assert isinstance(outcome, Fail)
    assert (outcome.stops_texts, outcome.opted_out) == (stops_texts, opted_out)
    assert str(code) in outcome.why


def test_a_bounced_email_does_not_stop_texts() -> None:
    outcome = refused(smtp_email.error_for(SMTP_ERRORS["smtp-550-rcpt"]))
    assert outcome == Fail("SMTP 550: recipient refused")


def test_retry_and_giving_up_say_when_and_why() -> None:
    assert refused(twilio_error(500, 20500)) == Retry(
        RETRY_AT,
        "Twilio 500 error 20500: server error (may have been processed); "
        "next attempt at 2026-11-27T15:00:30+00:00",
    )
    assert refused(twilio_error(500, 20500), attempts=5) == Fail(
        "gave up after 5 attempts: Twilio 500 error 20500: server error (may have been processed)"
    )
    assert refused(twilio_error(500, 20500), retry_at=EXPIRES) == Skip(
        "expired before it could be retried; last error: "
        "Twilio 500 error 20500: server error (may have been processed)"
    )


# -- a create that may have been processed: looked for before it is sent again ----------

LOOK_AT = T + 20 * S
LAG = 60 * S
SID = "SM" + "0" * 32


@pytest.mark.parametrize(
    ("error", "overrides", "expected"),
    [
        # May have been processed, and the provider can be asked: held until it has been.
        (twilio_error(500, 20500), {"look_at": LOOK_AT}, Unknown),
        (twilio_error(503, 20503), {"look_at": LOOK_AT, "outage": True}, Unknown),
        (twilio_error(500, 20500), {"look_at": LOOK_AT, "attempts": 5}, Unknown),
        (twilio_error(500, 20500), {"look_at": LOOK_AT, "retry_at": EXPIRES}, Unknown),
        (
            ChannelError("Twilio unreachable: ReadTimeout", permanent=False, maybe_sent=True),
            {"look_at": LOOK_AT},
            Unknown,
        ),
        # The provider cannot be asked (SMTP): retried as before.
        (twilio_error(500, 20500), {}, Retry),
        # Never processed (a refused connection, a 429, a 4xx): no need to ask.
        (
            ChannelError("Twilio unreachable: ConnectTimeout", permanent=False),
            {"look_at": LOOK_AT},
            Retry,
        ),
        (twilio_error(429, 20429), {"look_at": LOOK_AT}, Retry),
        (twilio_error(400, 21211), {"look_at": LOOK_AT}, Fail),
    ],
    ids=[
        "500",
        "503-outage",
        "500-last-attempt",
        "500-retry-after-expiry",
        "read-timeout",
        "500-cannot-ask",
        "connect-timeout",
        "429",
        "21211",
    ],
)
def test_a_refusal_that_may_have_been_processed_is_looked_for_first(
    error: ChannelError, overrides: dict[str, object], expected: type
) -> None:
    assert type(refused(error, **overrides)) is expected


def test_an_unknown_outcome_says_when_it_is_looked_for() -> None:
    assert refused(twilio_error(500, 20500), look_at=LOOK_AT) == Unknown(
        LOOK_AT,
        "Twilio 500 error 20500: server error (may have been processed); "
        "the provider may have it: looking for it at 2026-11-27T15:00:20+00:00",
    )


def looked(lookup: Lookup | None, **overrides: object) -> object:
    arguments: dict[str, object] = {
        "since": T,
        "now": T + LAG,
        "lag": LAG,
        "retry_at": T + LAG + 30 * S,
        "expires_at": EXPIRES,
        "attempts": 2,
        "max_attempts": 5,
    }
    arguments.update(overrides)
    return after_lookup(lookup, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lookup", "overrides", "expected"),
    [
        # Found: adopted, whenever it is found, even past its expiry or its attempts.
        (Lookup(found=SID), {}, Adopt),
        (Lookup(found=SID), {"now": T + S}, Adopt),
        (Lookup(found=SID), {"now": EXPIRES + H, "attempts": 9}, Adopt),
        # Not found: proves nothing until the listing lag has passed.
        (Lookup(), {"now": T + LAG - S}, Hold),
        (Lookup(), {"now": T + LAG - S, "expires_at": T + S}, Hold),
        (Lookup(), {}, SendAgain),
        (Lookup(), {"now": T + LAG + H}, SendAgain),
        (Lookup(), {"attempts": 6}, Fail),
        # The provider could not say: held, asked again, until the step expires.
        (Lookup(error="Twilio 503: list refused"), {}, Hold),
        (Lookup(error="Twilio 503: list refused"), {"now": T + S}, Hold),
        (Lookup(error="Twilio 503: list refused"), {"retry_at": EXPIRES}, Skip),
        # The provider cannot be asked (SMTP): sent again, as before.
        (None, {"now": T + S}, SendAgain),
    ],
    ids=[
        "found",
        "found-at-once",
        "found-after-expiry",
        "not-found-within-lag",
        "not-found-within-lag-expired",
        "not-found-after-lag",
        "not-found-long-after",
        "not-found-no-attempts-left",
        "lookup-failed",
        "lookup-failed-at-once",
        "lookup-failed-until-expiry",
        "cannot-ask",
    ],
)
def test_what_looking_for_an_uncertain_send_means(
    lookup: Lookup | None, overrides: dict[str, object], expected: type
) -> None:
    assert type(looked(lookup, **overrides)) is expected


def test_looking_for_an_uncertain_send_says_what_was_found_and_when_next() -> None:
    assert looked(Lookup(found=SID)) == Adopt(
        SID, f"found at the provider as {SID}; not sent again"
    )
    assert looked(Lookup()) == SendAgain("not found at the provider 60 s after the call began")
    assert looked(Lookup(), now=T + 20 * S) == Hold(
        T + LAG,
        "not listed at the provider yet; looking again at 2026-11-27T15:01:00+00:00",
        EXPIRES,
    )
    assert looked(Lookup(error="Twilio 503: list refused")) == Hold(
        T + LAG + 30 * S,
        "could not ask the provider (Twilio 503: list refused); "
        "asking again at 2026-11-27T15:01:30+00:00",
        EXPIRES,
    )
    assert looked(Lookup(), attempts=6) == Fail(
        "not found at the provider 60 s after the call began; gave up after 5 attempts"
    )


def _with_step(policy: Policy, step_id: str, **changes: object) -> Policy:
    steps = tuple(
        dataclasses.replace(step, **changes) if step.id == step_id else step  # type: ignore[arg-type]
        for step in policy.steps
    )
    return dataclasses.replace(policy, steps=steps)


# -- the clinic's SMS budget ---------------------------------------------------------------


def decide_with_budget(message: Due, now: datetime, budget: SmsBudget | None) -> SendDecision:
    context = SendContext(CLINIC, botox(), NY, 4 * H, budget)
    return before_send(message, now=now, context=context)


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        (None, Send),  # no budget: nothing counted, nothing held
        (SmsBudget("2026-11", 0, 100), Send),
        (SmsBudget("2026-11", 99, 100), Send),  # a text may take the month past its budget
        (SmsBudget("2026-11", 100, 100), OverBudget),
        (SmsBudget("2026-11", 130, 100), OverBudget),  # other workers sent meanwhile
    ],
    ids=["no-budget", "empty", "one-short", "used-up", "over"],
)
def test_a_text_goes_while_the_clinic_s_sms_budget_has_room(
    budget: SmsBudget | None, expected: type
) -> None:
    decision = decide_with_budget(planned(T, "avoid"), T, budget)
    assert isinstance(decision, expected)
    if isinstance(decision, OverBudget):
        assert decision.why == (
            f"over the clinic's SMS budget: {budget.used} of 100 segments used in 2026-11"  # type: ignore[union-attr]
        )


def test_an_email_is_never_over_the_sms_budget() -> None:
    email = planned(T, "avoid", channel=ChannelKind.EMAIL)
    assert isinstance(decide_with_budget(email, T, SmsBudget("2026-11", 500, 100)), Send)


@pytest.mark.parametrize(
    ("message", "at", "expected"),
    [
        # Not due yet, stale, refused or quiet: that answer stands; the budget is not asked.
        (planned(T, "all_clear"), T + 4 * H - S, Hold),
        (planned(T, "avoid"), T + 4 * H, Skip),
        (dataclasses.replace(planned(T, "avoid"), sms_consent=False), T, Reroute),
        (planned(local(2026, 11, 27, 16, 55), "all_clear"), local(2026, 11, 27, 21, 5), Hold),
    ],
    ids=["not-before", "expired", "no-consent", "quiet-hours"],
)
def test_a_text_that_would_not_go_anyway_is_not_over_budget(
    message: Due, at: datetime, expected: type
) -> None:
    assert isinstance(decide_with_budget(message, at, SmsBudget("2026-11", 100, 100)), expected)
