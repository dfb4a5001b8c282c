"""The local Twilio and mail relay themselves: what they add beyond answering a send.

FakeTwilio: ValidityPeriod's documented bounds, and status callbacks signed as
Twilio signs them, delivered through a stand-in for a TLS-terminating proxy,
before or after the 201. FakeSmtp: replies for one address, and a password the
relay and the client can disagree on. Checked with the real clients: the
`twilio` SDK and the package's channels, smtplib, and RequestValidator.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from reminders.channels.base import Outgoing
from reminders.channels.smtp_email import SmtpEmailChannel
from reminders.channels.twilio_sms import TwilioSmsChannel
from reminders.domain import ChannelKind
from reminders.errors import ChannelError
from reminders.settings import SmtpSettings, TwilioSettings
from tests.delivery.conftest import DEFAULT_FROM, FROM_ADDRESS, PUBLIC_BASE_URL
from tests.delivery.fake_smtp import HOST, PASSWORD, USERNAME, Certificates, FakeSmtp
from tests.delivery.fake_twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    MESSAGES_PATH,
    VALIDITY_PERIOD,
    FakeTwilio,
    Fault,
    create_request_schema,
)

PHONE = "+12125550199"
OTHER_PHONE = "+12125550198"
SILENT_PHONE = "+12125550197"
SERVICE = "MG" + "a1" * 16
BODY = "Harbor Skin Clinic: for the next 4 hours please avoid exercise."
STATUS_PATH = "/webhooks/twilio/status"
PUBLIC_STATUS_URL = PUBLIC_BASE_URL + STATUS_PATH  # what the channel asks Twilio to call


# -- a webhook receiver: the service's side of a status callback --------------------


@dataclass(frozen=True)
class Posted:
    at: float  # time.monotonic() on arrival
    target: str  # path and query as requested
    form: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    create_returned: bool  # whether the test's create had returned when this arrived

    def params(self) -> dict[str, str]:
        """The form as RequestValidator takes it; Twilio sends each parameter once."""
        assert all(len(values) == 1 for values in self.form.values()), self.form
        return {name: values[0] for name, values in self.form.items()}


class Receiver:
    """Records every POST on 127.0.0.1 and answers `status` with an empty body."""

    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.returned = threading.Event()  # the test sets it once its create returned
        self._posted: list[Posted] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._record(
                    Posted(
                        time.monotonic(),
                        self.path,
                        parse_qs(raw.decode(), keep_blank_values=True),
                        {name.lower(): value for name, value in self.headers.items()},
                        receiver.returned.is_set(),
                    )
                )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def posted(self) -> list[Posted]:
        with self._lock:
            return list(self._posted)

    def _record(self, posted: Posted) -> None:
        with self._lock:
            self._posted.append(posted)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# -- helpers for sending -------------------------------------------------------------


def sms(to: str = PHONE, message_id: int = 1) -> Outgoing:
    return Outgoing(
        message_id=message_id,
        kind=ChannelKind.SMS,
        to=to,
        subject=None,
        body=BODY,
        clinic_id=1,
    )


def post(fake: FakeTwilio, form: dict[str, Any]) -> requests.Response:
    url = fake.url + MESSAGES_PATH.replace("{AccountSid}", ACCOUNT_SID)
    with requests.Session() as session:
        return session.post(url, data=form, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)


class LocalHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Twilio's documented way to reach another host: its own client, host rewritten."""

    def __init__(self, base_url: str) -> None:
        super().__init__(timeout=5)
        self._base = urlsplit(base_url)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)._replace(scheme=self._base.scheme, netloc=self._base.netloc)
        return super().request(method, parts.geturl(), *args, **kwargs)


@pytest.fixture
def sdk(twilio: FakeTwilio) -> Iterator[Client]:
    http = LocalHttpClient(twilio.url)
    try:
        yield Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)
    finally:
        http.session.close()


def callback_threads(sid: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if sid in thread.name]


def statuses_of(posted: list[Posted]) -> list[tuple[str, str, str | None]]:
    return [
        (p.params()["To"], p.params()["MessageStatus"], p.params().get("ErrorCode")) for p in posted
    ]


def assert_signed_over(url: str, posted: list[Posted]) -> None:
    assert posted, "nothing was posted"
    validator = RequestValidator(AUTH_TOKEN)
    for p in posted:
        assert validator.validate(url, p.params(), p.headers["x-twilio-signature"]), p


# -- ValidityPeriod ------------------------------------------------------------------


def test_the_validity_period_bounds_are_the_ones_the_document_states() -> None:
    description = create_request_schema()["properties"]["ValidityPeriod"]["description"]
    low, high = VALIDITY_PERIOD
    assert f"Accepted values are integers from `{low}` to `{high}`" in description


def test_a_validity_period_within_the_bounds_is_accepted(twilio: FakeTwilio, sdk: Client) -> None:
    for period in (1, 600, 36000):
        message = sdk.messages.create(
            to=PHONE, from_=DEFAULT_FROM, body=BODY, validity_period=period
        )
        assert message.status == "queued"
    sdk.messages.create(to=PHONE, from_=DEFAULT_FROM, body=BODY)

    received = twilio.received
    assert [r.status for r in received] == [201, 201, 201, 201]
    assert [r.field("ValidityPeriod") for r in received] == ["1", "600", "36000", None]
    assert [r.validity_period for r in received] == [1, 600, 36000, None]


@pytest.mark.parametrize("period", [0, -1, 36001, 10**12])
def test_a_validity_period_outside_the_bounds_is_refused(
    twilio: FakeTwilio, sdk: Client, period: int
) -> None:
    with pytest.raises(TwilioRestException) as caught:
        sdk.messages.create(to=PHONE, from_=DEFAULT_FROM, body=BODY, validity_period=period)
    assert (caught.value.status, caught.value.code) == (400, 21624)
    assert "Invalid parameter ValidityPeriod" in caught.value.msg  # the SDK adds a prefix
    [request] = twilio.received
    assert (request.status, request.sid, request.validity_period) == (400, None, period)


def test_a_validity_period_that_is_no_integer_is_refused_and_reads_as_none(
    twilio: FakeTwilio,
) -> None:
    form = {"To": PHONE, "From": DEFAULT_FROM, "Body": BODY, "ValidityPeriod": "+60"}
    response = post(twilio, form)
    assert (response.status_code, response.json()["code"]) == (400, 21624)
    [request] = twilio.received
    assert (request.field("ValidityPeriod"), request.validity_period) == ("+60", None)


# -- status callbacks ----------------------------------------------------------------


def test_callbacks_are_signed_over_the_public_url_and_delivered_to_the_target(
    twilio: FakeTwilio, twilio_settings: TwilioSettings, receiver: Receiver
) -> None:
    twilio.callback_statuses = ["sent", "delivered"]
    twilio.callback_target = receiver.url
    receipt = TwilioSmsChannel(twilio_settings).send(sms())

    callbacks = twilio.wait_for_callbacks(2)
    sid = receipt.provider_id
    assert [(c.sid, c.status, c.to, c.http_status, c.error) for c in callbacks] == [
        (sid, "sent", PHONE, 204, None),
        (sid, "delivered", PHONE, 204, None),
    ]
    assert {(c.url, c.signed_url) for c in callbacks} == {
        (receiver.url + STATUS_PATH, PUBLIC_STATUS_URL)
    }

    posted = receiver.posted
    assert [p.target for p in posted] == [STATUS_PATH, STATUS_PATH]
    assert [p.params() for p in posted] == [
        {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "From": DEFAULT_FROM,
            "To": PHONE,
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
        }
        for status in ("sent", "delivered")
    ]
    assert_signed_over(PUBLIC_STATUS_URL, posted)
    validator = RequestValidator(AUTH_TOKEN)
    for p in posted:
        params, signature = p.params(), p.headers["x-twilio-signature"]
        assert p.headers["content-type"] == "application/x-www-form-urlencoded"
        # Not over the address it was delivered to: the service must use its public URL.
        assert not validator.validate(receiver.url + p.target, params, signature)
        assert not RequestValidator("another-token").validate(PUBLIC_STATUS_URL, params, signature)
        assert not validator.validate(PUBLIC_STATUS_URL, {**params, "To": OTHER_PHONE}, signature)


@pytest.mark.parametrize("through_proxy", [True, False], ids=["target", "no-target"])
def test_the_callback_keeps_the_path_and_query_and_names_a_messaging_service(
    twilio: FakeTwilio, receiver: Receiver, through_proxy: bool
) -> None:
    twilio.callback_statuses = ["delivered"]
    base = PUBLIC_BASE_URL if through_proxy else receiver.url
    twilio.callback_target = receiver.url if through_proxy else None
    callback_url = base + "/hooks/status?clinic=7&kind=sms"
    form = {"To": PHONE, "MessagingServiceSid": SERVICE, "Body": BODY}
    response = post(twilio, {**form, "StatusCallback": callback_url})
    assert response.status_code == 201

    [callback] = twilio.wait_for_callbacks(1)
    assert callback.signed_url == callback_url
    assert callback.url == receiver.url + "/hooks/status?clinic=7&kind=sms"
    [posted] = receiver.posted
    assert posted.target == "/hooks/status?clinic=7&kind=sms"
    params = posted.params()
    # Only a Messaging Service was given: no From number to report.
    assert "From" not in params
    assert params["MessagingServiceSid"] == SERVICE
    assert params["MessageSid"] == params["SmsSid"] == response.json()["sid"]
    assert_signed_over(callback_url, [posted])
    without_query = callback_url.partition("?")[0]
    assert not RequestValidator(AUTH_TOKEN).validate(
        without_query, params, posted.headers["x-twilio-signature"]
    )


def test_before_reply_the_callbacks_arrive_before_create_returns(
    twilio: FakeTwilio, twilio_settings: TwilioSettings, receiver: Receiver
) -> None:
    twilio.callback_statuses = ["sent", "delivered"]
    twilio.callback_target = receiver.url
    twilio.callback_timing = "before_reply"
    receipt = TwilioSmsChannel(twilio_settings).send(sms())
    receiver.returned.set()

    # No waiting: all of it happened while the client waited for its 201.
    assert [(c.sid, c.status, c.http_status) for c in twilio.callbacks] == [
        (receipt.provider_id, "sent", 204),
        (receipt.provider_id, "delivered", 204),
    ]
    posted = receiver.posted
    assert [p.params()["MessageStatus"] for p in posted] == ["sent", "delivered"]
    assert [p.create_returned for p in posted] == [False, False]
    assert {p.params()["MessageSid"] for p in posted} == {receipt.provider_id}
    assert_signed_over(PUBLIC_STATUS_URL, posted)


def test_after_reply_the_callbacks_follow_the_201_each_after_the_delay(
    twilio: FakeTwilio, twilio_settings: TwilioSettings, receiver: Receiver
) -> None:
    delay = 0.2
    twilio.callback_statuses = ["sent", "delivered"]
    twilio.callback_target = receiver.url
    twilio.callback_delay = delay
    assert twilio.callback_timing == "after_reply"  # the default
    receipt = TwilioSmsChannel(twilio_settings).send(sms())
    receiver.returned.set()

    callbacks = twilio.wait_for_callbacks(2)
    assert [(c.sid, c.status) for c in callbacks] == [
        (receipt.provider_id, "sent"),
        (receipt.provider_id, "delivered"),
    ]
    posted = receiver.posted
    assert [p.create_returned for p in posted] == [True, True]
    [created] = twilio.received
    assert callbacks[0].at - created.at >= delay
    assert callbacks[1].at - callbacks[0].at >= delay


def test_one_number_can_end_undelivered_with_an_error_code(
    twilio: FakeTwilio, twilio_settings: TwilioSettings, receiver: Receiver
) -> None:
    twilio.callback_statuses = ["sent", "delivered"]
    twilio.callback_error_code = "30008"  # only ever sent with failed or undelivered
    twilio.callbacks_to(OTHER_PHONE, ["sent", "undelivered"], error_code="30003")
    twilio.callbacks_to(SILENT_PHONE, [])
    twilio.callback_target = receiver.url
    twilio.callback_timing = "before_reply"  # all sent by the time send() returns
    channel = TwilioSmsChannel(twilio_settings)
    sids = [channel.send(sms(to, i)).provider_id for i, to in enumerate([PHONE, OTHER_PHONE])]
    channel.send(sms(SILENT_PHONE, 3))

    expected = [
        (PHONE, "sent", None),
        (PHONE, "delivered", None),
        (OTHER_PHONE, "sent", None),
        (OTHER_PHONE, "undelivered", "30003"),
    ]
    callbacks = twilio.callbacks
    assert [(c.to, c.status, c.error_code) for c in callbacks] == expected
    assert [c.sid for c in callbacks] == [sids[0], sids[0], sids[1], sids[1]]
    posted = receiver.posted
    assert statuses_of(posted) == expected
    assert_signed_over(PUBLIC_STATUS_URL, posted)
    assert len(twilio.created_for(SILENT_PHONE)) == 1  # sent, and no callback for it


def test_no_callbacks_unless_asked_for_and_only_for_a_created_message(
    twilio: FakeTwilio, twilio_settings: TwilioSettings, receiver: Receiver
) -> None:
    twilio.callback_target = receiver.url
    twilio.callback_timing = "before_reply"
    channel = TwilioSmsChannel(twilio_settings)
    channel.send(sms())  # callback_statuses is empty by default

    twilio.callback_statuses = ["delivered"]
    twilio.fail_next(Fault.INVALID_TO)
    with pytest.raises(ChannelError):
        channel.send(sms())
    no_callback_url = twilio_settings.model_copy(update={"public_base_url": None})
    TwilioSmsChannel(no_callback_url).send(sms())
    assert [r.status for r in twilio.received] == [201, 400, 201]
    assert twilio.callbacks == []
    assert receiver.posted == []

    # The control: the same set-up, a created message with a StatusCallback, calls back.
    channel.send(sms())
    assert [c.status for c in twilio.callbacks] == ["delivered"]
    assert len(receiver.posted) == 1


@pytest.mark.parametrize("timing", ["before_reply", "after_reply"])
def test_a_refused_or_failing_callback_is_recorded_and_the_send_still_succeeds(
    twilio: FakeTwilio, twilio_settings: TwilioSettings, timing: Any
) -> None:
    twilio.callback_statuses = ["sent", "delivered"]
    twilio.callback_timing = timing
    twilio.callback_target = f"http://{HOST}:{closed_port()}"
    channel = TwilioSmsChannel(twilio_settings)
    refused_sid = channel.send(sms()).provider_id

    callbacks = twilio.wait_for_callbacks(2)
    assert [(c.sid, c.status, c.http_status) for c in callbacks] == [
        (refused_sid, "sent", None),
        (refused_sid, "delivered", None),
    ]
    assert all((c.error or "").startswith("ConnectionRefusedError") for c in callbacks)

    with Receiver(status=500) as failing:
        twilio.callback_target = failing.url
        failed_sid = channel.send(sms(message_id=2)).provider_id
        callbacks = twilio.wait_for_callbacks(4)
        assert len(failing.posted) == 2
    assert [(c.sid, c.http_status, c.error) for c in callbacks[2:]] == [
        (failed_sid, 500, None),
        (failed_sid, 500, None),
    ]
    assert [r.status for r in twilio.received] == [201, 201]


def test_stop_lets_pending_callbacks_go_out_and_leaves_no_thread(
    twilio_settings: TwilioSettings, receiver: Receiver
) -> None:
    with FakeTwilio(
        callback_statuses=["sent"], callback_target=receiver.url, callback_delay=0.1
    ) as fake:
        settings = twilio_settings.model_copy(update={"api_base_url": fake.url})
        sid = TwilioSmsChannel(settings).send(sms()).provider_id
    # Left without waiting: stop() let the callback go out, then joined its thread.
    assert [(c.sid, c.status, c.http_status) for c in fake.callbacks] == [(sid, "sent", 204)]
    assert len(receiver.posted) == 1
    assert not callback_threads(sid)


def test_stop_drops_callbacks_not_sent_within_the_grace(
    twilio_settings: TwilioSettings, receiver: Receiver
) -> None:
    fake = FakeTwilio(callback_statuses=["sent"], callback_target=receiver.url, callback_delay=60)
    with fake:
        settings = twilio_settings.model_copy(update={"api_base_url": fake.url})
        sid = TwilioSmsChannel(settings).send(sms()).provider_id
        # Its thread starts just after the 201 is sent: wait (bounded) until it waits.
        deadline = time.monotonic() + 2
        while not callback_threads(sid) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert callback_threads(sid)
        started = time.monotonic()
        fake.stop(callback_grace=0)
    assert time.monotonic() - started < 2
    assert not callback_threads(sid)
    assert fake.callbacks == []
    assert receiver.posted == []


def test_waiting_for_callbacks_gives_up_in_time(twilio: FakeTwilio) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="0 of 1 status callbacks"):
        twilio.wait_for_callbacks(1, timeout=0.1)
    assert time.monotonic() - started < 1


def test_callback_settings_refuse_what_would_be_silently_ignored() -> None:
    fake = FakeTwilio()
    with pytest.raises(ValueError, match="no path"):
        fake.callback_target = "http://127.0.0.1:8123/webhooks"
    with pytest.raises(ValueError, match="http"):
        fake.callback_target = "127.0.0.1:8123"
    with pytest.raises(ValueError, match="before_reply"):
        fake.callback_timing = "before"  # type: ignore[assignment]
    fake.callback_target = "http://127.0.0.1:8123/"
    fake.callback_timing = "before_reply"
    assert (fake.callback_target, fake.callback_timing) == (
        "http://127.0.0.1:8123/",
        "before_reply",
    )


# -- the mail relay ------------------------------------------------------------------

GREY = "grey.listed@example.com"
WELCOME = "jane.doe@example.com"


def email_to(*to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = FROM_ADDRESS
    message["To"] = ", ".join(to)
    message["Subject"] = "Your aftercare"
    message.set_content("Hello\n")
    return message


def smtp_session(relay: FakeSmtp, certificates: Certificates) -> smtplib.SMTP:
    client = smtplib.SMTP(HOST, relay.port, timeout=5)
    try:
        client.starttls(context=ssl.create_default_context(cafile=str(certificates.ca_file)))
    except BaseException:
        client.close()
        raise
    return client


def email(to: str, message_id: int = 1) -> Outgoing:
    return Outgoing(
        message_id=message_id,
        kind=ChannelKind.EMAIL,
        to=to,
        subject="Your aftercare",
        body="Hello\n",
        clinic_id=1,
    )


GREYLISTED = "450 4.7.1 Greylisted, try again later"


def test_one_address_is_greylisted_at_rcpt_while_others_are_accepted(
    smtp_relay: FakeSmtp, certificates: Certificates
) -> None:
    smtp_relay.reply_to(GREY, "rcpt", GREYLISTED)
    with smtp_session(smtp_relay, certificates) as client:
        client.login(USERNAME, PASSWORD)
        refused = client.sendmail(FROM_ADDRESS, [WELCOME, GREY], email_to(WELCOME, GREY).as_bytes())
        assert refused == {GREY: (450, b"4.7.1 Greylisted, try again later")}
        # times=None: every time, whatever the case of the address.
        for address in (GREY, GREY.upper()):
            with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
                client.sendmail(FROM_ADDRESS, [address], email_to(address).as_bytes())
            assert caught.value.recipients == {address: (450, b"4.7.1 Greylisted, try again later")}
    assert [d.rcpt_tos for d in smtp_relay.delivered] == [[WELCOME]]
    assert smtp_relay.rcpt_attempts == [WELCOME, GREY, GREY, GREY.upper()]


def test_a_per_address_reply_runs_out_and_leaves_the_queue_to_others(
    smtp_relay: FakeSmtp, certificates: Certificates
) -> None:
    smtp_relay.reply_to(GREY, "rcpt", GREYLISTED, times=1)
    smtp_relay.reply_next("rcpt", "550 5.1.1 No such user")
    with smtp_session(smtp_relay, certificates) as client:
        client.login(USERNAME, PASSWORD)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
            client.sendmail(FROM_ADDRESS, [GREY, WELCOME], email_to(GREY, WELCOME).as_bytes())
        # GREY took its own reply; the queued one went to the next address.
        assert {a: code for a, (code, _) in caught.value.recipients.items()} == {
            GREY: 450,
            WELCOME: 550,
        }
        assert client.sendmail(FROM_ADDRESS, [GREY, WELCOME], email_to(GREY).as_bytes()) == {}
    assert [d.rcpt_tos for d in smtp_relay.delivered] == [[GREY, WELCOME]]
    with pytest.raises(ValueError, match="at least 1"):
        smtp_relay.reply_to(GREY, "rcpt", GREYLISTED, times=0)


def test_a_per_address_data_reply_refuses_only_messages_to_that_address(
    smtp_relay: FakeSmtp, smtp_settings: SmtpSettings
) -> None:
    smtp_relay.reply_to(GREY, "data", "452 4.3.1 Insufficient system storage", times=1)
    channel = SmtpEmailChannel(smtp_settings)
    channel.send(email(WELCOME, 1))
    with pytest.raises(ChannelError) as caught:
        channel.send(email(GREY, 2))
    assert (caught.value.permanent, caught.value.code) == (False, "452")
    channel.send(email(GREY, 3))
    assert [d.rcpt_tos for d in smtp_relay.delivered] == [[WELCOME], [GREY]]


def test_the_relay_and_the_client_can_disagree_on_the_password_until_either_is_fixed(
    smtp_relay: FakeSmtp, smtp_settings: SmtpSettings
) -> None:
    assert smtp_relay.password == PASSWORD  # the default
    smtp_relay.password = "rotated-password-4567"
    with pytest.raises(ChannelError) as caught:
        SmtpEmailChannel(smtp_settings).send(email(WELCOME, 1))
    assert (caught.value.permanent, caught.value.code) == (False, "535")

    # Fixed on the client's side...
    rotated = smtp_settings.model_copy(update={"password": "rotated-password-4567"})
    SmtpEmailChannel(rotated).send(email(WELCOME, 2))
    # ...or on the relay's.
    smtp_relay.password = PASSWORD
    with pytest.raises(ChannelError):
        SmtpEmailChannel(rotated).send(email(WELCOME, 3))
    SmtpEmailChannel(smtp_settings).send(email(WELCOME, 4))
    assert [d.message["Message-ID"] for d in smtp_relay.delivered] == [
        "<reminders.2@harbor.example>",
        "<reminders.4@harbor.example>",
    ]


def test_the_relay_can_start_with_its_own_password(certificates: Certificates) -> None:
    with FakeSmtp(certificates, password="relay-only-password") as relay:
        with smtp_session(relay, certificates) as client:
            with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
                client.login(USERNAME, PASSWORD)
            assert caught.value.smtp_code == 535
        with smtp_session(relay, certificates) as client:
            client.login(USERNAME, "relay-only-password")
            client.sendmail(FROM_ADDRESS, [WELCOME], email_to(WELCOME).as_bytes())
    [delivered] = relay.delivered
    assert delivered.login == USERNAME
