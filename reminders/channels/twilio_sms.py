"""Twilio SMS through the official SDK.

Error codes mapped here (twilio.com/docs/api/errors):
- 429 / 20429: not processed; safe to retry after Retry-After.
- 5xx, timeouts, dropped connections: transient. A 5xx or a timeout on a
  create MAY have been processed (Messages create has no idempotency key): the
  error says so (`maybe_sent`), and the worker looks for the text with
  `find_sent` (Messages list) before it sends it again. A connection that was
  never opened cannot have carried the request: that one is plainly retried.
- 21211 invalid To, 21614 To is not a mobile number, 21612 cannot route to
  To, 21408 region not enabled: permanent, the recipient cannot take SMS.
- 21610 recipient unsubscribed (sent STOP): permanent, and an opt-out.
- 20003 / 401 credentials refused: transient, and ours. Our configuration is
  wrong, not the message: the queue waits for the fix, attempts uncounted.
- 21617 body too long, other 4xx: permanent.

Every text carries ValidityPeriod, what is left of its step's usefulness, so
a text Twilio or a carrier could only deliver late is dropped instead (it is
then reported undelivered, with error 30036 or similar).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from requests.exceptions import ConnectTimeout, RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageInstance
from urllib3.exceptions import NewConnectionError

from reminders import metrics
from reminders.channels.base import Outgoing, Receipt, never_taken
from reminders.errors import ChannelError, FaultScope
from reminders.ratelimit import SendRateLimiter
from reminders.settings import TwilioSettings

BAD_RECIPIENT = {21211, 21612, 21614, 21408, 21606}
# Twilio keeps a queued message for at most this long (its default, 10 hours).
MAX_VALIDITY_SECONDS = 36000
OPTED_OUT = 21610
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
# The newest messages to one number read when looking for an uncertain send: one
# page. A patient gets a handful of texts per treatment, and the one looked for
# was created moments (at most a lease) ago, so it is among the newest.
LOOKUP_LIMIT = 50
# Twilio's clock against ours: date_created is stamped by Twilio, to the whole
# second, and `since` by our clock. Wider would risk taking an identical text
# sent to the same number just before for this one.
CLOCK_SKEW = timedelta(seconds=60)


class _HttpClient(TwilioHttpClient):  # type: ignore[misc]
    """The SDK's own client, pointed at another host (a local test server) if asked,
    and remembering each response's headers: the SDK's exception drops Retry-After."""

    def __init__(self, *, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._base = urlsplit(base_url) if base_url else None
        self._local = threading.local()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self._base is not None:
            parts = urlsplit(url)
            url = parts._replace(scheme=self._base.scheme, netloc=self._base.netloc).geturl()
        self._local.headers = {}
        response = super().request(method, url, *args, **kwargs)
        self._local.headers = dict(response.headers or {})
        return response

    def last_header(self, name: str) -> str | None:
        headers: dict[str, str] = getattr(self._local, "headers", {})
        for key, value in headers.items():
            if key.lower() == name.lower():
                return value
        return None


class TwilioSmsChannel:
    name = "twilio"

    def __init__(self, settings: TwilioSettings, *, limiter: SendRateLimiter | None = None) -> None:
        assert settings.configured, "Twilio needs account_sid, auth_token and a sender"
        self.settings = settings
        self._http = _HttpClient(base_url=settings.api_base_url, timeout=settings.timeout_seconds)
        self._client = Client(settings.account_sid, settings.token(), http_client=self._http)
        # The SDK imports its REST resources on first use (about 40 ms): pay it at start,
        # not on the first patient's text.
        self._messages = self._client.messages
        self._limiter = limiter or SendRateLimiter(settings.rate_per_second)
        self.listing_lag = timedelta(seconds=settings.listing_lag_seconds)

    def send(self, outgoing: Outgoing) -> Receipt:
        sender = self._sender(outgoing)
        self._limiter.acquire(next(iter(sender.values())))
        try:
            message = self._messages.create(
                to=outgoing.to,
                body=outgoing.body,
                status_callback=self._status_callback(),
                validity_period=validity_period(outgoing),
                **sender,
            )
        except TwilioRestException as exc:
            raise error_for(exc, retry_after=self._retry_after()) from exc
        except RequestException as exc:
            # Timeout or dropped connection: the request may or may not have arrived.
            raise ChannelError(
                f"Twilio unreachable: {type(exc).__name__}",
                permanent=False,
                maybe_sent=not _never_connected(exc),
            ) from exc
        if message.num_segments and str(message.num_segments).isdigit():
            metrics.segments(int(message.num_segments))  # Twilio's own count: what it bills
        return Receipt(str(message.sid))

    def find_sent(
        self, outgoing: Outgoing, since: datetime, *, taken: Callable[[str], bool] = never_taken
    ) -> Receipt | None:
        """The text Twilio created for `outgoing` at or after `since`, if it holds one.

        Filtered by To (and From, for a number; a Messaging Service picks its own
        From, so then its SID is compared), not by DateSent: Twilio's DateSent
        filters match `date_sent`, which a message still queued does not have yet
        (and which counts whole GMT days), so they would hide the very text we
        look for. Its `date_created` is compared here instead.
        """
        sender = self._sender(outgoing)
        number = sender.get("from_")
        filters = {"to": outgoing.to} | ({"from_": number} if number else {})
        try:
            listed = self._messages.list(**filters, limit=LOOKUP_LIMIT, page_size=LOOKUP_LIMIT)
        except TwilioException as exc:
            # A page that is not a 200 raises the SDK's base exception, not
            # TwilioRestException: its response is the second argument.
            response = exc.args[1] if len(exc.args) > 1 else None
            status = getattr(response, "status_code", "error")
            raise ChannelError(f"Twilio {status}: list refused", permanent=False) from exc
        except RequestException as exc:
            raise ChannelError(
                f"Twilio unreachable: {type(exc).__name__}", permanent=False
            ) from exc
        for message in listed:
            if _is_the_text(message, outgoing, sender, since - CLOCK_SKEW) and not taken(
                str(message.sid)
            ):
                return Receipt(str(message.sid))
        return None

    def _sender(self, outgoing: Outgoing) -> dict[str, str]:
        service = outgoing.messaging_service_sid or (
            None if outgoing.sms_from else self.settings.messaging_service_sid
        )
        if service:
            return {"messaging_service_sid": service}
        number = outgoing.sms_from or self.settings.from_number
        assert number is not None
        return {"from_": number}

    def _status_callback(self) -> str | None:
        base = self.settings.public_base_url
        return base.rstrip("/") + STATUS_CALLBACK_PATH if base else None

    def _retry_after(self) -> float | None:
        value = self._http.last_header("Retry-After")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


def _is_the_text(
    message: MessageInstance, outgoing: Outgoing, sender: dict[str, str], since: datetime
) -> bool:
    # Bodies compare exactly: our texts are GSM-7, which Twilio does not rewrite.
    if message.direction != "outbound-api" or message.body != outgoing.body:
        return False
    if message.date_created is None or message.date_created < since:
        return False
    service = sender.get("messaging_service_sid")
    if service:
        return bool(message.messaging_service_sid == service)
    return bool(message.from_ == sender.get("from_"))


def _never_connected(exc: RequestException) -> bool:
    """Whether the connection was never opened, so the request cannot have arrived."""
    if isinstance(exc, ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def validity_period(outgoing: Outgoing) -> int:
    """Whole seconds Twilio may keep the text queued: what is left of its usefulness,
    within the 1 to 36000 that Twilio accepts."""
    if outgoing.valid_for is None:
        return MAX_VALIDITY_SECONDS
    seconds = int(outgoing.valid_for.total_seconds())
    return max(1, min(MAX_VALIDITY_SECONDS, seconds))


def error_for(exc: TwilioRestException, *, retry_after: float | None) -> ChannelError:
    """What a refusal from Twilio means, as the worker reads it."""
    code = int(exc.code) if exc.code else None
    # Twilio's message can echo the number; keep only the code and status.
    what = f"Twilio {exc.status}" + (f" error {code}" if code else "")
    if exc.status == 429 or code == 20429:
        return ChannelError(
            f"{what}: rate limited", permanent=False, retry_after=retry_after, code=str(code or 429)
        )
    if exc.status in (401, 403) or code == 20003:
        # Our credentials are wrong: every message would fail. Wait for the fix
        # (the worker pauses the channel) instead of failing the queue.
        return ChannelError(
            f"{what}: credentials refused",
            permanent=False,
            code=str(code or 401),
            scope=FaultScope.CONFIGURATION,
        )
    if exc.status >= 500:
        return ChannelError(
            f"{what}: server error (may have been processed)",
            permanent=False,
            code=str(code) if code else None,
            maybe_sent=True,
        )
    if code == OPTED_OUT:
        return ChannelError(
            f"{what}: recipient unsubscribed", permanent=True, code=str(code), opted_out=True
        )
    if code in BAD_RECIPIENT:
        return ChannelError(
            f"{what}: recipient cannot receive SMS",
            permanent=True,
            code=str(code),
            bad_recipient=True,
        )
    return ChannelError(f"{what}: refused", permanent=True, code=str(code) if code else None)
