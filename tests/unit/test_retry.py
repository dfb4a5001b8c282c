"""RetryPolicy: exponential backoff with jitter, a cap, a Retry-After floor, a give-up point."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from reminders.retry import RetryPolicy

POLICY = RetryPolicy(max_attempts=5, base_seconds=30, max_seconds=900)


class FixedRandom(random.Random):
    """An rng whose `random()` always returns the same value: pins the jitter."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


LOWEST = FixedRandom(0.0)
HIGHEST = FixedRandom(1.0)  # random() never reaches 1.0: the supremum of the jitter


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [
        (0, 15, 30),
        (1, 15, 30),
        (2, 30, 60),
        (3, 60, 120),
        (4, 120, 240),
        (5, 240, 480),
        (6, 450, 900),  # 960 s capped at 900
        (10, 450, 900),
        (60, 450, 900),
    ],
)
def test_delay_is_exponential_within_jitter_bounds_and_capped(
    attempts: int, low: float, high: float
) -> None:
    assert POLICY.delay(attempts, rng=LOWEST) == timedelta(seconds=low)
    assert POLICY.delay(attempts, rng=HIGHEST) == timedelta(seconds=high)
    rng = random.Random(attempts)
    for _ in range(200):
        assert timedelta(seconds=low) <= POLICY.delay(attempts, rng=rng) < timedelta(seconds=high)


def test_delay_doubles_with_each_attempt_until_the_cap() -> None:
    delays = [POLICY.delay(n, rng=FixedRandom(0.5)).total_seconds() for n in range(1, 9)]
    assert delays == [22.5, 45, 90, 180, 360, 675, 675, 675]


def test_delay_without_an_rng_stays_within_bounds() -> None:
    for _ in range(100):
        assert timedelta(seconds=15) <= POLICY.delay(1) <= timedelta(seconds=30)


@pytest.mark.parametrize(
    ("attempts", "retry_after", "jitter", "expected"),
    [
        (1, 600, 0.0, 600),  # Retry-After above the backoff wins
        (1, 600, 1.0, 600),
        (1, 5, 0.0, 15),  # below the backoff: the backoff stands
        (1, 20, 0.0, 20),  # between the jitter bounds: a floor, not a replacement
        (1, 20, 1.0, 30),
        (6, 3600, 1.0, 3600),  # a floor even above max_seconds
        (3, 0, 0.0, 60),
        (3, None, 0.0, 60),
    ],
)
def test_retry_after_is_a_floor(
    attempts: int, retry_after: float | None, jitter: float, expected: float
) -> None:
    delay = POLICY.delay(attempts, retry_after=retry_after, rng=FixedRandom(jitter))
    assert delay == timedelta(seconds=expected)


@pytest.mark.parametrize(
    ("attempts", "retry"),
    [(0, True), (1, True), (4, True), (5, False), (6, False), (100, False)],
)
def test_should_retry_until_max_attempts(attempts: int, retry: bool) -> None:
    assert POLICY.should_retry(attempts) is retry


def test_a_single_attempt_policy_never_retries() -> None:
    assert RetryPolicy(max_attempts=1, base_seconds=30, max_seconds=900).should_retry(1) is False
