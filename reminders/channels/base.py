"""The interface every channel implements, and the registry the worker sends through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from reminders.domain import ChannelKind
from reminders.errors import ChannelError


@dataclass(frozen=True)
class Outgoing:
    """One message ready to leave: the only thing a channel sees."""

    message_id: int
    kind: ChannelKind
    to: str  # E.164 phone or email address
    subject: str | None
    body: str
    clinic_id: int
    # The clinic's own SMS sender, if it has one; else the channel's default.
    sms_from: str | None = None
    messaging_service_sid: str | None = None
    # How long the provider may still deliver it: after that it is no longer true.
    valid_for: timedelta | None = None
    # Names a send that is not a patient's message (an on-call alert: "on-call-7") in
    # the provider's copy, where a message's id would otherwise name it.
    reference: str | None = None

    @property
    def label(self) -> str:
        return self.reference or str(self.message_id)


@dataclass(frozen=True)
class Receipt:
    provider_id: str
    # The channel delivers as it sends (the console): no report will follow, this is it.
    delivered: bool = False


class Channel(Protocol):
    name: str

    def send(self, outgoing: Outgoing) -> Receipt:
        """Hand the message to the provider; raise ChannelError(permanent=...) on failure."""
        ...


def never_taken(_provider_id: str) -> bool:
    """No other message carries this provider id (the default of `find_sent`)."""
    return False


@runtime_checkable
class Reconciling(Protocol):
    """A channel whose provider can be asked what it already holds.

    After a call whose outcome is unknown (a 5xx, a timeout, a worker that died
    mid-call) the worker asks before sending again, so a message the provider
    did take is not sent twice.
    """

    # How long the provider's listing may take to show a message it accepted.
    listing_lag: timedelta

    def find_sent(
        self, outgoing: Outgoing, since: datetime, *, taken: Callable[[str], bool] = never_taken
    ) -> Receipt | None:
        """The provider's receipt for `outgoing` (same recipient, sender and text) created
        at or after `since`, or None if it holds none; ChannelError if it cannot be asked.

        A match whose id `taken` says another message already carries is passed over: a
        patient logged twice within a minute gets the same text twice, each its own.
        """
        ...


class ChannelRegistry:
    """Which channel carries each kind of message in this deployment."""

    def __init__(self, channels: dict[ChannelKind, Channel]) -> None:
        self._channels = dict(channels)

    def for_kind(self, kind: ChannelKind) -> Channel:
        channel = self._channels.get(kind)
        if channel is None:
            raise ChannelError(f"no channel configured for {kind}", permanent=True)
        return channel

    def lookup_for(self, kind: ChannelKind) -> Reconciling | None:
        """The channel for `kind` if its provider can be asked what it holds."""
        channel = self._channels.get(kind)
        return channel if isinstance(channel, Reconciling) else None

    def describe(self) -> dict[str, str]:
        return {kind.value: channel.name for kind, channel in self._channels.items()}
