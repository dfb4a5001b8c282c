"""Staff accounts and their web sessions: passwords, lock-out, sign-in and sign-out.

Passwords are kept as argon2id hashes (argon2-cffi's `PasswordHasher`, rehashed on the
next sign-in when its parameters change). A session is found by a SHA-256 of its
cookie's token: the token is 32 random bytes, so a fast hash is as safe as a slow one.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from reminders.clock import Clock
from reminders.db.engine import read_only_sessions
from reminders.db.models import Clinic, StaffAccount, StaffSession
from reminders.errors import InputError, NotFoundError
from reminders.inputs import clean_text
from reminders.settings import WebSettings

log = logging.getLogger(__name__)

SHORTEST_PASSWORD = 12
# Hashing cost grows with the input: a bound keeps a huge "password" from costing a core.
LONGEST_PASSWORD = 1024
LONGEST_USERNAME = 254  # an email address
LONGEST_NAME = 80
# A sign-in form's session: long enough to fill the form in, short enough that rows of
# forms never submitted are soon purged.
FORM_SESSION_LIFETIME = timedelta(hours=1)
# How stale `last_seen_at` may be before a request writes it again: every request writing
# would put a write transaction on each page view, for a timeout counted in hours.
TOUCH_EVERY = timedelta(minutes=1)


class SignInOutcome(StrEnum):
    SIGNED_IN = "signed_in"
    REFUSED = "refused"  # unknown username or wrong password
    LOCKED = "locked"  # too many wrong passwords: refused whatever the password
    DISABLED = "disabled"  # the right password, for a disabled account


@dataclass(frozen=True)
class SignInResult:
    outcome: SignInOutcome
    staff_id: int | None = None


@dataclass(frozen=True)
class StaffRow:
    """An account as listed: never its password hash."""

    id: int
    clinic_slug: str
    username: str
    display_name: str
    created_at: datetime
    disabled_at: datetime | None
    locked_until: datetime | None
    last_sign_in_at: datetime | None


@dataclass(frozen=True)
class NewSession:
    id: int
    token: str  # for the cookie; only its hash is stored
    csrf_token: str


@dataclass(frozen=True)
class ActiveSession:
    """A signed-in session, as read for a request."""

    id: int
    csrf_token: str
    staff_id: int
    username: str
    display_name: str
    clinic_id: int
    clinic_name: str
    clinic_timezone: str


@dataclass(frozen=True)
class FormSession:
    """A sign-in form's session: nobody signed in yet, only the form's CSRF token."""

    id: int
    csrf_token: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def username_key(text: str) -> str:
    """A username as stored and looked up: trimmed and case-folded."""
    cleaned = clean_text(text, field="username", longest=LONGEST_USERNAME)
    if " " in cleaned:
        raise InputError("username", "must not contain spaces")
    return cleaned.casefold()


def acceptable_password(password: str, *, username: str) -> str:
    """`password`, if long enough and not the username; else an InputError naming it."""
    if len(password) < SHORTEST_PASSWORD:
        raise InputError("password", f"must be at least {SHORTEST_PASSWORD} characters")
    if len(password) > LONGEST_PASSWORD:
        raise InputError("password", f"is longer than {LONGEST_PASSWORD} characters")
    if password.strip().casefold() == username.casefold():
        raise InputError("password", "must not be the username")
    return password


class StaffAccounts:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Clock,
        settings: WebSettings,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.sessions = sessions
        self.reads = read_only_sessions(sessions)
        self.clock = clock
        self.settings = settings
        self.hasher = hasher or PasswordHasher(
            time_cost=settings.password_hash_time_cost,
            memory_cost=settings.password_hash_memory_kib,
        )

    # -- accounts --------------------------------------------------------------------

    def check_new(self, clinic_slug: str, username: str) -> None:
        """Refuse, before a password is asked for, an account `add` would refuse."""
        key = username_key(username)
        with self.reads() as session:
            _clinic_id(session, clinic_slug)
            taken = session.scalar(select(StaffAccount.id).where(StaffAccount.username == key))
        if taken is not None:
            raise InputError("username", f"an account {key!r} already exists")

    def add(self, clinic_slug: str, username: str, *, display_name: str, password: str) -> int:
        """Create an account for a clinic's staff member; the username must be new."""
        key = username_key(username)
        name = clean_text(display_name, field="name", longest=LONGEST_NAME)
        password_hash = self.hasher.hash(acceptable_password(password, username=key))
        try:
            with self.sessions.begin() as session:
                account = StaffAccount(
                    clinic_id=_clinic_id(session, clinic_slug),
                    username=key,
                    display_name=name,
                    password_hash=password_hash,
                    created_at=self.clock.now(),
                    failed_attempts=0,
                )
                session.add(account)
                session.flush()
                return account.id
        except IntegrityError as exc:
            raise InputError("username", f"an account {key!r} already exists") from exc

    def accounts(self, clinic_slug: str | None = None) -> list[StaffRow]:
        query = (
            select(StaffAccount, Clinic.slug)
            .join(Clinic, Clinic.id == StaffAccount.clinic_id)
            .order_by(Clinic.slug, StaffAccount.username)
        )
        with self.reads() as session:
            if clinic_slug is not None:
                query = query.where(StaffAccount.clinic_id == _clinic_id(session, clinic_slug))
            return [_row(account, slug) for account, slug in session.execute(query)]

    def disable(self, username: str) -> None:
        """Refuse the account's sign-ins from now on, and end its sessions."""
        with self.sessions.begin() as session:
            account = _account(session, username)
            if account.disabled_at is None:
                account.disabled_at = self.clock.now()
            _end_sessions(session, account.id)
        log.info("staff account disabled", extra={"staff_id": account.id})

    def enable(self, username: str) -> None:
        """Allow sign-ins again, and lift any lock-out."""
        with self.sessions.begin() as session:
            account = _account(session, username)
            account.disabled_at = None
            account.failed_attempts = 0
            account.locked_until = None
        log.info("staff account enabled", extra={"staff_id": account.id})

    def set_password(self, username: str, password: str) -> None:
        """A new password: the account's sessions end, and any lock-out is lifted."""
        key = username_key(username)
        password_hash = self.hasher.hash(acceptable_password(password, username=key))
        with self.sessions.begin() as session:
            account = _account(session, key)
            account.password_hash = password_hash
            account.failed_attempts = 0
            account.locked_until = None
            _end_sessions(session, account.id)
        log.info("staff password changed", extra={"staff_id": account.id})

    # -- signing in ------------------------------------------------------------------

    def sign_in(self, username: str, password: str) -> SignInResult:
        """Check a username and password, counting wrong passwords towards a lock-out.

        An unknown username costs the same hash verification as a known one, so the
        time taken does not tell whether the username exists.
        """
        now = self.clock.now()
        account = self._find(username)
        if account is None:
            self._verify(self._dummy_hash, password)
            return SignInResult(SignInOutcome.REFUSED)
        verified = self._verify(account.password_hash, password)
        if account.locked_until is not None and account.locked_until > now:
            return SignInResult(SignInOutcome.LOCKED, account.id)
        if not verified:
            locked = self._count_failure(account.id, now)
            return SignInResult(
                SignInOutcome.LOCKED if locked else SignInOutcome.REFUSED, account.id
            )
        if account.disabled_at is not None:
            return SignInResult(SignInOutcome.DISABLED, account.id)
        self._signed_in(account, password, now)
        return SignInResult(SignInOutcome.SIGNED_IN, account.id)

    def _find(self, username: str) -> StaffAccount | None:
        try:
            key = username_key(username)
        except InputError:
            return None
        with self.reads() as session:
            return session.scalars(
                select(StaffAccount).where(StaffAccount.username == key)
            ).one_or_none()

    def _verify(self, password_hash: str, password: str) -> bool:
        if len(password) > LONGEST_PASSWORD:
            password = ""  # still verified: the same work as any other attempt
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    @functools.cached_property
    def _dummy_hash(self) -> str:
        return self.hasher.hash(secrets.token_urlsafe(16))

    def _count_failure(self, staff_id: int, now: datetime) -> bool:
        """One more wrong password; True when it locks the account."""
        # Counted in the UPDATE itself: two wrong passwords at once both count.
        with self.sessions.begin() as session:
            failures = session.execute(
                update(StaffAccount)
                .where(StaffAccount.id == staff_id)
                .values(failed_attempts=StaffAccount.failed_attempts + 1)
                .returning(StaffAccount.failed_attempts)
            ).scalar_one()
            if failures < self.settings.lockout_attempts:
                return False
            session.execute(
                update(StaffAccount)
                .where(StaffAccount.id == staff_id)
                .values(
                    failed_attempts=0,
                    locked_until=now + timedelta(minutes=self.settings.lockout_minutes),
                )
            )
        log.warning("staff account locked", extra={"staff_id": staff_id})
        return True

    def _signed_in(self, account: StaffAccount, password: str, now: datetime) -> None:
        values: dict[str, object] = {
            "failed_attempts": 0,
            "locked_until": None,
            "last_sign_in_at": now,
        }
        if self.hasher.check_needs_rehash(account.password_hash):
            values["password_hash"] = self.hasher.hash(password)
        with self.sessions.begin() as session:
            session.execute(
                update(StaffAccount).where(StaffAccount.id == account.id).values(**values)
            )

    # -- sessions --------------------------------------------------------------------

    def start_session(self, staff_id: int, *, replacing: int | None = None) -> NewSession:
        """A new session for a signed-in account; `replacing` (the sign-in form's session)
        ends, so a token planted before sign-in is worth nothing after it."""
        now = self.clock.now()
        expires = now + min(self._idle, self._longest)
        with self.sessions.begin() as session:
            if replacing is not None:
                session.execute(delete(StaffSession).where(StaffSession.id == replacing))
            return _new_session(session, staff_id, now, expires)

    def start_form_session(self) -> NewSession:
        """A session for a sign-in form, carrying its CSRF token; expired rows go."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
            return _new_session(session, None, now, now + FORM_SESSION_LIFETIME)

    def form_session(self, token: str) -> FormSession | None:
        """The sign-in form's session a cookie names, while it lasts."""
        with self.reads() as session:
            row = session.scalars(
                select(StaffSession).where(
                    StaffSession.token_hash == token_hash(token),
                    StaffSession.staff_id.is_(None),
                    StaffSession.expires_at > self.clock.now(),
                )
            ).one_or_none()
        return FormSession(row.id, row.csrf_token) if row else None

    def signed_in(self, token: str) -> ActiveSession | None:
        """The live session a cookie names, with its account and clinic; None once it has
        expired (idle or absolute) or its account is disabled. Keeps it alive."""
        now = self.clock.now()
        with self.reads() as session:
            found = session.execute(
                _SESSION_ACCOUNT_CLINIC, {"token_hash": token_hash(token)}
            ).one_or_none()
        if found is None:
            return None
        row, account, clinic = found
        if row.expires_at <= now or account.disabled_at is not None:
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            self._touch(row, now)
        return ActiveSession(
            id=row.id,
            csrf_token=row.csrf_token,
            staff_id=account.id,
            username=account.username,
            display_name=account.display_name,
            clinic_id=clinic.id,
            clinic_name=clinic.name,
            clinic_timezone=clinic.timezone,
        )

    def _touch(self, row: StaffSession, now: datetime) -> None:
        expires = min(now + self._idle, row.created_at + self._longest)
        with self.sessions.begin() as session:
            session.execute(
                update(StaffSession)
                .where(StaffSession.id == row.id)
                .values(last_seen_at=now, expires_at=expires)
            )

    def end_session(self, session_id: int) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(StaffSession).where(StaffSession.id == session_id))

    @property
    def _idle(self) -> timedelta:
        return timedelta(hours=self.settings.session_idle_hours)

    @property
    def _longest(self) -> timedelta:
        return timedelta(days=self.settings.session_max_days)


_SESSION_ACCOUNT_CLINIC = (
    select(StaffSession, StaffAccount, Clinic)
    .join(StaffAccount, StaffAccount.id == StaffSession.staff_id)
    .join(Clinic, Clinic.id == StaffAccount.clinic_id)
    .where(StaffSession.token_hash == bindparam("token_hash"))
)


def _new_session(
    session: Session, staff_id: int | None, now: datetime, expires: datetime
) -> NewSession:
    token = secrets.token_urlsafe(32)
    row = StaffSession(
        staff_id=staff_id,
        token_hash=token_hash(token),
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=expires,
    )
    session.add(row)
    session.flush()
    return NewSession(row.id, token, row.csrf_token)


def _clinic_id(session: Session, slug: str) -> int:
    clinic_id = session.scalar(select(Clinic.id).where(Clinic.slug == slug))
    if clinic_id is None:
        raise InputError("clinic", f"no clinic {slug!r}")
    return clinic_id


def _account(session: Session, username: str) -> StaffAccount:
    key = username_key(username)
    account = session.scalars(
        select(StaffAccount).where(StaffAccount.username == key)
    ).one_or_none()
    if account is None:
        raise NotFoundError(f"no staff account {key!r}")
    return account


def _end_sessions(session: Session, staff_id: int) -> None:
    session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))


def _row(account: StaffAccount, clinic_slug: str) -> StaffRow:
    return StaffRow(
        id=account.id,
        clinic_slug=clinic_slug,
        username=account.username,
        display_name=account.display_name,
        created_at=account.created_at,
        disabled_at=account.disabled_at,
        locked_until=account.locked_until,
        last_sign_in_at=account.last_sign_in_at,
    )
