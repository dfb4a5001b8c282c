"""Email through an SMTP relay with smtplib: STARTTLS or implicit TLS, optional login.

Replies map by SMTP class: 4xx is a temporary refusal (retry), 5xx permanent.
A dropped connection or timeout is transient. The Message-ID names our message
row, so a bounce or a reply can be traced back to it.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from reminders.channels.base import Outgoing, Receipt
from reminders.errors import ChannelError
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
        except smtplib.SMTPAuthenticationError as exc:
            # Our login is wrong, not the message: wait for the fix, do not fail the queue.
            raise ChannelError(
                f"SMTP {exc.smtp_code}: login refused", permanent=False, code=str(exc.smtp_code)
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _by_code(min(codes) if codes else 550, "recipient refused") from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, "refused") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"SMTP unreachable: {type(exc).__name__}", permanent=False) from exc
        if refused:
            code = min(code for code, _ in refused.values())
            raise _by_code(code, "recipient refused")
        return Receipt(str(message["Message-ID"]))

    def _compose(self, outgoing: Outgoing) -> EmailMessage:
        assert self.settings.from_address is not None
        domain = self.settings.from_address.rpartition("@")[2] or "localhost"
        message = EmailMessage()
        message["From"] = self.settings.from_address
        message["To"] = outgoing.to
        message["Subject"] = outgoing.subject or "Your aftercare"
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = f"<reminders.{outgoing.message_id}@{domain}>"
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


def _by_code(code: int, what: str) -> ChannelError:
    if 400 <= code < 500:
        return ChannelError(f"SMTP {code}: {what} (temporary)", permanent=False, code=str(code))
    # 5xx on the recipient: the address cannot take mail; other 5xx: refused for good.
    return ChannelError(
        f"SMTP {code}: {what}", permanent=True, code=str(code), bad_recipient=code in (550, 553)
    )
