"""`/metrics`: the Prometheus text format, for the operator's scraper.

Off the public docs. Without `api.metrics_token` it answers anyone who reaches the
API, like `/healthz`: keep it off the proxy that publishes the API, or set a token
and give the scraper `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from reminders.api.deps import ContextDep
from reminders.metrics import scrape_registry

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics(request: Request, ctx: ContextDep) -> Response:
    token = ctx.app.settings.api.metrics_token
    if token and not _bearer_matches(request.headers.get("authorization"), token):
        return Response("metrics token required\n", status_code=401, media_type="text/plain")
    registry = scrape_registry(ctx.app.sessions, ctx.app.clock)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _bearer_matches(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())
