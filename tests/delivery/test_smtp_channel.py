"""SmtpEmailChannel through smtplib against a local relay: TLS, AUTH, and every kind of refusal."""

from __future__ import annotations

import socket

import pytest

from reminders.channels.base import Outgoing
from reminders.channels.smtp_email import SmtpEmailChannel
from reminders.domain import ChannelKind
from reminders.errors import ChannelError
from reminders.settings import SmtpSettings
from tests.delivery.conftest import FROM_ADDRESS
from tests.delivery.fake_smtp import HOST, USERNAME, Certificates, FakeSmtp, Stage

TO = "jane.doe@example.com"
SUBJECT = "Your aftercare until 6:00 PM"
BODY = "Hello,\n\nFor the next 4 hours, please avoid exercise.\n\nHarbor Skin Clinic\n"


def outgoing(message_id: int = 4217) -> Outgoing:
    return Outgoing(
        message_id=message_id,
        kind=ChannelKind.EMAIL,
        to=TO,
        subject=SUBJECT,
        body=BODY,
        clinic_id=1,
    )


def test_starttls_and_auth_deliver_the_composed_email(
    smtp_relay: FakeSmtp, smtp_settings: SmtpSettings
) -> None:
    receipt = SmtpEmailChannel(smtp_settings).send(outgoing())

    [delivered] = smtp_relay.delivered
    assert delivered.tls
    assert delivered.login == USERNAME
    assert delivered.mail_from == FROM_ADDRESS
    assert delivered.rcpt_tos == [TO]
    message = delivered.message
    assert message["From"] == FROM_ADDRESS
    assert message["To"] == TO
    assert message["Subject"] == SUBJECT
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"] is not None
    # The Message-ID names our message row, so a bounce can be traced back to it.
    assert "4217" in message["Message-ID"]
    assert message["Message-ID"] == "<reminders.4217@harbor.example>"
    assert receipt.provider_id == message["Message-ID"]
    assert not message.is_multipart()
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == BODY


def test_implicit_tls_delivers(certificates: Certificates) -> None:
    with FakeSmtp(certificates, security="tls") as relay:
        settings = SmtpSettings(
            host=HOST,
            port=relay.port,
            security="tls",
            username=USERNAME,
            password="relay-password-0123",
            from_address=FROM_ADDRESS,
            ca_file=certificates.ca_file,
            timeout_seconds=5,
        )
        receipt = SmtpEmailChannel(settings).send(outgoing(7))
    [delivered] = relay.delivered
    assert delivered.tls
    assert delivered.login == USERNAME
    assert delivered.rcpt_tos == [TO]
    assert receipt.provider_id == delivered.message["Message-ID"] == "<reminders.7@harbor.example>"


def test_the_relay_certificate_is_verified(
    smtp_relay: FakeSmtp, smtp_settings: SmtpSettings
) -> None:
    # Without the private CA the relay's certificate is not trusted: nothing is sent.
    settings = smtp_settings.model_copy(update={"ca_file": None})
    with pytest.raises(ChannelError):
        SmtpEmailChannel(settings).send(outgoing())
    assert smtp_relay.delivered == []


REFUSALS = [
    # stage, reply, permanent, bad_recipient
    ("rcpt", "450 4.2.1 Mailbox busy, try later", False, False),
    ("rcpt", "452 4.2.2 Mailbox full", False, False),
    ("data", "451 4.3.0 Local error, try later", False, False),
    ("data", "421 4.3.2 Service shutting down", False, False),
    ("rcpt", "550 5.1.1 No such user", True, True),
    ("rcpt", "553 5.1.3 Bad recipient address syntax", True, True),
    ("rcpt", "554 5.7.1 Relay access denied", True, False),
    ("data", "554 5.6.0 Message content rejected", True, False),
    ("data", "552 5.3.4 Message too big", True, False),
]


@pytest.mark.parametrize(
    ("stage", "reply", "permanent", "bad_recipient"),
    REFUSALS,
    ids=[f"{stage}-{reply[:3]}" for stage, reply, _, _ in REFUSALS],
)
def test_a_refusal_maps_by_reply_class(
    smtp_relay: FakeSmtp,
    smtp_settings: SmtpSettings,
    stage: Stage,
    reply: str,
    permanent: bool,
    bad_recipient: bool,
) -> None:
    channel = SmtpEmailChannel(smtp_settings)
    smtp_relay.reply_next(stage, reply)
    with pytest.raises(ChannelError) as caught:
        channel.send(outgoing())
    error = caught.value
    code = reply.split()[0]
    assert (error.permanent, error.bad_recipient, error.code) == (permanent, bad_recipient, code)
    assert TO not in str(error)
    assert smtp_relay.delivered == []
    # The reply was for one message: the next one goes through.
    channel.send(outgoing())
    assert len(smtp_relay.delivered) == 1


def test_a_closed_port_is_transient(smtp_settings: SmtpSettings) -> None:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        closed_port = probe.getsockname()[1]
    settings = smtp_settings.model_copy(update={"port": closed_port})
    with pytest.raises(ChannelError) as caught:
        SmtpEmailChannel(settings).send(outgoing())
    assert not caught.value.permanent


def test_a_wrong_password_is_transient(smtp_relay: FakeSmtp, smtp_settings: SmtpSettings) -> None:
    # Our configuration is wrong, not the message: it must wait for the fix, not fail.
    settings = smtp_settings.model_copy(update={"password": "not-the-password"})
    with pytest.raises(ChannelError) as caught:
        SmtpEmailChannel(settings).send(outgoing())
    assert not caught.value.permanent
    assert caught.value.code == "535"
    assert "not-the-password" not in str(caught.value)
    assert smtp_relay.delivered == []
