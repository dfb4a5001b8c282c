"""Pauses a channel after transient provider failures, so an outage costs one
attempt per pause instead of one per queued message.

While a channel is paused its messages stay pending with their original due
times, so when the provider returns the backlog drains in due order.
Pure and per worker: state in memory, time passed in.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from reminders.domain import ChannelKind


class ChannelBreaker:
    def __init__(
        self,
        *,
        base: timedelta = timedelta(seconds=1),
        longest: timedelta = timedelta(seconds=60),
    ) -> None:
        self.base = base
        self.longest = longest
        self._failures: dict[ChannelKind, int] = {}
        self._until: dict[ChannelKind, datetime] = {}
        # Which messages failed in the current streak: one message failing again
        # and again is that message's problem; several is the provider's.
        self._streak: dict[ChannelKind, set[int]] = {}

    def paused(self, kind: ChannelKind, now: datetime) -> bool:
        until = self._until.get(kind)
        return until is not None and now < until

    def paused_kinds(self, now: datetime) -> set[ChannelKind]:
        return {kind for kind in self._until if self.paused(kind, now)}

    def resumes_at(self, now: datetime) -> datetime | None:
        ends = [until for kind, until in self._until.items() if self.paused(kind, now)]
        return min(ends) if ends else None

    def failed(
        self,
        kind: ChannelKind,
        now: datetime,
        *,
        message_id: int,
        retry_after: float | None = None,
    ) -> bool:
        """A transient failure: pause the channel, doubling the pause each time in a row.

        Returns True when the streak spans more than one message: the provider
        is down, and the failure says nothing about this message.
        """
        streak = self._streak.setdefault(kind, set())
        if len(streak) < 2:
            streak.add(message_id)
        failures = self._failures.get(kind, 0) + 1
        self._failures[kind] = failures
        pause = min(self.longest, self.base * 2 ** (failures - 1))
        if retry_after is not None:
            pause = max(pause, timedelta(seconds=retry_after))
        self._until[kind] = now + pause
        return len(streak) > 1

    def succeeded(self, kind: ChannelKind) -> None:
        self._failures.pop(kind, None)
        self._until.pop(kind, None)
        self._streak.pop(kind, None)
