"""`/replies`: patients' replies, those waiting for staff on top (emergencies, clinical
flags, requests to stop texts), the list refreshed by htmx; acknowledging a flag, and
confirming or dismissing a request to stop texts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from reminders.api.routes.treatments import MAX_ID
from reminders.replies import ReplyFilter
from reminders.web.auth import CsrfDep, SignedIn, StaffDep, local_path
from reminders.web.context import WebContext, WebDep
from reminders.web.pages import render
from reminders.web.reply_cards import inbox_cards
from reminders.web.routing import web_router

router = web_router()
ReplyId = Annotated[int, Path(ge=1, le=MAX_ID)]
Show = Literal["all", "open"]
# Where a form sends the person back to: the page it was on.
Back = Annotated[str, Form(alias="next", max_length=200)]
SHOWN = {"all": ReplyFilter(), "open": ReplyFilter(open=True)}


@router.get("/replies")
def replies(request: Request, web: WebDep, staff: StaffDep, show: Show = "all") -> HTMLResponse:
    """The inbox; its list is asked for again every 30 seconds."""
    return render(request, "replies.html", {"title": "Replies", **_list(web, staff, show)})


@router.get("/replies/list")
def replies_list(
    request: Request, web: WebDep, staff: StaffDep, show: Show = "all"
) -> HTMLResponse:
    """The inbox's list alone, for the page's refresh."""
    return render(request, "_replies_list.html", {**_list(web, staff, show), "refresh": True})


@router.post("/replies/{reply_id}/acknowledge")
def acknowledge(
    web: WebDep, staff: CsrfDep, reply_id: ReplyId, back: Back = "/replies"
) -> RedirectResponse:
    """Mark a flagged reply as dealt with (or a request to stop texts as dismissed: texts
    go on), by the person signed in; again changes nothing."""
    web.app.replies.acknowledge(staff.clinic_id, reply_id, by=staff.display_name)
    return _back(back)


@router.post("/replies/{reply_id}/confirm-opt-out")
def confirm_opt_out(
    web: WebDep, staff: CsrfDep, reply_id: ReplyId, back: Back = "/replies"
) -> RedirectResponse:
    """The patient asked in words to stop texts: record the opt-out as a STOP keyword
    does, and move the rest of their aftercare off texts."""
    web.app.replies.confirm_opt_out(staff.clinic_id, reply_id, by=staff.display_name)
    return _back(back)


def _list(web: WebContext, staff: SignedIn, show: Show) -> dict[str, Any]:
    return {
        "cards": inbox_cards(web.app, staff.clinic_id, SHOWN[show]),
        "show": show,
        "back": "/replies" if show == "all" else f"/replies?show={show}",
    }


def _back(target: str) -> RedirectResponse:
    return RedirectResponse(local_path(target, default="/replies"), status_code=303)
