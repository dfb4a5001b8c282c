"""Where the first message stands, as the desk reads it: a table of message states."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from reminders.domain import ChannelKind
from reminders.progress import FirstMessage, Reach, Stage, first_message

NOW = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)
SMS, EMAIL = ChannelKind.SMS, ChannelKind.EMAIL
REPORTING = Reach(reports_delivery=frozenset({SMS}), email_fallback=True, has_email=True)


@dataclass(frozen=True)
class View:
    id: int = 1
    step_id: str = "avoid"
    channel: str = "sms"
    state: str = "pending"
    natural_at: datetime = NOW
    send_after: datetime = NOW
    reason: str | None = None
    last_error: str | None = None
    delivery_status: str | None = None
    delivery_error: str | None = None


def read(*messages: View, reach: Reach = REPORTING) -> FirstMessage:
    result = first_message(messages, now=NOW, reach=reach)
    assert result is not None
    return result


@pytest.mark.parametrize(
    ("view", "stage", "final", "problem"),
    [
        (View(), Stage.QUEUED, False, False),
        (View(send_after=NOW + timedelta(seconds=4)), Stage.QUEUED, False, False),
        (View(send_after=NOW + timedelta(hours=9)), Stage.PLANNED, True, False),
        (View(state="sending"), Stage.SENDING, False, False),
        (View(state="sent"), Stage.SENT, False, False),
        (View(state="sent", delivery_status="queued"), Stage.SENT, False, False),
        (View(state="sent", delivery_status="sent"), Stage.SENT, False, False),
        (View(state="sent", delivery_status="delivered"), Stage.DELIVERED, True, False),
        (View(state="sent", delivery_status="undelivered"), Stage.UNDELIVERED, True, True),
        (View(state="sent", delivery_status="failed"), Stage.UNDELIVERED, True, True),
        (View(state="failed", reason="Twilio 400 error 21211"), Stage.FAILED, True, True),
        (View(state="skipped", reason="no consent"), Stage.SKIPPED, True, True),
        (View(state="cancelled", reason="wrong patient"), Stage.CANCELLED, True, False),
    ],
)
def test_stage_of_each_state(view: View, stage: Stage, final: bool, problem: bool) -> None:
    result = read(view)
    assert (result.stage, result.final, result.problem) == (stage, final, problem)


def test_sent_is_the_last_word_where_the_channel_reports_no_delivery() -> None:
    smtp = Reach(reports_delivery=frozenset({SMS}), email_fallback=True, has_email=True)
    assert read(View(channel="email", state="sent"), reach=smtp).final
    assert not read(View(channel="sms", state="sent"), reach=smtp).final


def test_a_planned_message_says_when_it_goes() -> None:
    later = NOW + timedelta(hours=9)
    assert read(View(send_after=later)).due_at == later


def test_a_retry_says_why_it_waits() -> None:
    result = read(View(last_error="Twilio 503: server error"))
    assert result.summary == "text waiting to be tried again (Twilio 503: server error)"


def test_the_first_step_is_the_earliest_and_its_newest_message_counts() -> None:
    text = View(id=1, state="skipped", reason="texts stopped")
    later_step = View(id=2, step_id="all_clear", natural_at=NOW + timedelta(hours=4))
    email = View(id=3, channel="email", state="sent")
    result = read(later_step, text, email)
    assert (result.message_id, result.channel, result.stage) == (3, EMAIL, Stage.SENT)


def test_no_messages_no_first_message() -> None:
    assert first_message([], now=NOW, reach=REPORTING) is None


CHECK = "check the mobile number with the patient"
LOOKS_WRONG = CHECK + " (it looks wrong)"
ADMIN = "tell the clinic's administrator: texts cannot go until this is fixed"


@pytest.mark.parametrize(
    ("code", "meaning", "first_step"),
    [
        ("30003", "the phone is off or out of reach", CHECK),
        ("30005", "the number is unknown to its carrier (a wrong number?)", LOOKS_WRONG),
        ("30006", "the number is a landline or its carrier cannot take texts", LOOKS_WRONG),
        ("30034", "the clinic's sender is not registered for texts (US 10DLC)", ADMIN),
        ("39999", "error 39999", CHECK),
        (None, "no reason given", CHECK),
    ],
)
def test_an_undelivered_text_says_why_and_what_to_do(
    code: str | None, meaning: str, first_step: str
) -> None:
    result = read(View(state="sent", delivery_status="undelivered", delivery_error=code))
    assert result.summary == f"text not delivered: {meaning}"
    assert result.what_to_do == (
        first_step,
        "send the aftercare by email instead",
        "print the instructions and hand them to the patient",
    )
    assert result.email_instead


def test_email_instead_is_offered_only_where_the_clinic_allows_it() -> None:
    failed = View(state="failed", reason="Twilio 400 error 21614: recipient cannot receive SMS")
    no_fallback = replace(REPORTING, email_fallback=False)
    result = read(failed, reach=no_fallback)
    assert not result.email_instead
    assert result.what_to_do == (
        "check the mobile number with the patient",
        "print the instructions and hand them to the patient",
    )


def test_email_instead_asks_for_an_address_when_there_is_none() -> None:
    no_email = replace(REPORTING, has_email=False)
    result = read(View(state="sent", delivery_status="failed"), reach=no_email)
    assert "send the aftercare by email instead (ask the patient for an address)" in (
        result.what_to_do
    )


def test_an_email_that_was_refused_is_not_offered_email_again() -> None:
    result = read(View(channel="email", state="failed", reason="SMTP 550 mailbox unknown"))
    assert result.summary == "email refused: SMTP 550 mailbox unknown"
    assert result.what_to_do == (
        "check the email address with the patient",
        "print the instructions and hand them to the patient",
    )
