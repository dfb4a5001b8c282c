"""Input no JSON generator makes by chance: non-finite numbers, lone surrogates, bytes that
are not UTF-8, times at the ends of the calendar. Each is a 4xx naming the field, with
nothing stored and nothing echoed; none is a 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.api import TestClient, treatment_body

Counts = Callable[[], dict[str, int]]
Send = Callable[[str, str, bytes], dict[str, Any]]
MARK = "@@"  # where a hostile value goes in a body template


def _text(body: dict[str, Any]) -> str:
    return json.dumps(body)


# (method, path, body template with "@@" as the value, the loc it must name). Treatment 1
# exists (see `send`); alert 1 need not: the body is refused before anything is looked up.
STRING_FIELDS = [
    ("POST", "/v1/treatments", _text(treatment_body(patient={"name": MARK})),
     ["body", "patient", "name"]),
    ("POST", "/v1/treatments", _text(treatment_body(patient={"phone": MARK})),
     ["body", "patient", "phone"]),
    ("POST", "/v1/treatments", _text(treatment_body(patient={"email": MARK})),
     ["body", "patient", "email"]),
    ("POST", "/v1/treatments", _text(treatment_body(patient={"timezone": MARK})),
     ["body", "patient", "timezone"]),
    ("POST", "/v1/treatments", _text(treatment_body(treatment_type=MARK)),
     ["body", "treatment_type"]),
    ("POST", "/v1/treatments",
     _text(treatment_body(restriction="6h", restriction_reason=MARK)),
     ["body", "restriction_reason"]),
    ("POST", "/v1/treatments/1/cancel", _text({"reason": MARK}), ["body", "reason"]),
    ("POST", "/v1/treatments/1/cancel",
     _text({"notify": False, "not_notified_reason": MARK}), ["body", "not_notified_reason"]),
    ("PATCH", "/v1/treatments/1",
     _text({"restriction": "6h", "restriction_reason": MARK}), ["body", "restriction_reason"]),
    ("POST", "/v1/alerts/1/acknowledge", _text({"by": MARK}), ["body", "by"]),
    ("POST", "/v1/preview", _text({"treatment_type": MARK}), ["body", "treatment_type"]),
    ("POST", "/v1/preview", _text({"treatment_type": "botox", "timezone": MARK}),
     ["body", "timezone"]),
]  # fmt: skip
FIELD_IDS = [f"{method} {path} {'.'.join(loc[1:])}" for method, path, _, loc in STRING_FIELDS]
# Fields of other types, for the non-finite numbers.
OTHER_FIELDS = [
    ("POST", "/v1/treatments", _text(treatment_body(patient={"sms_consent": MARK})),
     ["body", "patient", "sms_consent"]),
    ("POST", "/v1/treatments", _text(treatment_body(performed_at=MARK)),
     ["body", "performed_at"]),
    ("PATCH", "/v1/treatments/1", _text({"performed_at": MARK}), ["body", "performed_at"]),
    ("POST", "/v1/treatments/1/cancel", _text({"dry_run": MARK}), ["body", "dry_run"]),
    ("POST", "/v1/preview", _text({"treatment_type": "botox", "channel": MARK}),
     ["body", "channel"]),
]  # fmt: skip
NUMBER_FIELDS = [
    *[(m, p, t.replace(f'"{MARK}"', MARK), loc) for m, p, t, loc in STRING_FIELDS],
    *[(m, p, t.replace(f'"{MARK}"', MARK), loc) for m, p, t, loc in OTHER_FIELDS],
]
NUMBER_IDS = [f"{method} {path} {'.'.join(loc[1:])}" for method, path, _, loc in NUMBER_FIELDS]


@pytest.fixture
def send(client_a: TestClient, log_a: Callable[..., dict[str, Any]], row_counts: Counts) -> Send:
    """Send raw bytes as a JSON body, expecting 422; returns its first error. Checks that no
    row was written and that the response is valid UTF-8 JSON."""
    assert log_a()["id"] == 1

    def post(method: str, path: str, body: bytes) -> dict[str, Any]:
        before = row_counts()
        response = client_a.request(
            method, path, content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
        response.content.decode("utf-8")  # strict: a lone surrogate would not encode
        assert row_counts() == before
        error: dict[str, Any] = response.json()["detail"][0]
        assert set(error) == {"loc", "msg", "type"}  # no `input`: nothing is echoed
        return error

    return post


@pytest.mark.parametrize(("method", "path", "template", "loc"), NUMBER_FIELDS, ids=NUMBER_IDS)
def test_a_non_finite_number_is_422_naming_the_field(
    send: Send, method: str, path: str, template: str, loc: list[str]
) -> None:
    literals = ["NaN", "Infinity", "-Infinity"]

    errors = [send(method, path, template.replace(MARK, literal).encode()) for literal in literals]

    assert [error["loc"] for error in errors] == [loc] * len(literals)


@pytest.mark.parametrize(("method", "path", "template", "loc"), STRING_FIELDS, ids=FIELD_IDS)
def test_a_lone_surrogate_escape_is_422_naming_the_field(
    send: Send, method: str, path: str, template: str, loc: list[str]
) -> None:
    error = send(method, path, template.replace(MARK, "Jane \\ud800 Doe").encode())

    assert error["loc"] == loc


@pytest.mark.parametrize(("method", "path", "template", "loc"), STRING_FIELDS, ids=FIELD_IDS)
def test_bytes_that_are_not_utf8_are_422_naming_the_field(
    send: Send, method: str, path: str, template: str, loc: list[str]
) -> None:
    # An invalid byte, a truncated sequence, a surrogate encoded as if it were a character.
    raws = [b"Jane \xff Doe", b"Jane \xc3", b"Jane \xed\xa0\x80 Doe"]
    bodies = [template.encode().replace(MARK.encode(), raw) for raw in raws]

    errors = [send(method, path, body) for body in bodies]

    assert [error["loc"] for error in errors] == [loc] * len(raws)


def test_a_lone_surrogate_in_an_unknown_field_name_is_422(send: Send) -> None:
    body = '{"x\\udfff": 1, ' + _text(treatment_body())[1:]

    error = send("POST", "/v1/treatments", body.encode())

    # pydantic cannot name a key it cannot read: the body as a whole is refused.
    assert error["loc"] == ["body"]


def test_a_refused_value_is_not_echoed(send: Send) -> None:
    name = "Zebulon Quartermaine-" + "x" * 120

    error = send("POST", "/v1/treatments", _text(treatment_body(patient={"name": name})).encode())

    assert error["loc"] == ["body", "patient", "name"]
    assert name not in json.dumps(error)


# -- times at the ends of the calendar -------------------------------------------------------

EDGES = ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59",
         "0001-01-01T00:00:00", "9999-12-31T23:59:59-14:00"]  # fmt: skip
TIME_FIELDS = [
    ("POST", "/v1/preview", {"treatment_type": "botox", "performed_at": MARK},
     ["body", "performed_at"]),
    ("POST", "/v1/preview", {"treatment_type": "botox", "logged_at": MARK}, ["body", "logged_at"]),
    ("POST", "/v1/treatments", treatment_body(performed_at=MARK), ["body", "performed_at"]),
    ("PATCH", "/v1/treatments/1", {"performed_at": MARK, "dry_run": True},
     ["body", "performed_at"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "template", "loc"),
    TIME_FIELDS,
    ids=[f"{m} {p} {loc[-1]}" for m, p, _, loc in TIME_FIELDS],
)
def test_a_time_at_the_end_of_the_calendar_is_422_naming_the_field(
    send: Send, method: str, path: str, template: dict[str, Any], loc: list[str]
) -> None:
    bodies = [_text(template).replace(MARK, edge).encode() for edge in EDGES]

    errors = [send(method, path, body) for body in bodies]

    assert [error["loc"] for error in errors] == [loc] * len(EDGES)


def test_sms_consent_at_the_ends_of_the_calendar_is_never_a_500(client_a: TestClient) -> None:
    # Year 1 is in the past, so consent then is accepted (an odd but harmless record).
    bodies = [treatment_body(patient={"sms_consent_at": edge}) for edge in EDGES]

    responses = [client_a.post("/v1/treatments", json=body) for body in bodies]

    assert [r.status_code for r in responses] == [422, 422, 422, 201, 422]
    refused = [r.json()["detail"][0]["loc"] for r in responses if r.status_code == 422]
    assert refused == [["body", "patient", "sms_consent_at"]] * 4


@pytest.mark.parametrize("name", ["performed_from", "performed_to"])
def test_a_query_time_at_the_end_of_the_calendar_is_never_a_500(
    client_a: TestClient, name: str
) -> None:
    responses = [client_a.get("/v1/treatments", params={name: edge}) for edge in EDGES]

    # An aware instant in range is a fine (empty or full) filter; the rest cannot be told.
    assert [r.status_code for r in responses] == [200, 422, 422, 200, 422]
    refused = [r.json()["detail"][0]["loc"] for r in responses if r.status_code == 422]
    assert refused == [["query", name]] * 3


def test_a_preview_within_ten_years_is_planned(client_a: TestClient) -> None:
    response = client_a.post(
        "/v1/preview", json={"treatment_type": "botox", "performed_at": "2035-06-01T12:00:00Z"}
    )

    assert response.status_code == 200
    assert response.json()["treatment_at"] == "2035-06-01T12:00:00Z"


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/v1/preview", {"treatment_type": "botox", "timezone": "America"}, ["body", "timezone"]),
        (
            "/v1/treatments",
            treatment_body(patient={"timezone": "America"}),
            ["body", "patient", "timezone"],
        ),
    ],
    ids=["preview", "treatment"],
)
def test_a_zone_folder_is_not_a_zone(
    send: Send, path: str, body: dict[str, Any], loc: list[str]
) -> None:
    error = send("POST", path, _text(body).encode())

    assert error["loc"] == loc
    assert "unknown time zone" in error["msg"]
