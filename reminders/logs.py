"""Log setup: one line per event with its structured fields, never contact details or bodies.

Three things would otherwise carry patient data into the log, whatever the level:
  - exception text: a database error quotes the row it could not write, a validation
    error the request. Tracebacks show each exception's type and frames; the text only
    for the types below that are known to carry none.
  - the access log's query string (`?phone=%2B12125550187`): paths are logged without it.
  - libraries that log what they send at INFO or DEBUG (SQLAlchemy's statements with
    their parameters, the Twilio SDK's requests): held to WARNING.
"""

from __future__ import annotations

import logging
import logging.config
import traceback
from types import TracebackType
from typing import Any

from reminders.errors import ConfigError

# Record attributes that are not structured fields (uvicorn adds `color_message`).
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}
# Exceptions whose text is ours or the network's, never a value from a request or a row.
_TEXT_SHOWN = (ConfigError, ConnectionError, TimeoutError)
_WITHHELD = "(text withheld: it may quote patient data)"
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class FieldsFormatter(logging.Formatter):
    """Appends the record's `extra` fields as key=value, e.g. message_id=12 state=sent."""

    def format(self, record: logging.LogRecord) -> str:
        # Another handler may have cached the full exception text on the record.
        cached, record.exc_text = record.exc_text, None
        try:
            base = super().format(record)
        finally:
            record.exc_text = cached
        fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if not fields:
            return base
        return base + " " + " ".join(f"{k}={v}" for k, v in sorted(fields.items()))

    def formatException(self, ei: Any) -> str:
        exc = ei[1]
        if not isinstance(exc, BaseException):
            return super().formatException(ei)
        return safe_traceback(exc).rstrip("\n")


def safe_traceback(exc: BaseException) -> str:
    """A traceback like Python's, chained exceptions included, with each exception's text
    shown only for the types in `_TEXT_SHOWN`."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    joint = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, joint))
        if current.__cause__ is not None:
            current, joint = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, joint = current.__context__, _CONTEXT
        else:
            current = None
    parts: list[str] = []
    for error, joint in reversed(chain):
        parts.append(_one_exception(error))
        parts.append(joint)
    return "".join(parts)


def _one_exception(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    head = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames))
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ != "builtins":
        name = f"{kind.__module__}.{name}"
    text = str(exc) if isinstance(exc, _TEXT_SHOWN) else _WITHHELD
    return (head if frames else "") + f"{name}: {text}\n"


class AccessPathOnly(logging.Filter):
    """uvicorn's access log line with the path alone: query strings carry phone numbers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            args = list(record.args)
            if len(args) > 2 and isinstance(args[2], str):
                args[2] = args[2].split("?", 1)[0]
                record.args = tuple(args)
        return True


def configure_logging(level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(level))


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """The set-up as a `dictConfig` mapping, which API worker processes are given."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"access_path_only": {"()": AccessPathOnly}},
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
                "filters": ["access_path_only"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            # APScheduler logs every job run at INFO; that is noise every half second.
            "apscheduler": {"level": "WARNING"},
            # The Twilio SDK logs each request's parameters (numbers, bodies) at INFO.
            "twilio": {"level": "WARNING"},
            # SQLAlchemy logs statements with their parameters (names, numbers) at INFO. It
            # sets itself to WARNING on import; this keeps it there whatever the root level.
            "sqlalchemy": {"level": "WARNING"},
        },
    }
