"""Fixtures for the real delivery channels: a local Twilio and a local mail relay.

The channels are the package's own (the `twilio` SDK and smtplib), pointed at
servers on 127.0.0.1: nothing here is mocked below the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reminders.channels.base import ChannelRegistry
from reminders.channels.smtp_email import SmtpEmailChannel
from reminders.channels.twilio_sms import TwilioSmsChannel
from reminders.clock import FixedClock
from reminders.domain import ChannelKind
from reminders.settings import SmtpSettings, TwilioSettings
from tests.delivery.fake_smtp import HOST, PASSWORD, USERNAME, Certificates, FakeSmtp
from tests.delivery.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

DEFAULT_FROM = "+12125550100"  # the deployment's sender
PUBLIC_BASE_URL = "https://reminders.harbor.example"
FROM_ADDRESS = "aftercare@harbor.example"


@pytest.fixture
def twilio(clock: FixedClock) -> Iterator[FakeTwilio]:
    # Twilio's clock is the test's: date_created and the listing delay move with it.
    with FakeTwilio(clock=clock.now) as fake:
        yield fake


@pytest.fixture
def twilio_settings(twilio: FakeTwilio) -> TwilioSettings:
    # Paced well above the test's needs: the rate limit has tests of its own.
    return TwilioSettings(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=DEFAULT_FROM,
        public_base_url=PUBLIC_BASE_URL,
        api_base_url=twilio.url,
        rate_per_second=1000,
        timeout_seconds=5,
    )


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return Certificates(tmp_path)


@pytest.fixture
def smtp_relay(certificates: Certificates) -> Iterator[FakeSmtp]:
    with FakeSmtp(certificates, security="starttls") as relay:
        yield relay


@pytest.fixture
def smtp_settings(smtp_relay: FakeSmtp, certificates: Certificates) -> SmtpSettings:
    return SmtpSettings(
        host=HOST,
        port=smtp_relay.port,
        security="starttls",
        username=USERNAME,
        password=PASSWORD,
        from_address=FROM_ADDRESS,
        ca_file=certificates.ca_file,
        timeout_seconds=5,
    )


@pytest.fixture
def registry(twilio_settings: TwilioSettings, smtp_settings: SmtpSettings) -> ChannelRegistry:
    return ChannelRegistry(
        {
            ChannelKind.SMS: TwilioSmsChannel(twilio_settings),
            ChannelKind.EMAIL: SmtpEmailChannel(smtp_settings),
        }
    )
