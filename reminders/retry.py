"""Pure retry policy: how long to wait before the next attempt, and whether to try at all."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float

    def should_retry(self, attempts: int) -> bool:
        return attempts < self.max_attempts

    def delay(
        self, attempts: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> timedelta:
        """Exponential backoff with jitter; a provider's Retry-After is a floor.

        Jitter spreads retries so a recovering provider is not hit by every
        worker at the same instant.
        """
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(attempts - 1, 0))
        seconds = ceiling * (0.5 + (rng or random).random() / 2)
        if retry_after is not None:
            seconds = max(seconds, retry_after)
        return timedelta(seconds=seconds)
