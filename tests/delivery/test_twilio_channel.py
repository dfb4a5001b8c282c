"""TwilioSmsChannel through the real `twilio` SDK against a local Twilio-compatible server."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
import requests

from reminders.channels.base import Outgoing
from reminders.channels.twilio_sms import TwilioSmsChannel
from reminders.domain import ChannelKind
from reminders.errors import ChannelError
from reminders.settings import TwilioSettings
from tests.delivery.conftest import DEFAULT_FROM, PUBLIC_BASE_URL
from tests.delivery.fake_twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    MESSAGE_SCHEMA,
    MESSAGES_PATH,
    FakeTwilio,
    Fault,
    create_request_schema,
    message_validator,
    openapi,
    requests_per_window,
)

PHONE = "+12125550199"
CLINIC_FROM = "+13125550143"
SERVICE = "MG" + "a1" * 16
CLINIC_SERVICE = "MG" + "b2" * 16
BODY = "Harbor Skin Clinic: for the next 4 hours please avoid exercise."


def outgoing(
    *,
    to: str = PHONE,
    message_id: int = 1,
    sms_from: str | None = None,
    service: str | None = None,
    valid_for: timedelta | None = None,
) -> Outgoing:
    return Outgoing(
        message_id=message_id,
        kind=ChannelKind.SMS,
        to=to,
        subject=None,
        body=BODY,
        clinic_id=1,
        sms_from=sms_from,
        messaging_service_sid=service,
        valid_for=valid_for,
    )


def messages_url(fake: FakeTwilio, account: str = ACCOUNT_SID) -> str:
    return fake.url + MESSAGES_PATH.replace("{AccountSid}", account)


def post(fake: FakeTwilio, form: dict[str, Any], **kwargs: Any) -> requests.Response:
    kwargs.setdefault("auth", (ACCOUNT_SID, AUTH_TOKEN))
    with requests.Session() as session:
        return session.post(messages_url(fake), data=form, timeout=5, **kwargs)


def digits(phone: str) -> str:
    return phone.lstrip("+")


# -- the fake itself, against Twilio's OpenAPI document ---------------------------


@pytest.mark.parametrize(
    ("sender", "status"),
    [({"From": DEFAULT_FROM}, "queued"), ({"MessagingServiceSid": SERVICE}, "accepted")],
)
def test_fake_answers_a_create_with_the_documented_message_resource(
    twilio: FakeTwilio, sender: dict[str, str], status: str
) -> None:
    response = post(twilio, {"To": PHONE, "Body": BODY, **sender})

    assert response.status_code == 201
    body = response.json()
    errors = [error.message for error in message_validator().iter_errors(body)]
    assert errors == []
    documented = openapi()["components"]["schemas"][MESSAGE_SCHEMA]["properties"]
    assert set(body) <= set(documented)
    assert re.fullmatch(r"SM[0-9a-f]{32}", body["sid"])
    assert body["status"] == status
    assert body["direction"] == "outbound-api"
    assert body["api_version"] == "2010-04-01"
    assert (body["to"], body["body"], body["account_sid"]) == (PHONE, BODY, ACCOUNT_SID)
    assert body["uri"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{body['sid']}.json"


def test_fake_refuses_what_the_document_does_not_allow(twilio: FakeTwilio) -> None:
    ok = {"To": PHONE, "From": DEFAULT_FROM, "Body": BODY}
    documented = set(create_request_schema()["properties"])
    assert {"To", "From", "MessagingServiceSid", "Body", "StatusCallback"} <= documented

    cases: list[tuple[dict[str, Any], dict[str, Any], int, int]] = [
        ({"From": DEFAULT_FROM, "Body": BODY}, {}, 400, 21604),  # To is required
        ({"To": PHONE, "Body": BODY}, {}, 400, 21603),  # no sender
        ({"To": PHONE, "From": DEFAULT_FROM}, {}, 400, 21602),  # no content
        ({**ok, "Colour": "blue"}, {}, 400, 20001),  # not in CreateMessageRequest
        (
            {**ok, "ValidityPeriod": "soon"},
            {},
            400,
            21624,
        ),  # integer (invalid validity period value)
        ({**ok, "MessagingServiceSid": "MG123"}, {}, 400, 20001),  # pattern
        ({**ok, "StatusCallback": "not a url"}, {}, 400, 20001),  # format uri
        ({**ok, "To": "12"}, {}, 400, 21211),
        (ok, {"auth": (ACCOUNT_SID, "wrong")}, 401, 20003),
        (ok, {"auth": None}, 401, 20003),
    ]
    for form, kwargs, status, code in cases:
        response = post(twilio, form, **kwargs)
        assert (response.status_code, response.json()["code"]) == (status, code), form
        assert set(response.json()) == {"code", "message", "more_info", "status"}
        assert response.json()["status"] == status

    with requests.Session() as session:
        elsewhere = session.post(twilio.url + "/2010-04-01/Accounts.json", data=ok, timeout=5)
        deleting = session.delete(messages_url(twilio), auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)
        as_json = session.post(
            messages_url(twilio), json=ok, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
        )
    assert elsewhere.status_code == 404
    assert deleting.status_code == 405  # only Messages create and list are served
    assert as_json.status_code == 400  # the body must be form-encoded
    assert [r.status for r in twilio.received if r.status == 201] == []


# -- sending ---------------------------------------------------------------------


def test_send_returns_the_message_sid_and_twilio_sees_the_documented_fields(
    twilio: FakeTwilio, twilio_settings: TwilioSettings
) -> None:
    receipt = TwilioSmsChannel(twilio_settings).send(outgoing(valid_for=timedelta(hours=2)))

    [request] = twilio.received
    assert request.status == 201
    assert receipt.provider_id == request.sid
    assert re.fullmatch(r"SM[0-9a-f]{32}", receipt.provider_id)
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.auth_user == ACCOUNT_SID
    assert request.form == {
        "To": [PHONE],
        "From": [DEFAULT_FROM],
        "Body": [BODY],
        "StatusCallback": [PUBLIC_BASE_URL + "/webhooks/twilio/status"],
        "ValidityPeriod": ["7200"],
    }


@pytest.mark.parametrize(
    ("valid_for", "expected"),
    [
        (None, 36000),  # no expiry: Twilio's longest, which is also its default
        (timedelta(minutes=12, seconds=30.9), 750),  # whole seconds, never more than is left
        (timedelta(hours=12), 36000),  # capped to the longest Twilio accepts
        (timedelta(seconds=0.4), 1),  # the shortest Twilio accepts
    ],
    ids=["none", "12m30s", "12h", "under-1s"],
)
def test_every_text_carries_what_is_left_of_its_validity_within_twilios_bounds(
    twilio: FakeTwilio, twilio_settings: TwilioSettings, valid_for: timedelta | None, expected: int
) -> None:
    TwilioSmsChannel(twilio_settings).send(outgoing(valid_for=valid_for))
    [request] = twilio.received
    assert request.status == 201
    assert request.validity_period == expected


def test_without_a_public_url_no_status_callback_is_asked_for(
    twilio: FakeTwilio, twilio_settings: TwilioSettings
) -> None:
    settings = twilio_settings.model_copy(update={"public_base_url": None})
    TwilioSmsChannel(settings).send(outgoing())
    [request] = twilio.received
    assert request.status == 201
    assert "StatusCallback" not in request.form


@pytest.mark.parametrize(
    ("default", "clinic", "expected"),
    [
        # The deployment's Messaging Service replaces its From number.
        (
            {"from_number": None, "messaging_service_sid": SERVICE},
            {},
            {"MessagingServiceSid": [SERVICE]},
        ),
        # A clinic's own number wins over the deployment's number or service.
        ({}, {"sms_from": CLINIC_FROM}, {"From": [CLINIC_FROM]}),
        (
            {"from_number": None, "messaging_service_sid": SERVICE},
            {"sms_from": CLINIC_FROM},
            {"From": [CLINIC_FROM]},
        ),
        # A clinic's own Messaging Service wins over everything.
        (
            {"messaging_service_sid": SERVICE},
            {"sms_from": CLINIC_FROM, "service": CLINIC_SERVICE},
            {"MessagingServiceSid": [CLINIC_SERVICE]},
        ),
    ],
    ids=["default-service", "clinic-number", "clinic-number-over-service", "clinic-service"],
)
def test_sender_is_the_clinics_own_if_it_has_one_else_the_default(
    twilio: FakeTwilio,
    twilio_settings: TwilioSettings,
    default: dict[str, Any],
    clinic: dict[str, Any],
    expected: dict[str, list[str]],
) -> None:
    channel = TwilioSmsChannel(twilio_settings.model_copy(update=default))
    receipt = channel.send(outgoing(**clinic))
    [request] = twilio.received
    assert request.status == 201
    assert receipt.provider_id == request.sid
    sender = {k: v for k, v in request.form.items() if k in ("From", "MessagingServiceSid")}
    assert sender == expected


# -- errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "permanent", "code", "bad_recipient", "opted_out"),
    [
        (Fault.RATE_LIMITED, False, "20429", False, False),
        (Fault.SERVER_ERROR, False, "20500", False, False),
        (Fault.UNAVAILABLE, False, "20503", False, False),
        (Fault.DROP, False, None, False, False),
        (Fault.INVALID_TO, True, "21211", True, False),
        (Fault.NOT_MOBILE, True, "21614", True, False),
        (Fault.UNSUBSCRIBED, True, "21610", False, True),
    ],
    ids=str,
)
def test_each_twilio_error_maps_to_the_documented_channel_error(
    twilio: FakeTwilio,
    twilio_settings: TwilioSettings,
    fault: Fault,
    permanent: bool,
    code: str | None,
    bad_recipient: bool,
    opted_out: bool,
) -> None:
    twilio.fail_next(fault)
    with pytest.raises(ChannelError) as caught:
        TwilioSmsChannel(twilio_settings).send(outgoing())
    error = caught.value
    assert (error.permanent, error.code, error.bad_recipient, error.opted_out) == (
        permanent,
        code,
        bad_recipient,
        opted_out,
    )
    expected_wait = float(twilio.retry_after) if fault is Fault.RATE_LIMITED else None
    assert error.retry_after == expected_wait
    # Twilio's own message names the number; ours must not (it is stored and logged).
    assert digits(PHONE) not in str(error)
    assert digits(PHONE)[-7:] not in str(error)
    # One request: the SDK does not retry a create on its own (no duplicate sends).
    assert len(twilio.received) == 1


def test_twilio_error_messages_do_name_the_number_so_the_check_above_means_something(
    twilio: FakeTwilio,
) -> None:
    twilio.fail_next(Fault.INVALID_TO)
    response = post(twilio, {"To": PHONE, "From": DEFAULT_FROM, "Body": BODY})
    assert response.status_code == 400
    assert PHONE in response.json()["message"]


def test_a_rate_limited_send_can_succeed_on_the_next_attempt(
    twilio: FakeTwilio, twilio_settings: TwilioSettings
) -> None:
    channel = TwilioSmsChannel(twilio_settings)
    twilio.fail_next(Fault.RATE_LIMITED)
    with pytest.raises(ChannelError):
        channel.send(outgoing())
    receipt = channel.send(outgoing())
    assert [r.status for r in twilio.received] == [429, 201]
    assert receipt.provider_id == twilio.received[-1].sid


def test_wrong_credentials_are_a_transient_error_that_reveals_no_secret(
    twilio: FakeTwilio, twilio_settings: TwilioSettings
) -> None:
    # Our configuration is wrong, not the message: it must wait for the fix, not fail.
    settings = twilio_settings.model_copy(update={"auth_token": "not-the-token"})
    with pytest.raises(ChannelError) as caught:
        TwilioSmsChannel(settings).send(outgoing())
    assert not caught.value.permanent
    assert caught.value.code == "20003"
    assert "not-the-token" not in str(caught.value)
    assert digits(PHONE) not in str(caught.value)
    assert [r.status for r in twilio.received] == [401]


def test_an_unreachable_twilio_is_transient(twilio_settings: TwilioSettings) -> None:
    with FakeTwilio() as gone:
        url = gone.url
    settings = twilio_settings.model_copy(update={"api_base_url": url})
    with pytest.raises(ChannelError) as caught:
        TwilioSmsChannel(settings).send(outgoing())
    assert not caught.value.permanent


# -- the send rate ---------------------------------------------------------------


def max_per_second(times: list[float]) -> int:
    return max(requests_per_window(times, 1.0), default=0)


def test_a_burst_of_1000_sends_never_exceeds_the_rate_per_sender(
    twilio: FakeTwilio, twilio_settings: TwilioSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    rate = 200
    channel = TwilioSmsChannel(twilio_settings.model_copy(update={"rate_per_second": rate}))
    started = time.monotonic()
    # One thread, as the dispatcher sends; each request waits for its slot.
    for i in range(1000):
        channel.send(outgoing(to=f"+1212555{1000 + i:04d}", message_id=i))
    elapsed = time.monotonic() - started

    sent = [r for r in twilio.received if r.status == 201]
    assert len(sent) == 1000
    assert {r.sender for r in sent} == {DEFAULT_FROM}
    observed = max_per_second([r.at for r in sent])
    with capsys.disabled():
        print(f"\n[rate] 1000 sends at {rate}/s: {elapsed:.2f} s, max {observed} per 1 s window")
    # +1: a window that starts on one request can end exactly on the 201st.
    assert observed <= rate + 1
    assert elapsed >= 999 / rate - 0.05


def test_each_sender_has_its_own_rate(twilio: FakeTwilio, twilio_settings: TwilioSettings) -> None:
    rate, each = 50, 50
    channel = TwilioSmsChannel(twilio_settings.model_copy(update={"rate_per_second": rate}))
    started = time.monotonic()
    for i in range(each):
        channel.send(outgoing(to=f"+1212555{1000 + i:04d}", message_id=2 * i))
        channel.send(
            outgoing(to=f"+1212555{2000 + i:04d}", message_id=2 * i + 1, sms_from=CLINIC_FROM)
        )
    elapsed = time.monotonic() - started

    by_sender: dict[str | None, list[float]] = {}
    for request in twilio.received:
        assert request.status == 201
        by_sender.setdefault(request.sender, []).append(request.at)
    assert {s: len(t) for s, t in by_sender.items()} == {DEFAULT_FROM: each, CLINIC_FROM: each}
    for times in by_sender.values():
        assert max_per_second(times) <= rate + 1
    # Paced side by side (~1 s), not one after the other (a shared budget: ~2 s).
    one_sender = (each - 1) / rate
    assert one_sender - 0.05 <= elapsed < 1.6 * one_sender
