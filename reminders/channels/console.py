"""Console channel: prints each message and appends it to an outbox file.

The default when no provider is configured, so a clinic can try the service
with nothing but Python. The outbox stands in for the patient's phone or inbox,
so it holds the full text; it is not a log. Written there, a message has arrived:
each receipt says delivered, as a provider's delivery report would.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import TextIO

from reminders.channels.base import Outgoing, Receipt
from reminders.files import append_private


class ConsoleChannel:
    name = "console"

    def __init__(self, outbox: Path, stream: TextIO | None = None) -> None:
        self._outbox = outbox
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, outgoing: Outgoing) -> Receipt:
        provider_id = f"console-{outgoing.message_id}"
        record = {
            "provider_id": provider_id,
            "message_id": outgoing.message_id,
            "channel": outgoing.kind.value,
            "to": outgoing.to,
            "subject": outgoing.subject,
            "body": outgoing.body,
        }
        with self._lock:
            # It holds patients' contacts and texts: the owner's alone, like the database.
            append_private(self._outbox, json.dumps(record) + "\n")
            self._print(outgoing)
        return Receipt(provider_id, delivered=True)

    def _print(self, outgoing: Outgoing) -> None:
        stream = self._stream or sys.stdout
        header = (
            f"--- {outgoing.kind.value.upper()} to {outgoing.to} (message {outgoing.message_id})"
        )
        lines = [header]
        if outgoing.subject:
            lines.append(f"Subject: {outgoing.subject}")
        lines += [outgoing.body, "---"]
        stream.write("\n".join(lines) + "\n")
        stream.flush()
