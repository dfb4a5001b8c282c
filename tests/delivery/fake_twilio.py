"""A local stand-in for Twilio's Messages create and list endpoints, and nothing else.

What it accepts is read from Twilio's own OpenAPI document
(../shared/twilio/twilio_api_v2010.json): the path, the form fields of
`CreateMessageRequest` with their types, patterns and enums, `To` as the one
required field, and HTTP basic auth with the account SID and auth token. Its
201 body follows `api.v2010.account.message`. Beyond the document, it follows
Twilio's documented behaviour (FACTS.md, twilio.com/docs/api/errors): a sender
(`From` or `MessagingServiceSid`) and content (`Body`, `MediaUrl` or
`ContentSid`) are required, errors come as JSON `{code, message, more_info,
status}`, status is `queued` with a From number and `accepted` with a
Messaging Service.

Bounds the document gives only in prose are enforced too: `ValidityPeriod`
("Accepted values are integers from `1` to `36000`") outside 1..36000 is a 400
with Twilio's code for it, 21624 (Invalid validity period value).

Stricter than Twilio on purpose: a field the document does not list is
refused (Twilio ignores it), so a client sending one is caught here.

Status callbacks, as Twilio sends them, when asked: after a create that
succeeds (201) and names a `StatusCallback`, each status in `callback_statuses`
(or a number's own list, `callbacks_to`) is POSTed form-encoded and signed
(`X-Twilio-Signature` over the StatusCallback URL exactly as given). With
`callback_target` set they are delivered there instead, same path and query,
as a TLS-terminating proxy in front of the service would; the signature still
names the public URL. `callback_timing` picks the order: "after_reply" from a
background thread once the 201 is sent, or "before_reply", the worst case,
where the service hears of a message before it knows the message's SID. Each
attempt is recorded in `callbacks`, refused or not; nothing is ever raised into
the server. None are sent by default.

Messages list (GET on the same path) is in `fake_twilio_list.py`: the query
the document defines and its `ListMessageResponse`, newest first. Every message
created is kept for it, with the fake's clock (`clock`, UTC now by default) as
its `date_created`; it is listed only `listing_delay` seconds after that, as
Twilio's listing may lag. `date_sent` stays null until the message is `sent`
(`set_status`, or a `sent` status callback). `fail_list` makes lists fail.

Faults on a create (`fail_next`, `fail_to`): refused before processing (429,
500, 503, or a connection dropped unanswered), a recipient error, or accepted
and then lost on the way back: the message is created (and listed) but the
client gets a dropped connection (ACCEPTED_DROP), a 500 (ACCEPTED_500), or its
201 only after `slow_reply` seconds, beyond the client's timeout (ACCEPTED_SLOW).

Each connection carries one request (HTTP/1.0): stopping the server never
waits on a client's idle keep-alive connection.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import enum
import functools
import hmac
import http.client
import json
import math
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import jsonschema
from twilio.request_validator import RequestValidator

from tests.delivery import fake_twilio_list as listing

# The Messages create operation and the schemas it refers to, cut from Twilio's
# published OpenAPI description (twilio-oai, MIT licence: see README.md here).
OPENAPI_FILE = Path(__file__).resolve().parent / "twilio_messages_openapi.json"
MESSAGES_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
MESSAGE_SCHEMA = "api.v2010.account.message"
_MESSAGES_ROUTE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_INTEGER = re.compile(r"-?\d+")

# Limits the document states in a field's description but not in its schema.
VALIDITY_PERIOD = (1, 36000)  # "Accepted values are integers from `1` to `36000`"
_PROSE_BOUNDS = {"ValidityPeriod": VALIDITY_PERIOD}

CallbackTiming = Literal["before_reply", "after_reply"]
CALLBACK_TIMEOUT = 5.0  # seconds, for one status callback POST
# Twilio sends ErrorCode with these final statuses only.
_ERROR_STATUSES = {"failed", "undelivered"}

# GSM 03.38: the basic set, and the extension set whose characters count twice.
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = "\f^{}\\[~]|€"


class Fault(enum.StrEnum):
    """What the server does instead of accepting a message."""

    RATE_LIMITED = "429"  # 20429, with Retry-After: not processed
    SERVER_ERROR = "500"  # 20500
    UNAVAILABLE = "503"  # 20503
    INVALID_TO = "21211"  # the 'To' number is not a valid phone number
    UNSUBSCRIBED = "21610"  # the recipient sent STOP
    NOT_MOBILE = "21614"  # the 'To' number is not a mobile number
    DROP = "drop"  # close the connection without answering
    # Created (and listed), but the answer is lost: the outcome a client cannot know.
    ACCEPTED_DROP = "accepted-drop"  # then the connection closes unanswered
    ACCEPTED_500 = "accepted-500"  # then a 500, as a failure after the write would give
    ACCEPTED_SLOW = "accepted-slow"  # then the 201, after `slow_reply` seconds


# fault -> (HTTP status, Twilio code, message); {to} is filled in as Twilio does.
_FAULT_ERRORS: dict[Fault, tuple[int, int, str]] = {
    Fault.RATE_LIMITED: (429, 20429, "Too Many Requests"),
    Fault.SERVER_ERROR: (500, 20500, "Internal Server Error"),
    Fault.UNAVAILABLE: (503, 20503, "Service Unavailable"),
    Fault.INVALID_TO: (400, 21211, "The 'To' number {to} is not a valid phone number."),
    Fault.UNSUBSCRIBED: (400, 21610, "Attempt to send to unsubscribed recipient {to}"),
    Fault.NOT_MOBILE: (400, 21614, "'To' number {to} is not a valid mobile number"),
}
# Refused before the request is looked at (like a real rate limiter or outage).
_TRANSPORT_FAULTS = {Fault.RATE_LIMITED, Fault.SERVER_ERROR, Fault.UNAVAILABLE, Fault.DROP}
_ACCEPTED_FAULTS = {Fault.ACCEPTED_DROP, Fault.ACCEPTED_500, Fault.ACCEPTED_SLOW}


# -- the OpenAPI document ------------------------------------------------------


@functools.cache
def openapi() -> dict[str, Any]:
    return json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def create_operation() -> dict[str, Any]:
    return openapi()["paths"][MESSAGES_PATH]["post"]  # type: ignore[no-any-return]


def create_request_schema() -> dict[str, Any]:
    body = create_operation()["requestBody"]["content"]["application/x-www-form-urlencoded"]
    return body["schema"]  # type: ignore[no-any-return]


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 to JSON Schema: `nullable: true` becomes a type that admits null."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") and "type" in node:
        out["type"] = [node["type"], "null"]
    return out


@functools.cache
def _components() -> dict[str, Any]:
    return _json_schema(copy.deepcopy(openapi()["components"]["schemas"]))  # type: ignore[no-any-return]


def _format_checker(relative_uris: bool = False) -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time-rfc-2822", raises=(TypeError, ValueError))
    def _rfc2822(value: object) -> bool:
        return not isinstance(value, str) or parsedate_to_datetime(value).tzinfo is not None

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        if relative_uris and value.startswith("/") and not parts.netloc:
            return True
        return parts.scheme in ("http", "https") and bool(parts.netloc)

    return checker


def validator_for(
    schema: dict[str, Any], *, relative_uris: bool = False
) -> jsonschema.protocols.Validator:
    """A validator for `schema`, its `#/components/schemas/...` refs resolved in the document.

    `relative_uris`: a `uri` may be a path, as in Twilio's answers (its own examples
    give `first_page_uri` as `/2010-04-01/...`); a request's URLs must be absolute.
    """
    root = {**schema, "components": {"schemas": _components()}}
    return jsonschema.Draft7Validator(root, format_checker=_format_checker(relative_uris))


def message_validator() -> jsonschema.protocols.Validator:
    """Validates a Messages create 201 body against the document's schema for it."""
    ref = create_operation()["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == f"#/components/schemas/{MESSAGE_SCHEMA}"
    return validator_for({"$ref": ref})


@functools.cache
def _request_validator() -> jsonschema.protocols.Validator:
    schema = _json_schema(create_request_schema())  # a fresh copy: safe to add to
    for name, (low, high) in _PROSE_BOUNDS.items():
        schema["properties"][name].update(minimum=low, maximum=high)
    # Only what the document lists: a stray field is a client bug worth seeing.
    return validator_for({**schema, "additionalProperties": False})


# -- what the server saw -------------------------------------------------------


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when the request arrived
    method: str
    path: str
    form: dict[str, list[str]]
    auth_user: str | None
    status: int | None  # None: the connection was dropped unanswered
    sid: str | None  # the message SID, when one was created

    def field(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None

    @property
    def to(self) -> str | None:
        return self.field("To")

    @property
    def sender(self) -> str | None:
        return self.field("MessagingServiceSid") or self.field("From")

    @property
    def validity_period(self) -> int | None:
        """`ValidityPeriod` as sent; None if absent or not an integer (see `field`)."""
        value = self.field("ValidityPeriod")
        return int(value) if value is not None and _INTEGER.fullmatch(value) else None


@dataclass(frozen=True)
class Callback:
    """One status callback the fake tried to deliver."""

    at: float  # time.monotonic() when it was sent
    sid: str  # MessageSid
    status: str  # MessageStatus
    to: str | None
    url: str  # where it was POSTed (callback_target, or the StatusCallback URL itself)
    signed_url: str  # the StatusCallback URL as the client gave it: what the signature covers
    error_code: str | None  # the ErrorCode parameter, if one was sent
    http_status: int | None  # None: no HTTP answer (refused, timed out, unresolvable)
    error: str | None = None  # why there was no answer


@dataclass(frozen=True)
class _CallbackPlan:
    """The callbacks for one created message, fixed when it was created."""

    url: str
    signed_url: str
    to: str | None
    sid: str
    params: dict[str, str]  # everything but the status fields
    statuses: tuple[str, ...]
    error_code: str | None
    delay: float
    timing: CallbackTiming


@dataclass
class _Rule:
    fault: Fault
    remaining: int | None  # None: for ever


@dataclass
class _Stored:
    """A message the fake created, for Messages list."""

    resource: dict[str, Any]  # as the create answered it; status and date_sent move on
    created: datetime
    sent_at: datetime | None = None


class _Answer(Exception):
    """Raised inside the handler to answer with a Twilio error."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


class FakeTwilio:
    """Twilio's Messages create on 127.0.0.1, in a thread; use as a context manager."""

    def __init__(
        self,
        *,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        retry_after: int = 7,
        callback_statuses: Sequence[str] = (),
        callback_error_code: str | None = None,
        callback_target: str | None = None,
        callback_timing: CallbackTiming = "after_reply",
        callback_delay: float = 0.0,
        clock: Callable[[], datetime] | None = None,
        listing_delay: float = 0.0,
        slow_reply: float = 10.0,
    ) -> None:
        self.account_sid = account_sid
        # Twilio's clock, for date_created and the listing delay: a test passes its own.
        self.clock = clock or (lambda: datetime.now(UTC))
        self.listing_delay = listing_delay  # seconds before a created message is listed
        self.slow_reply = slow_reply  # seconds ACCEPTED_SLOW holds the 201 back
        self.auth_token = auth_token
        self.retry_after = retry_after
        # Statuses are not checked against Twilio's list: Twilio adds values without
        # notice, and a test may want to send one the service does not know.
        self.callback_statuses: list[str] = list(callback_statuses)
        self.callback_error_code = callback_error_code  # sent with failed/undelivered only
        self.callback_target = callback_target
        self.callback_timing = callback_timing
        self.callback_delay = callback_delay
        self._lock = threading.Lock()
        self._callbacks_changed = threading.Condition(self._lock)
        self._received: list[Received] = []
        self._callbacks: list[Callback] = []
        self._next: list[Fault] = []
        self._next_lists: list[Fault] = []
        self._stored: list[_Stored] = []
        self._by_to: dict[str, _Rule] = {}
        self._callbacks_by_to: dict[str, tuple[tuple[str, ...], str | None]] = {}
        self._callback_threads: list[threading.Thread] = []
        # Messages whose callbacks are not all sent yet, counted before the 201 goes out.
        self._callbacks_pending = 0
        self._closing = threading.Event()  # set by stop(): cut delays, send nothing more
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle --

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._closing.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-twilio",
        )
        self._thread.start()
        return self

    def stop(self, callback_grace: float = 1.0) -> None:
        """Stop serving; callbacks still pending get `callback_grace` seconds to go out.

        After that, delays are cut short and callbacks not yet sent are dropped; one
        being posted ends within its own timeout. No callback thread outlives this.
        """
        if self._server is None:
            return
        self._server.shutdown()  # no new requests
        assert self._thread is not None
        self._thread.join()
        # Counted before each 201 was sent: a message the client saw created is included
        # even if its callback thread has not started yet.
        with self._callbacks_changed:
            self._callbacks_changed.wait_for(lambda: self._callbacks_pending == 0, callback_grace)
        self._closing.set()
        self._server.server_close()  # joins the request threads (before_reply callbacks)
        with self._lock:
            threads = list(self._callback_threads)
        for thread in threads:
            thread.join(CALLBACK_TIMEOUT + 1.0)  # a post in flight ends within its timeout
        self._server = None
        self._thread = None
        if any(thread.is_alive() for thread in threads):
            raise RuntimeError("a status callback thread is still running")

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- telling it what to do --

    def fail_next(self, fault: Fault, times: int = 1) -> None:
        """The next `times` requests (to any number) meet `fault`."""
        with self._lock:
            self._next.extend([fault] * times)

    def fail_list(self, fault: Fault, times: int = 1) -> None:
        """The next `times` Messages list requests meet `fault` (429, 500, 503 or DROP)."""
        assert fault in _TRANSPORT_FAULTS, f"a list can only be refused, not {fault}"
        with self._lock:
            self._next_lists.extend([fault] * times)

    def set_status(self, sid: str, status: str) -> None:
        """A created message moves on, as the carrier reports it; `sent` dates it."""
        now = self.clock()
        with self._lock:
            [stored] = [m for m in self._stored if m.resource["sid"] == sid]
            stored.resource["status"] = status
            stored.resource["date_updated"] = format_datetime(now)
            if status == "sent" and stored.sent_at is None:
                stored.sent_at = now
                stored.resource["date_sent"] = format_datetime(now)

    def fail_to(self, to: str, fault: Fault, times: int | None = None) -> None:
        """Requests to this number meet `fault`, `times` times or (None) always."""
        with self._lock:
            self._by_to[to] = _Rule(fault, times)

    @property
    def callback_timing(self) -> CallbackTiming:
        return self._callback_timing

    @callback_timing.setter
    def callback_timing(self, timing: CallbackTiming) -> None:
        if timing not in ("before_reply", "after_reply"):
            raise ValueError(f"callback_timing: 'before_reply' or 'after_reply', not {timing!r}")
        self._callback_timing: CallbackTiming = timing

    @property
    def callback_target(self) -> str | None:
        """Where status callbacks go, as `http://host:port`; None: the StatusCallback URL."""
        return self._callback_target

    @callback_target.setter
    def callback_target(self, target: str | None) -> None:
        if target is not None:
            parts = urlsplit(target)
            # Only scheme and host are replaced: a path here would be silently ignored.
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"callback_target must be http(s)://host:port, not {target!r}")
            if parts.path not in ("", "/") or parts.query or parts.fragment:
                raise ValueError(f"callback_target takes no path or query: {target!r}")
        self._callback_target = target

    def callbacks_to(self, to: str, statuses: Sequence[str], error_code: str | None = None) -> None:
        """Messages to this number get these callbacks instead of `callback_statuses`.

        `error_code` (e.g. "30003") is sent with a `failed` or `undelivered` status;
        an empty `statuses` means no callbacks for this number.
        """
        with self._lock:
            self._callbacks_by_to[to] = (tuple(statuses), error_code)

    def _fault_for(self, to: str | None) -> Fault | None:
        with self._lock:
            rule = self._by_to.get(to) if to else None
            if rule is None:
                return self._next.pop(0) if self._next else None
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    del self._by_to[to]  # type: ignore[arg-type]
            return rule.fault

    # -- what it saw --

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def requests_to(self, to: str) -> list[Received]:
        """Creates (POSTs) to this number."""
        return [r for r in self.received if r.method == "POST" and r.to == to]

    def created_for(self, to: str) -> list[Received]:
        """Messages Twilio created for this number, whatever answer the client got."""
        return [r for r in self.requests_to(to) if r.sid is not None]

    @property
    def lists(self) -> list[Received]:
        """Every Messages list request, its query as `form`."""
        return [r for r in self.received if r.method == "GET"]

    def _store(self, resource: dict[str, Any]) -> None:
        with self._lock:
            self._stored.append(_Stored(resource, self.clock()))

    def _list_fault(self) -> Fault | None:
        with self._lock:
            return self._next_lists.pop(0) if self._next_lists else None

    def _listed(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """The answer to a Messages list with this query: its status and body."""
        try:
            parsed = listing.parse_query(query)
        except listing.ListRefused as exc:
            return 400, error_body(400, 20001, str(exc))
        visible = self.clock() - timedelta(seconds=self.listing_delay)
        with self._lock:
            found = [
                copy.deepcopy(m.resource)
                for m in reversed(self._stored)  # newest first
                if m.created <= visible and listing.matches(m.resource, m.sent_at, parsed.filters)
            ]
        return 200, listing.page_body(self.account_sid, parsed, found)

    def _record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)

    @property
    def callbacks(self) -> list[Callback]:
        """Every status callback attempt so far, in the order they were made."""
        with self._lock:
            return list(self._callbacks)

    def wait_for_callbacks(self, count: int, timeout: float = 5.0) -> list[Callback]:
        """All callback attempts, once there are at least `count`; TimeoutError if not in time."""
        with self._callbacks_changed:
            if not self._callbacks_changed.wait_for(lambda: len(self._callbacks) >= count, timeout):
                raise TimeoutError(
                    f"{len(self._callbacks)} of {count} status callbacks after {timeout} s: "
                    f"{self._callbacks}"
                )
            return list(self._callbacks)

    # -- status callbacks --

    def _callback_plan(self, form: dict[str, list[str]], sid: str) -> _CallbackPlan | None:
        """What to send for a message just created, from the settings as they are now."""
        signed_url = _first(form, "StatusCallback")
        if not signed_url:
            return None
        to = _first(form, "To")
        with self._lock:
            statuses, error_code = self._callbacks_by_to.get(
                to or "", (tuple(self.callback_statuses), self.callback_error_code)
            )
            target, timing, delay = self.callback_target, self.callback_timing, self.callback_delay
        if not statuses:
            return None
        with self._lock:
            self._callbacks_pending += 1  # until _send_callbacks (or _start_callbacks) is done
        params = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01"}
        sender, service = _first(form, "From"), _first(form, "MessagingServiceSid")
        # A Messaging Service picks its number later: the fake has none to report.
        if sender:
            params["From"] = sender
        if service:
            params["MessagingServiceSid"] = service
        params.update({"To": to or "", "MessageSid": sid, "SmsSid": sid})
        return _CallbackPlan(
            url=_delivered_to(signed_url, target),
            signed_url=signed_url,
            to=to,
            sid=sid,
            params=params,
            statuses=statuses,
            error_code=error_code,
            delay=delay,
            timing=timing,
        )

    def _start_callbacks(self, plan: _CallbackPlan) -> None:
        thread = threading.Thread(
            target=self._send_callbacks,
            args=(plan,),
            name=f"fake-twilio-callbacks-{plan.sid}",
            daemon=True,  # stop() joins it; daemon only so a forgotten stop() cannot hang exit
        )
        with self._callbacks_changed:
            if self._closing.is_set():  # stopped before this message's callbacks began
                self._callbacks_pending -= 1
                self._callbacks_changed.notify_all()
                return
            self._callback_threads = [t for t in self._callback_threads if t.is_alive()]
            self._callback_threads.append(thread)
            thread.start()

    def _send_callbacks(self, plan: _CallbackPlan) -> None:
        try:
            self._post_callbacks(plan)
        finally:
            with self._callbacks_changed:
                self._callbacks_pending -= 1
                self._callbacks_changed.notify_all()

    def _post_callbacks(self, plan: _CallbackPlan) -> None:
        validator = RequestValidator(self.auth_token)
        for status in plan.statuses:
            # wait() rather than sleep(): stop() cuts the delay short.
            if self._closing.wait(plan.delay):
                return
            params = {**plan.params, "MessageStatus": status, "SmsStatus": status}
            error_code = plan.error_code if status in _ERROR_STATUSES else None
            if error_code:
                params["ErrorCode"] = error_code
            signature = validator.compute_signature(plan.signed_url, params)
            sent = time.monotonic()
            http_status, error = _post_form(plan.url, params, signature)
            callback = Callback(
                at=sent,
                sid=plan.sid,
                status=status,
                to=plan.to,
                url=plan.url,
                signed_url=plan.signed_url,
                error_code=error_code,
                http_status=http_status,
                error=error,
            )
            with self._callbacks_changed:
                self._callbacks.append(callback)
                self._callbacks_changed.notify_all()

    # -- answers --

    def message_resource(self, form: dict[str, list[str]], sid: str) -> dict[str, Any]:
        """The 201 body, as `api.v2010.account.message` describes it."""

        def one(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values else None

        service = one("MessagingServiceSid")
        sender = one("From")
        body = one("Body") or ""
        now = format_datetime(self.clock())
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": service,
            "num_media": str(len(form.get("MediaUrl", []))),
            # A Messaging Service has not picked a sender yet: 0 segments so far.
            "num_segments": "0" if service and not sender else str(segments(body)),
            "price": None,
            "price_unit": None,
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": one("To"),
            "uri": f"{uri}.json",
        }


def segments(body: str) -> int:
    """How many SMS segments `body` takes: GSM-7 160/153, else UCS-2 70/67."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in body):
        units = len(body) + sum(ch in _GSM_EXTENDED for ch in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    return 1 if units <= single else math.ceil(units / multi)


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeTwilio
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the test records what matters

    def do_POST(self) -> None:
        arrived = time.monotonic()
        path = urlsplit(self.path).path
        raw = self._body()
        form = _parse_form(raw) if self._is_form() else {}
        answer = self._answer(path, form)
        dropped = answer is None or answer.lost is Fault.ACCEPTED_DROP
        # Recorded before answering: once the client has its reply, the record exists.
        self.server_fake._record(
            Received(
                arrived,
                "POST",
                path,
                form,
                _basic_user(self.headers.get("Authorization")),
                None if answer is None or dropped else answer.status,
                answer.sid if answer is not None else None,
            )
        )
        if answer is None:
            self._drop()
            return
        fake = self.server_fake
        plan = fake._callback_plan(form, answer.sid) if answer.sid is not None else None
        if plan is not None and plan.timing == "before_reply":
            fake._send_callbacks(plan)  # in this thread: the client waits for them
            plan = None
        try:
            self._reply(answer, dropped=dropped)
        finally:
            # Created is created: the callbacks follow even if the client has gone.
            if plan is not None:
                fake._start_callbacks(plan)

    def _answer(self, path: str, form: dict[str, list[str]]) -> _Reply | None:
        """The reply to a create, or None to drop the connection unanswered."""
        try:
            self._check_route(path)
            self._check_auth(path)
            fault = self.server_fake._fault_for(_first(form, "To"))
            if fault is Fault.DROP:
                return None
            if fault in _TRANSPORT_FAULTS:
                wait = {"Retry-After": str(self.server_fake.retry_after)}
                raise _fault_answer(fault, None, wait if fault is Fault.RATE_LIMITED else {})
            _check_request(form, is_form=self._is_form())
            if fault is not None and fault not in _ACCEPTED_FAULTS:
                raise _fault_answer(fault, _first(form, "To"))
        except _Answer as error:
            body = error_body(error.status, error.code, error.message)
            return _Reply(error.status, body, error.headers, None)
        sid = "SM" + uuid.uuid4().hex
        resource = self.server_fake.message_resource(form, sid)
        self.server_fake._store(resource)
        if fault is Fault.ACCEPTED_500:
            status, code, message = _FAULT_ERRORS[Fault.SERVER_ERROR]
            return _Reply(status, error_body(status, code, message), {}, sid, fault)
        return _Reply(201, resource, {}, sid, fault)

    def _reply(self, answer: _Reply, *, dropped: bool) -> None:
        if dropped:
            self._drop()
            return
        if answer.lost is Fault.ACCEPTED_SLOW:
            # wait() rather than sleep(): stop() cuts it short. The client has given up
            # by then, so writing to it may fail: that is the point.
            self.server_fake._closing.wait(self.server_fake.slow_reply)
            with contextlib.suppress(OSError):
                self._send_json(answer.status, answer.body, answer.headers)
            return
        self._send_json(answer.status, answer.body, answer.headers)

    def _drop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def do_GET(self) -> None:
        arrived = time.monotonic()
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        user = _basic_user(self.headers.get("Authorization"))
        fake = self.server_fake
        fault = fake._list_fault()
        status: int | None
        try:
            self._check_route(parts.path)
            self._check_auth(parts.path)
            if fault is not None and fault is not Fault.DROP:
                raise _fault_answer(fault, None)
        except _Answer as error:
            status, body = error.status, error_body(error.status, error.code, error.message)
            headers = error.headers
        else:
            status, body = (None, {}) if fault is Fault.DROP else fake._listed(query)
            headers = {}
        fake._record(Received(arrived, "GET", parts.path, query, user, status, None))
        if status is None:
            self._drop()
        else:
            self._send_json(status, body, headers)

    def do_PUT(self) -> None:
        self._not_allowed()

    def do_DELETE(self) -> None:
        self._not_allowed()

    def _not_allowed(self) -> None:
        arrived = time.monotonic()
        path = urlsplit(self.path).path
        self._body()
        if _MESSAGES_ROUTE.match(path):
            status, body = 405, error_body(405, 20004, "Method not allowed")
        else:
            status, body = 404, _not_found(path)
        user = _basic_user(self.headers.get("Authorization"))
        self.server_fake._record(Received(arrived, self.command, path, {}, user, status, None))
        self._send_json(status, body)

    # -- steps --

    def _check_route(self, path: str) -> None:
        if not _MESSAGES_ROUTE.match(path):
            raise _Answer(404, 20404, _not_found(path)["message"], {})

    def _check_auth(self, path: str) -> None:
        fake = self.server_fake
        credentials = _basic_credentials(self.headers.get("Authorization"))
        if credentials is None or not (
            hmac.compare_digest(credentials[0], fake.account_sid)
            and hmac.compare_digest(credentials[1], fake.auth_token)
        ):
            raise _Answer(
                401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
        match = _MESSAGES_ROUTE.match(path)
        assert match is not None
        if match["account"] != fake.account_sid:
            # Another account's resources do not exist for these credentials.
            raise _Answer(404, 20404, _not_found(path)["message"], {})

    # -- plumbing --

    def _is_form(self) -> bool:
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        return kind == "application/x-www-form-urlencoded"

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@dataclass(frozen=True)
class _Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    sid: str | None
    lost: Fault | None = None  # created, but the answer does not reach the client


def _delivered_to(signed_url: str, target: str | None) -> str:
    """The public URL with the target's scheme and host: what a TLS-terminating proxy does."""
    if target is None:
        return signed_url
    base = urlsplit(target)
    return urlsplit(signed_url)._replace(scheme=base.scheme, netloc=base.netloc).geturl()


def _post_form(url: str, params: dict[str, str], signature: str) -> tuple[int | None, str | None]:
    """POST a signed status callback; (HTTP status, None) or (None, why not). Never raises.

    http.client, not urllib.request: no proxy from the environment, no redirects followed.
    """
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body = urlencode(params).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "X-Twilio-Signature": signature,
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
    }
    connection: http.client.HTTPConnection | None = None
    try:
        secure = parts.scheme == "https"
        kind = http.client.HTTPSConnection if secure else http.client.HTTPConnection
        connection = kind(parts.hostname or "", parts.port, timeout=CALLBACK_TIMEOUT)
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, None
    except Exception as exc:  # refused, timed out, bad host, bad reply: recorded, not raised
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        if connection is not None:
            connection.close()


def _fault_answer(fault: Fault, to: str | None, headers: dict[str, str] | None = None) -> _Answer:
    status, code, message = _FAULT_ERRORS[fault]
    return _Answer(status, code, message.format(to=to or ""), headers or {})


def _not_found(path: str) -> dict[str, Any]:
    return error_body(404, 20404, f"The requested resource {path} was not found")


def _first(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _parse_form(raw: bytes) -> dict[str, list[str]]:
    return parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _basic_user(header: str | None) -> str | None:
    credentials = _basic_credentials(header)
    return credentials[0] if credentials else None


def _typed(form: dict[str, list[str]]) -> dict[str, Any]:
    """Form values typed as the request schema declares them, for validation."""
    properties = create_request_schema()["properties"]
    typed: dict[str, Any] = {}
    for name, values in form.items():
        kind = properties.get(name, {}).get("type")
        if kind == "array":
            typed[name] = values
            continue
        if len(values) != 1:
            typed[name] = values  # a single-valued field given twice: not a string
            continue
        typed[name] = _scalar(values[0], kind)
    return typed


def _scalar(value: str, kind: str | None) -> Any:
    if kind == "integer" and _INTEGER.fullmatch(value):
        return int(value)
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return value
    if kind == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _check_request(form: dict[str, list[str]], *, is_form: bool) -> None:
    if not is_form:
        raise _Answer(400, 20001, "Content-Type must be application/x-www-form-urlencoded", {})
    errors = sorted(_request_validator().iter_errors(_typed(form)), key=lambda e: e.path)
    for error in errors:
        if error.validator == "required":
            raise _Answer(400, 21604, "A 'To' phone number is required.", {})
    if errors:
        where = "/".join(str(part) for part in errors[0].path) or "request"
        # twilio.com/docs/api/errors/21624; any other parameter: 20001.
        code = 21624 if where == "ValidityPeriod" else 20001
        raise _Answer(400, code, f"Invalid parameter {where}: {errors[0].message}", {})
    to = _first(form, "To") or ""
    if not to:
        raise _Answer(400, 21604, "A 'To' phone number is required.", {})
    if not (_first(form, "From") or _first(form, "MessagingServiceSid")):
        raise _Answer(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required.", {})
    if not (_first(form, "Body") or form.get("MediaUrl") or _first(form, "ContentSid")):
        raise _Answer(400, 21602, "Message body is required.", {})
    if not E164.match(to.partition(":")[2] if ":" in to else to):
        raise _Answer(400, 21211, f"The 'To' number {to} is not a valid phone number.", {})


def requests_per_window(times: list[float], window: float = 1.0) -> Iterator[int]:
    """For each request, how many arrived in the `window` seconds starting with it."""
    ordered = sorted(times)
    end = 0
    for start, at in enumerate(ordered):
        while end < len(ordered) and ordered[end] < at + window:
            end += 1
        yield end - start
