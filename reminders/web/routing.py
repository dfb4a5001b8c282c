"""`WebRoute`, and the router every web page is added to."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from reminders.web.errors import error_response
from reminders.web.pages import with_page_headers


class WebRoute(APIRoute):
    """A page's route: its errors become pages (never the API's JSON), and every answer
    carries the security headers and `Cache-Control: no-store`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as exc:
                response = error_response(request, exc)
            return with_page_headers(response)

        return page


def web_router() -> APIRouter:
    """A router for pages: out of the OpenAPI schema, which documents the API alone."""
    return APIRouter(route_class=WebRoute, include_in_schema=False)
