"""Bearer API keys, the per-key rate limit and the failed-authentication throttle."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

import pytest

from reminders.accounts import Accounts, NewKey
from reminders.api.app import create_app
from reminders.api.security import AUTH_FAILURE_BURST, TokenBuckets
from reminders.bootstrap import App
from reminders.clock import FixedClock
from reminders.db.models import Clinic
from tests.api import TestClient, bearer, treatment_body

PROTECTED: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/treatments", treatment_body()),
    ("GET", "/v1/treatments", None),
    ("GET", "/v1/treatments/1", None),
    ("PATCH", "/v1/treatments/1", {"performed_at": "2026-11-27T13:00:00"}),
    ("POST", "/v1/treatments/1/cancel", None),
    ("GET", "/v1/policies", None),
    ("POST", "/v1/preview", {"treatment_type": "botox"}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED]
)
def test_request_without_authorization_is_401_with_www_authenticate(
    client: TestClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = client.request(method, path, json=body)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"detail": "missing or invalid API key"}


def test_unauthenticated_invalid_body_is_401_not_422(client: TestClient) -> None:
    response = client.post("/v1/treatments", json={"id": 5})

    assert response.status_code == 401


def test_wrong_secret_for_a_real_prefix_is_401(client: TestClient, key_a: NewKey) -> None:
    forged = f"rk_{key_a.prefix}_{'x' * 43}"

    response = client.get("/v1/treatments", headers=bearer(forged))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer nonsense", "Bearer rk__", "Basic cms6c2VjcmV0", "Bearer "],
)
def test_malformed_credentials_are_401(client: TestClient, authorization: str) -> None:
    response = client.get("/v1/treatments", headers={"Authorization": authorization})

    assert response.status_code == 401


def test_revoked_key_is_401(client: TestClient, key_a: NewKey, accounts: Accounts) -> None:
    assert client.get("/v1/treatments", headers=bearer(key_a.key)).status_code == 200

    accounts.revoke_key(key_a.prefix)

    response = client.get("/v1/treatments", headers=bearer(key_a.key))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_revoking_one_key_leaves_the_clinics_other_keys_working(
    client: TestClient, key_a: NewKey, accounts: Accounts, app: App
) -> None:
    other = accounts.create_key(app.clinic.slug, label="front desk")

    accounts.revoke_key(key_a.prefix)

    assert client.get("/v1/treatments", headers=bearer(other.key)).status_code == 200


def test_the_key_never_appears_in_a_response(client: TestClient, key_a: NewKey) -> None:
    headers = bearer(key_a.key)
    secret = key_a.key.split("_", 2)[2]  # rk_<prefix>_<secret>; the secret may hold "_"
    created = client.post("/v1/treatments", json=treatment_body(), headers=headers)
    treatment_id = created.json()["id"]
    responses = [
        created,
        client.get(f"/v1/treatments/{treatment_id}", headers=headers),
        client.get("/v1/treatments", headers=headers),
        client.get("/v1/treatments/999999", headers=headers),
        client.post("/v1/treatments", json={"id": 1}, headers=headers),
        client.patch(f"/v1/treatments/{treatment_id}", json={"x": 1}, headers=headers),
        client.post(f"/v1/treatments/{treatment_id}/cancel", headers=headers),
        client.get("/v1/policies", headers=headers),
        client.post("/v1/preview", json={"treatment_type": "botox"}, headers=headers),
        client.get("/v1/treatments", headers=bearer(key_a.key + "x")),
        client.get("/openapi.json"),
    ]

    assert [r.status_code for r in responses] == [
        201, 200, 200, 404, 422, 422, 200, 200, 200, 401, 200,
    ]  # fmt: skip
    for response in responses:
        assert secret not in response.text
        assert key_a.key not in response.text
        assert all(secret not in value for value in response.headers.values())


# -- rate limit ----------------------------------------------------------------------------


@pytest.fixture
def limited(app: App) -> Iterator[TestClient]:
    """A client on an API with a burst of 3 and 1 request a second sustained."""
    app.settings.api.rate_burst = 3
    app.settings.api.rate_per_minute = 60
    with TestClient(create_app(app)) as test_client:
        yield test_client


def test_request_after_the_burst_is_429_with_retry_after(
    limited: TestClient, key_a: NewKey
) -> None:
    headers = bearer(key_a.key)
    for _ in range(3):
        assert limited.get("/v1/treatments", headers=headers).status_code == 200

    response = limited.get("/v1/treatments", headers=headers)

    assert response.status_code == 429
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit()
    assert int(retry_after) >= 1


def test_advancing_the_clock_refills_the_bucket(
    limited: TestClient, key_a: NewKey, clock: FixedClock
) -> None:
    headers = bearer(key_a.key)
    for _ in range(3):
        limited.get("/v1/treatments", headers=headers)
    retry_after = int(limited.get("/v1/treatments", headers=headers).headers["Retry-After"])

    clock.advance(timedelta(seconds=retry_after))

    assert limited.get("/v1/treatments", headers=headers).status_code == 200
    assert limited.get("/v1/treatments", headers=headers).status_code == 429


def test_rate_limit_is_per_key(limited: TestClient, key_a: NewKey, key_b: NewKey) -> None:
    for _ in range(4):
        limited.get("/v1/treatments", headers=bearer(key_a.key))

    assert limited.get("/v1/treatments", headers=bearer(key_b.key)).status_code == 200


def test_rate_limited_post_stores_nothing(
    limited: TestClient, key_a: NewKey, row_counts: Callable[[], dict[str, int]]
) -> None:
    headers = bearer(key_a.key)
    for _ in range(3):
        limited.get("/v1/treatments", headers=headers)
    before = row_counts()

    response = limited.post("/v1/treatments", json=treatment_body(), headers=headers)

    assert response.status_code == 429
    assert row_counts() == before


def test_unauthenticated_requests_do_not_use_a_keys_tokens(
    limited: TestClient, key_a: NewKey
) -> None:
    for _ in range(5):
        assert limited.get("/v1/treatments", headers=bearer("rk_nope_nope")).status_code == 401

    assert limited.get("/v1/treatments", headers=bearer(key_a.key)).status_code == 200


# -- failed authentications per client address -----------------------------------------


Dial = Callable[[str], TestClient]  # a client calling from the address given


class CountingAccounts(Accounts):
    """The real accounts, counting key look-ups."""

    lookups = 0

    def authenticate(self, key: str) -> tuple[Clinic, str] | None:
        self.lookups += 1
        return super().authenticate(key)


@pytest.fixture
def accounts_seen(app: App) -> CountingAccounts:
    return CountingAccounts(sessions=app.sessions, clock=app.clock)


@pytest.fixture
def from_address(app: App, accounts_seen: CountingAccounts) -> Iterator[Dial]:
    """Clients on one API (one throttle), each calling from the address given."""
    api = create_app(app, accounts=accounts_seen)
    with ExitStack() as stack:
        yield lambda host: stack.enter_context(TestClient(api, client=(host, 50000)))


def fail(client: TestClient, times: int) -> list[int]:
    return [
        client.get("/v1/treatments", headers=bearer("rk_nope_nope")).status_code
        for _ in range(times)
    ]


def test_wrong_keys_beyond_the_burst_get_429_with_retry_after(
    from_address: Dial,
) -> None:
    client = from_address("203.0.113.5")

    statuses = fail(client, 300)
    response = client.get("/v1/treatments", headers=bearer("rk_nope_nope"))

    assert statuses == [401] * AUTH_FAILURE_BURST + [429] * (300 - AUTH_FAILURE_BURST)
    assert response.status_code == 429
    assert response.json() == {"detail": "too many failed authentications"}
    assert int(response.headers["Retry-After"]) >= 1


def test_a_throttled_address_is_refused_before_its_key_is_looked_up(
    from_address: Dial, accounts_seen: CountingAccounts, key_a: NewKey
) -> None:
    client = from_address("203.0.113.5")
    fail(client, AUTH_FAILURE_BURST)
    lookups = accounts_seen.lookups

    response = client.get("/v1/treatments", headers=bearer(key_a.key))

    assert response.status_code == 429
    assert accounts_seen.lookups == lookups


def test_another_address_is_not_throttled(from_address: Dial, key_a: NewKey) -> None:
    fail(from_address("203.0.113.5"), AUTH_FAILURE_BURST + 5)
    other = from_address("198.51.100.7")

    assert other.get("/v1/treatments", headers=bearer(key_a.key)).status_code == 200
    assert fail(other, 1) == [401]


def test_successes_do_not_lift_a_throttle(from_address: Dial, key_a: NewKey) -> None:
    guesser, clinic = from_address("203.0.113.5"), from_address("198.51.100.7")
    fail(guesser, AUTH_FAILURE_BURST)

    for _ in range(5):
        assert clinic.get("/v1/treatments", headers=bearer(key_a.key)).status_code == 200

    assert fail(guesser, 1) == [429]


def test_a_throttled_address_gets_a_try_back_after_retry_after(
    from_address: Dial, clock: FixedClock
) -> None:
    client = from_address("203.0.113.5")
    fail(client, AUTH_FAILURE_BURST)
    wait = int(client.get("/v1/treatments").headers["Retry-After"])

    clock.advance(timedelta(seconds=wait))

    assert fail(client, 2) == [401, 429]


def test_an_ipv6_client_is_counted_by_its_64_bit_prefix(
    from_address: Dial,
) -> None:
    fail(from_address("2001:db8:1:2::1"), AUTH_FAILURE_BURST)

    assert fail(from_address("2001:db8:1:2:ffff::9"), 1) == [429]
    assert fail(from_address("2001:db8:1:3::1"), 1) == [401]


def test_the_failure_throttle_forgets_the_quietest_address_beyond_its_size(
    clock: FixedClock,
) -> None:
    buckets = TokenBuckets(clock, per_minute=10, burst=1, max_keys=2)
    for address in ("a", "b", "c"):
        assert buckets.acquire(address) is None

    assert buckets.wait("a") is None  # forgotten: a fresh start
    assert buckets.wait("c") is not None
