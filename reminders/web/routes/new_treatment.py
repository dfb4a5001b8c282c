"""`/treatments/new`: log a treatment, with a live preview of its messages before saving."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from reminders.actors import web_actor
from reminders.drafts import preview_draft
from reminders.errors import InputError
from reminders.web.auth import CsrfDep, SignedIn, StaffDep
from reminders.web.context import WebContext, WebDep
from reminders.web.forms import TREATMENT_LABELS, TreatmentForm, field_errors, local_input
from reminders.web.pages import render
from reminders.web.routing import web_router

router = web_router()


async def _posted(request: Request) -> TreatmentForm | InputError:
    try:
        return TreatmentForm.read(await request.form())
    except InputError as exc:
        return exc


PostedDep = Annotated[TreatmentForm | InputError, Depends(_posted)]


@router.get("/treatments/new")
def new_treatment(request: Request, web: WebDep, staff: StaffDep) -> HTMLResponse:
    """The empty form: the treatment performed now, the clinic's default channel."""
    form = TreatmentForm(
        performed_at=local_input(web.app.clock.now(), staff.zone),
        treatment_type=web.app.policies.treatments[0] if web.app.policies.treatments else "",
    )
    return _page(request, web, form)


@router.post("/treatments/preview")
def preview(request: Request, web: WebDep, staff: CsrfDep, posted: PostedDep) -> HTMLResponse:
    """The messages the form would plan, or what must change first. Stores nothing."""
    values: dict[str, Any] = {"plan": None, "errors": {}, "labels": TREATMENT_LABELS}
    try:
        if isinstance(posted, InputError):
            raise posted
        draft = posted.to_input(staff.zone, web.app.clock.now())
        values["plan"] = preview_draft(web.app.service, staff.clinic_id, draft)
    except InputError as exc:
        values["errors"] = field_errors(exc, TREATMENT_LABELS)
    return render(request, "_preview.html", values)


@router.post("/treatments/new")
def log_treatment(request: Request, web: WebDep, staff: CsrfDep, posted: PostedDep) -> Response:
    """Log the treatment and go to its page; on a problem, the form again with it shown at
    its field, and nothing stored."""
    form = posted if isinstance(posted, TreatmentForm) else TreatmentForm()
    try:
        if isinstance(posted, InputError):
            raise posted
        draft = form.to_input(staff.zone, web.app.clock.now())
        draft = replace(draft, logged_by=web_actor(staff.username))
        treatment = web.app.service.log_treatment(staff.clinic_id, draft)
    except InputError as exc:
        return _page(request, web, form, errors=field_errors(exc, TREATMENT_LABELS))
    return RedirectResponse(f"/treatments/{treatment.id}", status_code=303)


def _page(
    request: Request, web: WebContext, form: TreatmentForm, *, errors: dict[str, str] | None = None
) -> HTMLResponse:
    policies = web.app.policies.policies
    return render(
        request,
        "treatment_new.html",
        {
            "title": "Log a treatment",
            "form": form,
            "errors": errors or {},
            "treatment_types": [(name, policies[name].title) for name in sorted(policies)],
            "clinic_restriction": _clinic_restriction(web, request),
        },
        status_code=422 if errors else 200,
    )


def _clinic_restriction(web: WebContext, request: Request) -> str:
    staff: SignedIn = request.state.signed_in
    return web.app.service.clinic(staff.clinic_id).restriction
