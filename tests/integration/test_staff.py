"""Staff accounts (`reminders.staff`) on SQLite and PostgreSQL: passwords, lock-out,
disabling, sessions' idle and absolute ends, with the pinned clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from reminders.bootstrap import App
from reminders.clock import FixedClock
from reminders.db.models import StaffAccount, StaffSession
from reminders.errors import InputError, NotFoundError
from reminders.settings import WebSettings
from reminders.staff import FORM_SESSION_LIFETIME, SignInOutcome, StaffAccounts

PASSWORD = "correct horse battery"


class CountingHasher(PasswordHasher):
    """argon2's hasher, counting verifications: an unknown username must cost one too."""

    verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher(time_cost=1, memory_cost=8_192)  # argon2's cheapest: fast tests


@pytest.fixture
def staff(app: App, clock: FixedClock, hasher: CountingHasher) -> StaffAccounts:
    return StaffAccounts(sessions=app.sessions, clock=clock, settings=WebSettings(), hasher=hasher)


@pytest.fixture
def ann(staff: StaffAccounts) -> int:
    return staff.add("default", "Ann@Example.org", display_name="Ann Lee", password=PASSWORD)


def test_usernames_are_one_account_whatever_their_case(staff: StaffAccounts, ann: int) -> None:
    assert staff.sign_in("ANN@example.ORG", PASSWORD).outcome is SignInOutcome.SIGNED_IN
    with pytest.raises(InputError, match="already exists") as refused:
        staff.add("default", "ann@example.org", display_name="Ann", password=PASSWORD)
    assert refused.value.field == "username"


def test_only_an_argon2id_hash_of_the_password_is_stored(app: App, ann: int) -> None:
    with app.sessions() as session:
        stored = session.scalars(select(StaffAccount.password_hash)).one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("eleven char", "must be at least 12 characters"),
        ("ann@example.org", "must not be the username"),
        ("ANN@EXAMPLE.ORG", "must not be the username"),
        ("x" * 1025, "is longer than 1024 characters"),
    ],
)
def test_a_weak_password_is_refused_naming_the_field(
    staff: StaffAccounts, password: str, message: str
) -> None:
    with pytest.raises(InputError, match=message) as refused:
        staff.add("default", "ann@example.org", display_name="Ann", password=password)
    assert refused.value.field == "password"


def test_an_account_for_a_clinic_that_does_not_exist_is_refused(staff: StaffAccounts) -> None:
    with pytest.raises(InputError) as refused:
        staff.add("nowhere", "ann", display_name="Ann", password=PASSWORD)
    assert refused.value.field == "clinic"


def test_a_wrong_password_is_refused(staff: StaffAccounts, ann: int) -> None:
    assert staff.sign_in("ann@example.org", "wrong password!").outcome is SignInOutcome.REFUSED


def test_an_unknown_username_costs_a_verification_like_a_known_one(
    staff: StaffAccounts, hasher: CountingHasher, ann: int
) -> None:
    staff.sign_in("ann@example.org", "wrong password!")
    known = hasher.verified
    result = staff.sign_in("nobody@example.org", "wrong password!")
    assert result.outcome is SignInOutcome.REFUSED
    assert result.staff_id is None
    assert hasher.verified - known == known == 1


def test_the_fifth_wrong_password_in_a_row_locks_the_account_for_fifteen_minutes(
    staff: StaffAccounts, clock: FixedClock, ann: int
) -> None:
    outcomes = [staff.sign_in("ann@example.org", "wrong password!").outcome for _ in range(5)]
    assert outcomes == [SignInOutcome.REFUSED] * 4 + [SignInOutcome.LOCKED]
    clock.advance(timedelta(minutes=15) - timedelta(seconds=1))
    assert staff.sign_in("ann@example.org", PASSWORD).outcome is SignInOutcome.LOCKED
    clock.advance(timedelta(seconds=1))
    assert staff.sign_in("ann@example.org", PASSWORD).outcome is SignInOutcome.SIGNED_IN


def test_a_sign_in_clears_the_count_of_wrong_passwords(staff: StaffAccounts, ann: int) -> None:
    for _ in range(4):
        staff.sign_in("ann@example.org", "wrong password!")
    assert staff.sign_in("ann@example.org", PASSWORD).outcome is SignInOutcome.SIGNED_IN
    outcomes = [staff.sign_in("ann@example.org", "wrong password!").outcome for _ in range(4)]
    assert outcomes == [SignInOutcome.REFUSED] * 4


def test_lock_out_follows_the_settings(app: App, clock: FixedClock, ann: int) -> None:
    staff = StaffAccounts(
        sessions=app.sessions,
        clock=clock,
        settings=WebSettings(lockout_attempts=2, lockout_minutes=1),
    )
    outcomes = [staff.sign_in("ann@example.org", "wrong password!").outcome for _ in range(2)]
    assert outcomes == [SignInOutcome.REFUSED, SignInOutcome.LOCKED]
    clock.advance(timedelta(minutes=1))
    assert staff.sign_in("ann@example.org", PASSWORD).outcome is SignInOutcome.SIGNED_IN


def test_enabling_an_account_lifts_its_lock_out(staff: StaffAccounts, ann: int) -> None:
    for _ in range(5):
        staff.sign_in("ann@example.org", "wrong password!")
    staff.enable("ann@example.org")
    assert staff.sign_in("ann@example.org", PASSWORD).outcome is SignInOutcome.SIGNED_IN


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(
    staff: StaffAccounts, ann: int
) -> None:
    session = staff.start_session(ann)
    assert staff.signed_in(session.token) is not None
    staff.disable("ann@example.org")
    assert staff.signed_in(session.token) is None
    assert staff.sign_in("ann@example.org", PASSWORD).outcome is SignInOutcome.DISABLED
    assert staff.sign_in("ann@example.org", "wrong password!").outcome is SignInOutcome.REFUSED
    staff.enable("ann@example.org")
    assert staff.sign_in("ann@example.org", PASSWORD).outcome is SignInOutcome.SIGNED_IN


def test_a_new_password_ends_the_accounts_sessions(staff: StaffAccounts, ann: int) -> None:
    session = staff.start_session(ann)
    staff.set_password("ann@example.org", "another long passphrase")
    assert staff.signed_in(session.token) is None
    assert staff.sign_in("ann@example.org", PASSWORD).outcome is SignInOutcome.REFUSED
    assert (
        staff.sign_in("ann@example.org", "another long passphrase").outcome
        is SignInOutcome.SIGNED_IN
    )


def test_a_hash_made_with_older_parameters_is_replaced_at_sign_in(
    app: App, clock: FixedClock
) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    old = StaffAccounts(sessions=app.sessions, clock=clock, settings=WebSettings(), hasher=cheap)
    old.add("default", "ann", display_name="Ann", password=PASSWORD)
    current = StaffAccounts(sessions=app.sessions, clock=clock, settings=WebSettings())
    assert current.sign_in("ann", PASSWORD).outcome is SignInOutcome.SIGNED_IN
    with app.sessions() as session:
        stored = session.scalars(select(StaffAccount.password_hash)).one()
    assert not current.hasher.check_needs_rehash(stored)
    assert current.sign_in("ann", PASSWORD).outcome is SignInOutcome.SIGNED_IN


def test_only_a_hash_of_the_session_token_is_stored(
    app: App, staff: StaffAccounts, ann: int
) -> None:
    session = staff.start_session(ann)
    with app.sessions() as db:
        stored = db.scalars(select(StaffSession.token_hash)).one()
    assert session.token not in stored
    assert len(stored) == 64


def test_a_session_ends_after_twelve_hours_without_a_request(
    staff: StaffAccounts, clock: FixedClock, ann: int
) -> None:
    session = staff.start_session(ann)
    clock.advance(timedelta(hours=12) - timedelta(seconds=1))
    assert staff.signed_in(session.token) is not None  # and kept alive from now
    clock.advance(timedelta(hours=12) - timedelta(seconds=1))
    assert staff.signed_in(session.token) is not None
    clock.advance(timedelta(hours=12))
    assert staff.signed_in(session.token) is None


def test_a_session_ends_seven_days_after_sign_in_however_busy(
    staff: StaffAccounts, clock: FixedClock, ann: int
) -> None:
    session = staff.start_session(ann)
    for _ in range(7 * 24 - 1):
        clock.advance(timedelta(hours=1))
        assert staff.signed_in(session.token) is not None
    clock.advance(timedelta(hours=1) - timedelta(seconds=1))
    assert staff.signed_in(session.token) is not None
    clock.advance(timedelta(seconds=1))
    assert staff.signed_in(session.token) is None


def test_a_sign_in_forms_session_is_no_signed_in_session(staff: StaffAccounts) -> None:
    form = staff.start_form_session()
    assert staff.signed_in(form.token) is None
    found = staff.form_session(form.token)
    assert found is not None
    assert found.csrf_token == form.csrf_token


def test_signing_in_replaces_the_forms_session(staff: StaffAccounts, ann: int) -> None:
    form = staff.start_form_session()
    session = staff.start_session(ann, replacing=form.id)
    assert staff.form_session(form.token) is None
    assert session.token != form.token
    assert session.csrf_token != form.csrf_token


def test_expired_sessions_are_purged_when_a_form_session_starts(
    app: App, staff: StaffAccounts, clock: FixedClock
) -> None:
    staff.start_form_session()
    clock.advance(FORM_SESSION_LIFETIME)
    staff.start_form_session()
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(StaffSession)) == 1


def test_accounts_lists_without_hashes_and_by_clinic(staff: StaffAccounts, ann: int) -> None:
    rows = staff.accounts("default")
    assert [(row.username, row.display_name, row.clinic_slug) for row in rows] == [
        ("ann@example.org", "Ann Lee", "default")
    ]
    assert not hasattr(rows[0], "password_hash")
    with pytest.raises(InputError):
        staff.accounts("nowhere")


def test_disabling_an_unknown_account_says_so(staff: StaffAccounts) -> None:
    with pytest.raises(NotFoundError, match="no staff account 'nobody'"):
        staff.disable("nobody")


def test_the_password_hash_cost_comes_from_the_settings(app: App, clock: FixedClock) -> None:
    default = StaffAccounts(sessions=app.sessions, clock=clock, settings=WebSettings())
    small = StaffAccounts(
        sessions=app.sessions,
        clock=clock,
        settings=WebSettings(password_hash_memory_kib=19_456, password_hash_time_cost=2),
    )
    assert default.hasher.hash("correct horse battery").startswith("$argon2id$v=19$m=65536,t=3,")
    assert small.hasher.hash("correct horse battery").startswith("$argon2id$v=19$m=19456,t=2,")
