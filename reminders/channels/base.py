"""The interface every channel implements, and the registry the worker sends through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

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


class ChannelRegistry:
    """Which channel carries each kind of message in this deployment."""

    def __init__(self, channels: dict[ChannelKind, Channel]) -> None:
        self._channels = dict(channels)

    def for_kind(self, kind: ChannelKind) -> Channel:
        channel = self._channels.get(kind)
        if channel is None:
            raise ChannelError(f"no channel configured for {kind}", permanent=True)
        return channel

    def describe(self) -> dict[str, str]:
        return {kind.value: channel.name for kind, channel in self._channels.items()}
