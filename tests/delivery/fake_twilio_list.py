"""Messages list (GET .../Messages.json) for the fake Twilio: its query and its page.

Read from Twilio's OpenAPI description: the operation's query parameters (To,
From, DateSent, DateSent<, DateSent>, PageSize, Page, PageToken), each checked
against its schema (PageSize 1..1000, Page from 0), and the 200 body,
`ListMessageResponse`. A parameter the document does not list is refused, as
the create refuses a stray field.

What the document gives only in prose, as Twilio documents it:
- DateSent filters compare `date_sent`, in GMT: a date (`YYYY-MM-DD`) matches
  the whole day, a date and time (what the `twilio` SDK sends,
  `YYYY-MM-DDTHH:MM:SSZ`) that instant; `DateSent<` is on or before, `DateSent>`
  on or after. A message not sent yet (queued, accepted) has no `date_sent`, so
  no DateSent filter matches it.
- Newest first. Pages are `PageSize` long (50 by default); a page's
  `next_page_uri` carries a `PageToken` naming where the next page starts.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

import jsonschema

from tests.delivery import fake_twilio as fake

DEFAULT_PAGE_SIZE = 50
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TOKEN = re.compile(r"^PA(\d{1,9})$")
_FILTERS = ("To", "From", "DateSent", "DateSent<", "DateSent>")


class ListRefused(Exception):
    """A query Twilio would refuse: 400 with code 20001."""


def list_operation() -> dict[str, Any]:
    return fake.openapi()["paths"][fake.MESSAGES_PATH]["get"]  # type: ignore[no-any-return]


def list_response_validator() -> jsonschema.protocols.Validator:
    """Validates a Messages list 200 body against the document's schema for it."""
    schema = list_operation()["responses"]["200"]["content"]["application/json"]["schema"]
    return fake.validator_for(fake._json_schema(schema), relative_uris=True)


@functools.cache
def _parameter_schemas() -> dict[str, dict[str, Any]]:
    return {
        p["name"]: fake._json_schema(p["schema"])
        for p in list_operation()["parameters"]
        if p["in"] == "query"
    }


@dataclass(frozen=True)
class Query:
    filters: dict[str, str]  # as given, for the page URIs
    page_size: int
    page: int
    offset: int


def parse_query(query: dict[str, list[str]]) -> Query:
    """The list request's query, checked against the document; ListRefused if wrong."""
    schemas = _parameter_schemas()
    values: dict[str, str] = {}
    for name, given in query.items():
        if name not in schemas:
            raise ListRefused(f"Invalid parameter {name}")
        if len(given) != 1:
            raise ListRefused(f"Invalid parameter {name}: given more than once")
        values[name] = given[0]
    numbers = {name: _integer(values, name) for name in ("PageSize", "Page")}
    for name, number in numbers.items():
        if number is not None and not schemas[name].get("minimum", 0) <= number <= schemas[
            name
        ].get("maximum", number):
            raise ListRefused(f"Invalid parameter {name}: {number} out of range")
    for name in ("DateSent", "DateSent<", "DateSent>"):
        if name in values:
            _when(values[name])
    size = numbers["PageSize"] or DEFAULT_PAGE_SIZE
    page = numbers["Page"] or 0
    offset = _offset(values.get("PageToken"), page * size)
    filters = {name: values[name] for name in _FILTERS if name in values}
    return Query(filters, size, page, offset)


def _integer(values: dict[str, str], name: str) -> int | None:
    value = values.get(name)
    if value is None:
        return None
    if not re.fullmatch(r"-?\d+", value):
        raise ListRefused(f"Invalid parameter {name}: not an integer")
    return int(value)


def _offset(token: str | None, default: int) -> int:
    if token is None:
        return default
    match = _TOKEN.match(token)
    if match is None:
        raise ListRefused("Invalid parameter PageToken")
    return int(match[1])


def _when(value: str) -> date | datetime:
    """A DateSent value: a GMT day, or an instant."""
    try:
        if _DAY.match(value):
            return date.fromisoformat(value)
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ListRefused("Invalid date value") from exc
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def matches(resource: dict[str, Any], sent_at: datetime | None, filters: dict[str, str]) -> bool:
    """Whether a stored message passes the query's filters."""
    if "To" in filters and resource["to"] != filters["To"]:
        return False
    if "From" in filters and resource["from"] != filters["From"]:
        return False
    compare = {"DateSent": "==", "DateSent<": "<=", "DateSent>": ">="}
    for name, operator in compare.items():
        if name in filters and not _date_matches(sent_at, _when(filters[name]), operator):
            return False
    return True


def _date_matches(sent_at: datetime | None, bound: date | datetime, operator: str) -> bool:
    if sent_at is None:
        return False  # not sent yet: no date_sent to compare
    if isinstance(bound, datetime):
        left: date | datetime = sent_at.replace(microsecond=0)
    else:
        left = sent_at.astimezone(UTC).date()
    if operator == "==":
        return left == bound
    return left <= bound if operator == "<=" else left >= bound  # type: ignore[operator]


def page_body(
    account_sid: str, query: Query, newest_first: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """`ListMessageResponse` for one page of the matching messages, newest first."""
    chosen = list(newest_first[query.offset : query.offset + query.page_size])
    path = fake.MESSAGES_PATH.replace("{AccountSid}", account_sid)

    def uri(page: int, offset: int | None) -> str:
        params = {**query.filters, "PageSize": str(query.page_size), "Page": str(page)}
        if offset is not None:
            params["PageToken"] = f"PA{offset}"
        return f"{path}?{urlencode(params)}"

    more = query.offset + query.page_size < len(newest_first)
    earlier = query.offset > 0
    previous = max(query.offset - query.page_size, 0)
    return {
        "messages": chosen,
        "end": query.offset + max(len(chosen) - 1, 0),
        "first_page_uri": uri(0, None),
        "next_page_uri": uri(query.page + 1, query.offset + query.page_size) if more else None,
        "page": query.page,
        "page_size": query.page_size,
        "previous_page_uri": uri(max(query.page - 1, 0), previous) if earlier else None,
        "start": query.offset,
        "uri": uri(query.page, query.offset if query.offset else None),
    }
