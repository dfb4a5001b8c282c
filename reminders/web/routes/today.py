"""`/` and `/today`: the desk's day (who is in their restriction, who was cleared, what goes
next, who needs a call: alerts, failed messages, patients' replies waiting for staff), its
lists refreshed by htmx, and acknowledging an alert."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from reminders.api.routes.treatments import MAX_ID
from reminders.replies import ReplyFilter
from reminders.web.auth import CsrfDep, SignedIn, StaffDep
from reminders.web.context import WebContext, WebDep
from reminders.web.pages import render
from reminders.web.presenters import avoiding_text, problem_text
from reminders.web.reply_cards import inbox_cards
from reminders.web.routing import web_router

router = web_router()
AlertId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/today", status_code=303)


@router.get("/today")
def today(request: Request, web: WebDep, staff: StaffDep) -> HTMLResponse:
    """The day's page; its lists are asked for again every 30 seconds."""
    return render(request, "today.html", {"title": "Today", **_lists(web, staff)})


@router.get("/today/lists")
def today_lists(request: Request, web: WebDep, staff: StaffDep) -> HTMLResponse:
    """The day's lists alone, for the page's refresh."""
    return render(request, "_today_lists.html", {**_lists(web, staff), "refresh": True})


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(web: WebDep, staff: CsrfDep, alert_id: AlertId) -> RedirectResponse:
    """Mark a "needs a call" alert as dealt with, by the person signed in."""
    web.app.service.acknowledge(staff.clinic_id, alert_id, by=staff.display_name)
    return RedirectResponse("/today", status_code=303)


def _lists(web: WebContext, staff: SignedIn) -> dict[str, Any]:
    service = web.app.service
    board = service.today(staff.clinic_id)
    problems = service.delivery_problems(staff.clinic_id, since=board.day_start)
    return {
        "board": board,
        "alerts": service.needs_call(staff.clinic_id),
        "flags": inbox_cards(web.app, staff.clinic_id, ReplyFilter(open=True)),
        "problems": problems,
        "avoiding_text": avoiding_text,
        "problem_text": problem_text,
    }
