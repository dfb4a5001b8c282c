"""Log setup: one line per event with its structured fields, never contact details or bodies."""

from __future__ import annotations

import logging
import logging.config
from typing import Any

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
    logging.config.dictConfig(logging_config(level))


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """The set-up as a `dictConfig` mapping, which API worker processes are given."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "fields": {
                "()": FieldsFormatter,
                "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s",
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "fields",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            # APScheduler logs every job run at INFO; that is noise every half second.
            "apscheduler": {"level": "WARNING"},
            # The Twilio SDK logs each request's parameters (numbers, bodies) at INFO.
            "twilio": {"level": "WARNING"},
        },
    }
