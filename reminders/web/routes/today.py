"""`/` and `/today`: the day's page (for now the clinic's name, and where to go next)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from reminders.web.auth import StaffDep
from reminders.web.pages import render
from reminders.web.routing import web_router

router = web_router()


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/today", status_code=303)


@router.get("/today")
def today(request: Request, staff: StaffDep) -> HTMLResponse:
    return render(request, "today.html", {"title": "Today"})
