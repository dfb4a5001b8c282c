"""Log setup: one line per event with its structured fields, never contact details or bodies."""

from __future__ import annotations

import logging
import sys

# Record attributes that are not structured fields (uvicorn adds `color_message`).
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class FieldsFormatter(logging.Formatter):
    """Appends the record's `extra` fields as key=value, e.g. message_id=12 state=sent."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if not fields:
            return base
        return base + " " + " ".join(f"{k}={v}" for k, v in sorted(fields.items()))


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(FieldsFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # APScheduler logs every job run at INFO; that is noise every half second.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # The Twilio SDK logs each request's parameters (numbers, bodies) at INFO.
    logging.getLogger("twilio").setLevel(logging.WARNING)
