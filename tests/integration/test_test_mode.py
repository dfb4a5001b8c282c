"""Test mode on real databases: every text goes to the clinic's test number and every email
to its test address, the texts unchanged, and each message's history says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from reminders.bootstrap import App, build_app
from reminders.clinic_checks import check_clinic
from reminders.clock import FixedClock
from reminders.db.models import Message
from reminders.domain import ChannelKind
from reminders.errors import ConfigError
from reminders.policies import load_policies
from tests.conftest import CONFIG_DIR, clinic_settings, make_settings
from tests.support import RecordingChannel, dispatcher, log

TEST_PHONE = "+12125550123"
TEST_EMAIL = "desk-test@harbor.example"
SMS_NOTE = "test mode: sent to the clinic's test number, not the patient"
EMAIL_NOTE = "test mode: sent to the clinic's test address, not the patient"


def build(tmp_path: Path, url: str, clock: FixedClock, **clinic: object) -> App:
    return build_app(make_settings(tmp_path, url, **clinic), clock=clock)


@pytest.fixture
def testing(tmp_path: Path, database_url: str, clock: FixedClock) -> Iterator[App]:
    application = build(
        tmp_path, database_url, clock, test_mode=True, test_phone=TEST_PHONE, test_email=TEST_EMAIL
    )
    yield application
    application.close()


def sent_events(app: App) -> dict[str, list[str | None]]:
    """Each sent message's `sent` event details, by channel."""
    with app.sessions() as session:
        rows = session.scalars(
            sa.select(Message).where(Message.state == "sent").options(selectinload(Message.events))
        ).all()
        found: dict[str, list[str | None]] = {}
        for message in rows:
            found.setdefault(message.channel, []).extend(
                e.detail for e in message.events if e.kind == "sent"
            )
        return found


def test_in_test_mode_a_text_goes_to_the_test_number_as_the_patient_would_get_it(
    testing: App, channel: RecordingChannel
) -> None:
    log(testing, phone="+12125550199")
    dispatcher(testing, channel).dispatch_due()
    [text] = channel.sent
    assert (text.kind, text.to) == (ChannelKind.SMS, TEST_PHONE)
    with testing.sessions() as session:
        planned = session.get(Message, text.message_id)
        assert planned is not None
        assert text.body == planned.body
    assert sent_events(testing) == {"sms": [SMS_NOTE]}


def test_in_test_mode_an_email_goes_to_the_test_address(
    testing: App, channel: RecordingChannel
) -> None:
    log(testing, phone=None, email="jane@example.org", channel=ChannelKind.EMAIL)
    dispatcher(testing, channel).dispatch_due()
    [email] = channel.sent
    assert (email.kind, email.to) == (ChannelKind.EMAIL, TEST_EMAIL)
    assert sent_events(testing) == {"email": [EMAIL_NOTE]}


def test_with_test_mode_off_messages_go_to_the_patient(
    tmp_path: Path, database_url: str, clock: FixedClock, channel: RecordingChannel
) -> None:
    application = build(tmp_path, database_url, clock, test_phone=TEST_PHONE)
    try:
        log(application, phone="+12125550199")
        log(application, name="Ann Lee", phone=None, email="ann@example.org")
        dispatcher(application, channel).dispatch_due()
        assert sorted(o.to for o in channel.sent) == ["+12125550199", "ann@example.org"]
        assert sent_events(application) == {"sms": [None], "email": [None]}
    finally:
        application.close()


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"test_email": TEST_EMAIL}, "test_phone"),
        ({"test_phone": TEST_PHONE}, "test_email"),
        ({"test_phone": TEST_PHONE, "email_fallback": False}, None),
        ({"default_channel": "email", "email_fallback": False, "test_email": TEST_EMAIL}, None),
    ],
    ids=["no-phone", "no-email", "texts-only", "emails-only"],
)
def test_test_mode_needs_a_destination_for_each_channel_the_clinic_uses(
    settings: dict[str, object], field: str | None
) -> None:
    policies = load_policies(CONFIG_DIR / "policies")
    clinic = clinic_settings(test_mode=True, **settings)
    _, problems = check_clinic(clinic, policies, CONFIG_DIR / "sources")
    assert [p.setting for p in problems] == ([field] if field else [])


def test_the_service_refuses_to_start_in_test_mode_without_a_test_number(
    tmp_path: Path, sqlite_url: str, clock: FixedClock
) -> None:
    with pytest.raises(ConfigError, match=r"clinic\.test_phone: test mode is on"):
        build(tmp_path, sqlite_url, clock, test_mode=True, test_email=TEST_EMAIL)
