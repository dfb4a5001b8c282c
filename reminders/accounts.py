"""Clinics and their API keys.

A key reads `rk_<prefix>_<secret>`. The prefix finds the row; only a SHA-256
of the secret is stored. The secret is 32 random bytes, so a fast hash is as
safe as a slow one here: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from reminders.clock import Clock
from reminders.db.engine import read_only_sessions
from reminders.db.models import ApiKey, Clinic
from reminders.errors import InputError, NotFoundError
from reminders.settings import ClinicSettings

KEY_SCHEME = "rk"


@dataclass(frozen=True)
class NewKey:
    id: int
    prefix: str
    key: str  # shown once, never stored


class KeyHolder(NamedTuple):
    """Whom a live key speaks for: its clinic, and the key's prefix and label."""

    clinic: Clinic
    prefix: str
    label: str


class AdminHolder(NamedTuple):
    """A live admin key: the operator's, for managing clinics; it acts for none."""

    prefix: str
    label: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Accounts:
    def __init__(self, *, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.reads = read_only_sessions(sessions)
        self.clock = clock

    def add_clinic(self, settings: ClinicSettings) -> Clinic:
        """Create a clinic; its slug must be new."""
        now = self.clock.now()
        try:
            with self.sessions.begin() as session:
                clinic = Clinic(**settings.model_dump(mode="json"), created_at=now, updated_at=now)
                session.add(clinic)
                session.flush()
                return clinic
        except IntegrityError as exc:
            raise InputError("slug", f"a clinic {settings.slug!r} already exists") from exc

    def clinics(self) -> Sequence[Clinic]:
        with self.reads() as session:
            return session.scalars(select(Clinic).order_by(Clinic.slug)).all()

    def clinic_by_slug(self, slug: str) -> Clinic:
        with self.reads() as session:
            clinic = session.scalars(select(Clinic).where(Clinic.slug == slug)).one_or_none()
        if clinic is None:
            raise NotFoundError(f"no clinic {slug!r}")
        return clinic

    def create_key(self, clinic_slug: str, *, label: str) -> NewKey:
        clinic = self.clinic_by_slug(clinic_slug)
        return self._new_key(clinic.id, label=label)

    def create_admin_key(self, *, label: str) -> NewKey:
        """A key for the admin API (managing clinics); it cannot act for a clinic."""
        return self._new_key(None, label=label)

    def _new_key(self, clinic_id: int | None, *, label: str) -> NewKey:
        prefix = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        with self.sessions.begin() as session:
            row = ApiKey(
                clinic_id=clinic_id,
                admin=clinic_id is None,
                prefix=prefix,
                secret_hash=_hash(secret),
                label=label,
                created_at=self.clock.now(),
            )
            session.add(row)
            session.flush()
            return NewKey(row.id, prefix, f"{KEY_SCHEME}_{prefix}_{secret}")

    def revoke_key(self, prefix: str) -> None:
        with self.sessions.begin() as session:
            row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
            if row is None:
                raise NotFoundError(f"no API key {prefix!r}")
            if row.revoked_at is None:
                row.revoked_at = self.clock.now()

    def keys(self, clinic_slug: str | None) -> Sequence[ApiKey]:
        """A clinic's keys, or with no slug the admin keys."""
        clinic_id = self.clinic_by_slug(clinic_slug).id if clinic_slug is not None else None
        owner = ApiKey.admin if clinic_id is None else ApiKey.clinic_id == clinic_id
        with self.reads() as session:
            return session.scalars(select(ApiKey).where(owner).order_by(ApiKey.id)).all()

    def authenticate(self, key: str) -> KeyHolder | AdminHolder | None:
        """The clinic a live key belongs to, the key's prefix and label; an admin key's
        prefix and label; or None: one read."""
        scheme, _, rest = key.partition("_")
        prefix, _, secret = rest.partition("_")
        if scheme != KEY_SCHEME or not prefix or not secret or len(key) > 200:
            return None
        with self.reads() as session:
            found = session.execute(_KEY_AND_CLINIC, {"prefix": prefix}).one_or_none()
        if found is None:
            return None
        row, clinic = found
        if row.revoked_at is not None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
            return None
        if row.admin:
            return AdminHolder(row.prefix, row.label)
        return KeyHolder(clinic, row.prefix, row.label) if clinic is not None else None


_KEY_AND_CLINIC = (
    select(ApiKey, Clinic)
    .outerjoin(Clinic, Clinic.id == ApiKey.clinic_id)
    .where(ApiKey.prefix == bindparam("prefix"))
)
