"""Asking a provider whether it already holds a message whose send had an unknown outcome.

The one piece of I/O behind `decisions.after_lookup`: the dispatcher reads the
message, asks here, decides there, and records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from reminders.channels.base import Outgoing, Reconciling
from reminders.db.claims import ClaimedMessage
from reminders.decisions import Lookup
from reminders.errors import ChannelError

log = logging.getLogger(__name__)


def look_up(
    channel: Reconciling,
    message: ClaimedMessage,
    outgoing: Outgoing,
    taken: Callable[[str], bool],
) -> Lookup:
    """What the provider says of `outgoing` (the uncertain call's text) since that call began.

    A failed lookup is an answer too ("unknown still"): the caller holds the message.
    """
    assert message.uncertain_since is not None
    try:
        receipt = channel.find_sent(outgoing, message.uncertain_since, taken=taken)
    except ChannelError as exc:
        # The error's text carries codes and statuses only, never the recipient.
        log.warning(
            "could not look for a message at the provider",
            extra={"message_id": message.id, "error": type(exc.__cause__ or exc).__name__},
        )
        return Lookup(error=str(exc))
    return Lookup(found=receipt.provider_id if receipt is not None else None)
