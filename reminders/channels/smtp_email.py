"""Email through an SMTP relay with smtplib: STARTTLS or implicit TLS, optional login.

Replies map by SMTP class: 4xx is a temporary refusal (retry), 5xx permanent.
A 4xx to one recipient (greylisting, a full mailbox) is that message's alone:
it is retried without holding up the others. A refused login is our settings'
fault: the queue waits for the fix. A dropped connection or timeout is
transient. The Message-ID names our message row, so a bounce or a reply can
be traced back to it.

SMTP has no listing to ask afterwards what a relay accepted, so this channel
cannot reconcile (it is not `Reconciling`): a message whose send may have
reached the relay (a connection dropped after DATA, a worker that died mid-send)
is sent again. The window is one SMTP transaction, kept as small as it is.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from reminders.channels.base import Outgoing, Receipt
from reminders.errors import ChannelError, FaultScope
from reminders.settings import SmtpSettings


class SmtpEmailChannel:
    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        assert settings.configured, "SMTP needs a host and a from address"
        self.settings = settings

    def send(self, outgoing: Outgoing) -> Receipt:
        message = self._compose(outgoing)
        try:
            with self._connect() as smtp:
                self._login(smtp)
                refused = smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise error_for(exc) from exc
        if refused:
            code = min(code for code, _ in refused.values())
            raise _by_code(code, "recipient refused", scope=FaultScope.MESSAGE)
        return Receipt(str(message["Message-ID"]))

    def _compose(self, outgoing: Outgoing) -> EmailMessage:
        assert self.settings.from_address is not None
        domain = self.settings.from_address.rpartition("@")[2] or "localhost"
        message = EmailMessage()
        message["From"] = self.settings.from_address
        message["To"] = outgoing.to
        message["Subject"] = outgoing.subject or "Your aftercare"
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = f"<reminders.{outgoing.label}@{domain}>"
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(outgoing.body)
        return message

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        assert s.host is not None
        context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        if s.security == "tls":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=context)
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        if s.security == "starttls":
            try:
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        if self.settings.username:
            smtp.login(self.settings.username, self.settings.secret() or "")


def error_for(exc: smtplib.SMTPException | OSError) -> ChannelError:
    """What an smtplib failure means, as the worker reads it."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        # Our login is wrong, not the message: wait for the fix, do not fail the queue.
        return ChannelError(
            f"SMTP {exc.smtp_code}: login refused",
            permanent=False,
            code=str(exc.smtp_code),
            scope=FaultScope.CONFIGURATION,
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        # The relay will not send from our address: our settings, not the message.
        return ChannelError(
            f"SMTP {exc.smtp_code}: sender address refused",
            permanent=False,
            code=str(exc.smtp_code),
            scope=FaultScope.CONFIGURATION if exc.smtp_code >= 500 else FaultScope.CHANNEL,
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return _by_code(min(codes) if codes else 550, "recipient refused", scope=FaultScope.MESSAGE)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, "refused")
    return ChannelError(f"SMTP unreachable: {type(exc).__name__}", permanent=False)


def _by_code(code: int, what: str, *, scope: FaultScope = FaultScope.CHANNEL) -> ChannelError:
    if 400 <= code < 500:
        return ChannelError(
            f"SMTP {code}: {what} (temporary)", permanent=False, code=str(code), scope=scope
        )
    # 5xx on the recipient: the address cannot take mail; other 5xx: refused for good.
    return ChannelError(
        f"SMTP {code}: {what}", permanent=True, code=str(code), bad_recipient=code in (550, 553)
    )
