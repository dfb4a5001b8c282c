"""Console channel: prints each message and appends it to an outbox file.

The default when no provider is configured, so a clinic can try the service
with nothing but Python. The outbox stands in for the patient's phone or inbox,
so it holds the full text; it is not a log. Written there, a message has arrived:
each receipt says delivered, as a provider's delivery report would.

It is also the console's record of what it sent, so it can answer the worker's
question after a worker died mid-send ("was message 12 sent?") as a provider's
listing would: it is written before `send` returns, so it has no listing lag.
A lookup reads the whole file, which is fine for the trials and tests the
console serves and rare (only after a worker died holding a claim).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from reminders.channels.base import Outgoing, Receipt, never_taken
from reminders.files import append_private


class ConsoleChannel:
    name = "console"
    listing_lag = timedelta(0)

    def __init__(self, outbox: Path, stream: TextIO | None = None) -> None:
        self._outbox = outbox
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, outgoing: Outgoing) -> Receipt:
        provider_id = f"console-{outgoing.label}"
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

    def find_sent(
        self, outgoing: Outgoing, since: datetime, *, taken: Callable[[str], bool] = never_taken
    ) -> Receipt | None:
        """The outbox's record of this message with this text, if it holds one.

        The outbox keeps no times, so `since` is not compared: a record naming our
        message id can only be this message's.
        """
        for record in self._records():
            if record.get("message_id") == outgoing.message_id and record.get("body") == (
                outgoing.body
            ):
                return Receipt(str(record["provider_id"]))
        return None

    def _records(self) -> Iterator[dict[str, object]]:
        with self._lock:
            try:
                lines = self._outbox.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                return
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash mid-write: nothing was sent there
            if isinstance(record, dict):
                yield record

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
