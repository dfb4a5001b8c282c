"""Messages list at the local Twilio, against Twilio's OpenAPI document, and the channel's
`find_sent` through the real `twilio` SDK."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import requests

from reminders.channels.twilio_sms import CLOCK_SKEW, TwilioSmsChannel
from reminders.clock import FixedClock
from reminders.errors import ChannelError
from reminders.settings import TwilioSettings
from tests.conftest import NOW
from tests.delivery.conftest import DEFAULT_FROM
from tests.delivery.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, MESSAGES_PATH, FakeTwilio, Fault
from tests.delivery.fake_twilio_list import list_operation, list_response_validator
from tests.delivery.test_twilio_channel import BODY, PHONE, SERVICE, outgoing, post

OTHER = "+12125550198"


def get(fake: FakeTwilio, **query: str) -> requests.Response:
    url = fake.url + MESSAGES_PATH.replace("{AccountSid}", ACCOUNT_SID)
    with requests.Session() as session:
        return session.get(url, params=query, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)


def listed(fake: FakeTwilio, **query: str) -> dict[str, Any]:
    response = get(fake, **query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert [e.message for e in list_response_validator().iter_errors(body)] == []
    return body


def create(fake: FakeTwilio, to: str = PHONE, body: str = BODY) -> str:
    response = post(fake, {"To": to, "From": DEFAULT_FROM, "Body": body})
    assert response.status_code == 201
    sid: str = response.json()["sid"]
    return sid


# -- the fake's list, against the document -------------------------------------------


def test_the_list_takes_the_documented_query_and_answers_list_message_response(
    twilio: FakeTwilio,
) -> None:
    documented = {p["name"] for p in list_operation()["parameters"] if p["in"] == "query"}
    assert documented == {
        "To", "From", "DateSent", "DateSent<", "DateSent>", "PageSize", "Page", "PageToken",
    }  # fmt: skip
    first, second = create(twilio), create(twilio)
    create(twilio, to=OTHER)

    body = listed(twilio, To=PHONE, From=DEFAULT_FROM)

    assert [m["sid"] for m in body["messages"]] == [second, first]  # newest first
    assert set(body) == {
        "messages", "end", "first_page_uri", "next_page_uri", "page", "page_size",
        "previous_page_uri", "start", "uri",
    }  # fmt: skip
    assert (body["page"], body["page_size"], body["start"], body["end"]) == (0, 50, 0, 1)
    assert body["next_page_uri"] is None


def test_the_list_pages_with_the_tokens_it_hands_out(twilio: FakeTwilio) -> None:
    sids = [create(twilio) for _ in range(5)]

    first = listed(twilio, To=PHONE, PageSize="2")
    assert first["next_page_uri"] is not None
    with requests.Session() as session:
        second = session.get(
            twilio.url + first["next_page_uri"], auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
        ).json()

    assert [m["sid"] for m in first["messages"]] == sids[::-1][:2]
    assert [m["sid"] for m in second["messages"]] == sids[::-1][2:4]
    assert (second["page"], second["start"], second["end"]) == (1, 2, 3)
    assert [e.message for e in list_response_validator().iter_errors(second)] == []


def test_date_sent_filters_skip_a_message_not_sent_yet(
    twilio: FakeTwilio, clock: FixedClock
) -> None:
    queued = create(twilio)
    sent = create(twilio)
    twilio.set_status(sent, "sent")
    day = NOW.date().isoformat()

    assert [m["sid"] for m in listed(twilio, To=PHONE)["messages"]] == [sent, queued]
    for name in ("DateSent", "DateSent>", "DateSent<"):
        assert [m["sid"] for m in listed(twilio, **{name: day})["messages"]] == [sent], name
    at = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")  # as the SDK sends a datetime
    assert [m["sid"] for m in listed(twilio, **{"DateSent>": at})["messages"]] == [sent]
    tomorrow = (NOW + timedelta(days=1)).date().isoformat()
    assert listed(twilio, **{"DateSent>": tomorrow})["messages"] == []


def test_a_created_message_is_listed_only_after_the_listing_delay(
    twilio: FakeTwilio, clock: FixedClock
) -> None:
    twilio.listing_delay = 30
    sid = create(twilio)
    clock.advance(timedelta(seconds=29))
    assert listed(twilio, To=PHONE)["messages"] == []
    clock.advance(timedelta(seconds=1))
    assert [m["sid"] for m in listed(twilio, To=PHONE)["messages"]] == [sid]


@pytest.mark.parametrize(
    "query",
    [{"Colour": "blue"}, {"PageSize": "0"}, {"PageSize": "1001"}, {"Page": "-1"},
     {"PageSize": "many"}, {"DateSent": "yesterday"}, {"PageToken": "nope"}],
    ids=str,
)  # fmt: skip
def test_the_list_refuses_what_the_document_does_not_allow(
    twilio: FakeTwilio, query: dict[str, str]
) -> None:
    response = get(twilio, **query)
    assert (response.status_code, response.json()["code"]) == (400, 20001)


# -- find_sent ---------------------------------------------------------------------------


def test_find_sent_finds_the_text_and_only_that_text(
    twilio: FakeTwilio, twilio_settings: TwilioSettings, clock: FixedClock
) -> None:
    channel = TwilioSmsChannel(twilio_settings)
    create(twilio, body="another text")
    create(twilio, to=OTHER)
    sid = create(twilio)

    assert channel.find_sent(outgoing(), NOW) is not None
    assert channel.find_sent(outgoing(), NOW).provider_id == sid  # type: ignore[union-attr]
    assert channel.find_sent(replace(outgoing(), body=BODY + "!"), NOW) is None
    assert channel.find_sent(outgoing(sms_from="+13125550143"), NOW) is None
    # Created before the call began, beyond the clock skew allowed: not this call's.
    assert channel.find_sent(outgoing(), NOW + CLOCK_SKEW + timedelta(seconds=1)) is None
    assert channel.find_sent(outgoing(), NOW + CLOCK_SKEW) is not None


def test_find_sent_with_a_messaging_service_matches_the_service(
    twilio: FakeTwilio, twilio_settings: TwilioSettings
) -> None:
    channel = TwilioSmsChannel(twilio_settings)
    response = post(twilio, {"To": PHONE, "MessagingServiceSid": SERVICE, "Body": BODY})
    sid = response.json()["sid"]

    found = channel.find_sent(outgoing(service=SERVICE), NOW)
    assert found is not None
    assert found.provider_id == sid
    assert channel.find_sent(outgoing(service="MG" + "c3" * 16), NOW) is None
    assert channel.find_sent(outgoing(), NOW) is None  # sent from the default number: no


@pytest.mark.parametrize("fault", [Fault.SERVER_ERROR, Fault.RATE_LIMITED, Fault.DROP], ids=str)
def test_a_failed_lookup_is_a_channel_error_that_names_no_number(
    twilio: FakeTwilio, twilio_settings: TwilioSettings, fault: Fault
) -> None:
    twilio.fail_list(fault)
    with pytest.raises(ChannelError) as raised:
        TwilioSmsChannel(twilio_settings).find_sent(outgoing(), NOW)
    assert not raised.value.permanent
    assert PHONE.lstrip("+") not in str(raised.value)
    assert BODY not in str(raised.value)


def test_a_create_answered_500_after_processing_may_have_been_sent(
    twilio: FakeTwilio, twilio_settings: TwilioSettings
) -> None:
    channel = TwilioSmsChannel(twilio_settings)
    twilio.fail_to(PHONE, Fault.ACCEPTED_500, times=1)
    with pytest.raises(ChannelError) as raised:
        channel.send(outgoing())
    assert raised.value.maybe_sent
    [created] = twilio.created_for(PHONE)
    assert channel.find_sent(outgoing(), NOW) is not None
    assert channel.find_sent(outgoing(), NOW).provider_id == created.sid  # type: ignore[union-attr]


def test_a_connection_never_opened_cannot_have_been_sent(twilio_settings: TwilioSettings) -> None:
    with FakeTwilio() as gone:
        url = gone.url
    settings = twilio_settings.model_copy(update={"api_base_url": url})
    with pytest.raises(ChannelError) as raised:
        TwilioSmsChannel(settings).send(outgoing())
    assert not raised.value.maybe_sent
