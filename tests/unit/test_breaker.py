from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reminders.breaker import ChannelBreaker
from reminders.domain import ChannelKind

T = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)
SMS, EMAIL = ChannelKind.SMS, ChannelKind.EMAIL


def test_a_failure_pauses_only_that_channel() -> None:
    breaker = ChannelBreaker()
    breaker.failed(SMS, T, message_id=1)
    assert breaker.paused(SMS, T)
    assert not breaker.paused(EMAIL, T)
    assert breaker.paused_kinds(T) == {SMS}


def test_pauses_double_in_a_row_up_to_the_longest() -> None:
    breaker = ChannelBreaker(base=timedelta(seconds=1), longest=timedelta(seconds=60))
    pauses = []
    for _ in range(8):
        breaker.failed(SMS, T, message_id=1)
        resumes = breaker.resumes_at(T)
        assert resumes is not None
        pauses.append((resumes - T).total_seconds())
    assert pauses == [1, 2, 4, 8, 16, 32, 60, 60]


def test_retry_after_is_a_floor_for_the_pause() -> None:
    breaker = ChannelBreaker()
    breaker.failed(SMS, T, message_id=1, retry_after=30)
    assert breaker.paused(SMS, T + timedelta(seconds=29))
    assert not breaker.paused(SMS, T + timedelta(seconds=30))


def test_a_success_closes_the_breaker() -> None:
    breaker = ChannelBreaker()
    breaker.failed(SMS, T, message_id=1)
    breaker.succeeded(SMS)
    assert not breaker.paused(SMS, T)
    assert breaker.resumes_at(T) is None


def test_one_message_failing_again_is_not_an_outage() -> None:
    breaker = ChannelBreaker()
    assert not breaker.failed(SMS, T, message_id=1)
    assert not breaker.failed(SMS, T, message_id=1)


def test_failures_across_messages_are_an_outage_until_a_success() -> None:
    breaker = ChannelBreaker()
    assert not breaker.failed(SMS, T, message_id=1)
    assert breaker.failed(SMS, T, message_id=2)
    assert breaker.failed(SMS, T, message_id=1)
    breaker.succeeded(SMS)
    assert not breaker.failed(SMS, T, message_id=2)
