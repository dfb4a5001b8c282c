"""A blocking token bucket per key: callers wait for their turn rather than fail."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class SendRateLimiter:
    """At most `per_second` sends per key per second, evenly spaced: no bursts.

    Uses a monotonic clock and sleeps: it paces real sends and is not part of
    any scheduling decision, so it does not read the injected wall clock.
    """

    def __init__(
        self,
        per_second: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / per_second
        self._monotonic = monotonic
        self._sleep = sleep
        self._next_free: dict[str, float] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> None:
        with self._lock:
            now = self._monotonic()
            slot = max(now, self._next_free.get(key, now))
            self._next_free[key] = slot + self.interval
        if slot > now:
            self._sleep(slot - now)
