"""One exception tree for the package; callers catch ReminderError."""

from __future__ import annotations

from enum import StrEnum


class ReminderError(Exception):
    """Base of every error the package raises on purpose."""


class ConfigError(ReminderError):
    """Settings or policy files are wrong; the message names the file and key."""


class InputError(ReminderError):
    """Bad input from a person or a client; nothing was stored."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ConflictError(ReminderError):
    """The request contradicts an earlier one (an Idempotency-Key reused with another body)."""


class ClinicDisabledError(ConflictError):
    """The clinic is disabled: it logs no treatments until it is enabled again."""

    def __init__(self, slug: str, reason: str | None) -> None:
        why = f" ({reason})" if reason else ""
        super().__init__(f"clinic: {slug!r} is disabled{why}: no treatments can be logged for it")
        self.slug = slug


class NotFoundError(ReminderError):
    """The object does not exist (or belongs to another clinic)."""


class FaultScope(StrEnum):
    """Whose fault a temporary failure is: it decides what waits for it."""

    MESSAGE = "message"  # this recipient, for now (a greylisting mail server): retry it alone
    CHANNEL = "channel"  # the provider (down, rate limited): the channel may pause
    CONFIGURATION = "configuration"  # our settings (credentials refused): wait for the fix


class ChannelError(ReminderError):
    """A provider refused or failed a send.

    Providers raise only this; the service decides what it means for the message.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        code: str | None = None,
        bad_recipient: bool = False,
        opted_out: bool = False,
        scope: FaultScope = FaultScope.CHANNEL,
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.scope = scope
        self.retry_after = retry_after
        self.code = code  # the provider's own error code, e.g. Twilio's "21211"
        # The address cannot take this channel (invalid, landline): another channel might.
        self.bad_recipient = bad_recipient
        # The recipient unsubscribed from this sender.
        self.opted_out = opted_out
        # The request may have been processed all the same (a 5xx, a timeout or a
        # connection dropped after the request went out): sending again could duplicate.
        self.maybe_sent = maybe_sent
