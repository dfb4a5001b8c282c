"""A local mail relay: aiosmtpd on 127.0.0.1 with STARTTLS or implicit TLS, and AUTH.

The certificate comes from a throwaway trustme CA; the client trusts it through
`SmtpSettings.ca_file`. Each accepted message is recorded with its envelope
and the parsed email. It can be told to answer RCPT or DATA with a given reply
(a 4xx or 5xx) for the next N messages (`reply_next`), or for one address only
(`reply_to`: e.g. greylist one recipient at RCPT while others are accepted).
The password it accepts is `FakeSmtp.password`, changeable while it runs, so a
test can start with the relay and the client disagreeing and then fix either.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
from collections.abc import Awaitable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USERNAME = "relay-user"
PASSWORD = "relay-password-0123"
HOST = "127.0.0.1"

Stage = Literal["rcpt", "data"]


@dataclass(frozen=True)
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None  # the AUTH user of the session, if it logged in
    tls: bool  # whether the session was encrypted (STARTTLS or implicit TLS)


@dataclass
class _AddressReply:
    reply: str
    remaining: int | None  # None: for ever


@dataclass
class _Replies:
    """What RCPT or DATA answers instead of accepting: per address first, then the queue."""

    queue: list[str] = field(default_factory=list)
    by_address: dict[str, _AddressReply] = field(default_factory=dict)


class Certificates:
    """A CA and a server certificate for 127.0.0.1; the CA is written for the client."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.server_cert = self.ca.issue_cert(HOST, "localhost")
        self.ca_file = directory / "smtp-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(context)
        return context


class _Controller(Controller):  # type: ignore[misc]
    """aiosmtpd's Controller on a socket bound beforehand to a free port."""

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((HOST, 0))
        super().__init__(handler, hostname=HOST, port=self._socket.getsockname()[1], **kwargs)

    def _create_server(self) -> Awaitable[Any]:
        # The server owns the socket from here and closes it when it stops.
        return self.loop.create_server(
            self._factory_invoker, sock=self._socket, ssl=self.ssl_context
        )

    def close_unstarted(self) -> None:
        self._socket.close()


class FakeSmtp:
    """Start with `with FakeSmtp(certs, security="starttls") as relay:`."""

    def __init__(
        self,
        certificates: Certificates,
        *,
        security: Literal["starttls", "tls"] = "starttls",
        password: str = PASSWORD,
    ) -> None:
        self.certificates = certificates
        self.security = security
        self.password = password  # the one AUTH accepts (for USERNAME); read at each login
        self.delivered: list[Delivered] = []
        self.rcpt_attempts: list[str] = []  # every RCPT TO address, accepted or not
        self._replies: dict[Stage, _Replies] = {"rcpt": _Replies(), "data": _Replies()}
        self._lock = threading.Lock()
        context = certificates.server_context()
        if security == "starttls":
            # AUTH only after STARTTLS, and nothing without AUTH.
            options: dict[str, Any] = {
                "tls_context": context,
                "require_starttls": True,
                "auth_required": True,
                "auth_require_tls": True,
            }
        else:
            # The whole connection is TLS; aiosmtpd's auth_require_tls only knows
            # STARTTLS, so it is off here, and AUTH is checked per message instead.
            options = {"ssl_context": context, "auth_require_tls": False}
        self._controller = _Controller(_Handler(self), authenticator=self._authenticate, **options)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def __enter__(self) -> FakeSmtp:
        try:
            self._controller.start()
        except BaseException:
            self._controller.close_unstarted()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def reply_next(self, stage: Stage, reply: str, times: int = 1) -> None:
        """Answer RCPT or DATA with `reply` (e.g. "450 4.2.1 Mailbox busy") `times` times."""
        with self._lock:
            self._replies[stage].queue.extend([reply] * times)

    def reply_to(self, address: str, stage: Stage, reply: str, times: int | None = None) -> None:
        """Answer `reply` for this address only, `times` times or (None) always.

        At RCPT it answers that RCPT TO; at DATA (one reply per message in SMTP) it
        answers the DATA of a message with this address among its accepted recipients.
        Addresses match case-insensitively. Takes precedence over `reply_next`, whose
        queue it leaves as it is.
        """
        if times is not None and times < 1:
            raise ValueError(f"times: at least 1, or None for always; not {times}")
        with self._lock:
            self._replies[stage].by_address[address.lower()] = _AddressReply(reply, times)

    def _take(self, stage: Stage, addresses: list[str]) -> str | None:
        with self._lock:
            replies = self._replies[stage]
            for address in addresses:
                rule = replies.by_address.get(address.lower())
                if rule is None:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        del replies.by_address[address.lower()]
                return rule.reply
            return replies.queue.pop(0) if replies.queue else None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == USERNAME.encode()
            and data.password == self.password.encode()
        )
        # handled=False: aiosmtpd itself answers 235, or 535 on a failure.
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    def _deliver(self, server: SMTP, session: Session, envelope: Envelope) -> None:
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        # Lines travel as CRLF; parsed as a local file would be.
        text = content.replace(b"\r\n", b"\n")
        message = email.message_from_bytes(text, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        auth = session.auth_data
        login = auth.login.decode() if session.authenticated and auth is not None else None
        with self._lock:
            self.delivered.append(
                Delivered(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=list(envelope.rcpt_tos),
                    message=message,
                    login=login,
                    tls=server.transport.get_extra_info("ssl_object") is not None,
                )
            )


class _Handler:
    def __init__(self, relay: FakeSmtp) -> None:
        self.relay = relay

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        with self.relay._lock:
            self.relay.rcpt_attempts.append(address)
        reply = self.relay._take("rcpt", [address])
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self.relay._take("data", list(envelope.rcpt_tos))
        if reply is not None:
            return reply
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        self.relay._deliver(server, session, envelope)
        return "250 2.0.0 Message accepted for delivery"
