"""`/treatments/{id}`: a treatment's timeline, its first text's delivery (polled live), and
moving the texts to email when a text did not arrive."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from reminders.api.routes.treatments import TreatmentId
from reminders.errors import InputError
from reminders.web.auth import CsrfDep, SignedIn, StaffDep
from reminders.web.context import WebContext, WebDep
from reminders.web.pages import render
from reminders.web.presenters import delivery_text, masked_email, masked_phone, stage_label
from reminders.web.routing import web_router

router = web_router()

# What the desk says when it moves a patient's texts to email from the page.
EMAIL_INSTEAD_WHY = "the first text did not arrive"
SAVED = {
    "corrected": "The correction is saved.",
    "cancelled": "The treatment is cancelled.",
    "emailed": "The texts will go by email instead.",
}


@router.get("/treatments/{treatment_id}")
def timeline(
    request: Request, web: WebDep, staff: StaffDep, treatment_id: TreatmentId, saved: str = ""
) -> HTMLResponse:
    """The treatment: who, when, its restriction and status, and each message's history."""
    return render(request, "treatment.html", _page(web, staff, treatment_id, saved=saved))


@router.get("/treatments/{treatment_id}/first-message")
def first_message(
    request: Request, web: WebDep, staff: StaffDep, treatment_id: TreatmentId
) -> HTMLResponse:
    """The first message's stage, polled each second until it is the last word."""
    return render(request, "_first_message.html", _first(web, staff, treatment_id))


@router.post("/treatments/{treatment_id}/email-instead")
def email_instead(
    request: Request,
    web: WebDep,
    staff: CsrfDep,
    treatment_id: TreatmentId,
    email_instead: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Stop texting the patient: their texts go by email from now (to `email` if given)."""
    try:
        web.app.desk.email_instead(
            staff.clinic_id,
            treatment_id,
            email=email_instead.strip() or None,
            why=EMAIL_INSTEAD_WHY,
            field="email_instead",
        )
    except InputError as exc:
        values = {**_page(web, staff, treatment_id), "email_error": exc.message}
        return render(request, "treatment.html", values, status_code=422)
    return RedirectResponse(f"/treatments/{treatment_id}?saved=emailed", status_code=303)


def _page(
    web: WebContext, staff: SignedIn, treatment_id: int, *, saved: str = ""
) -> dict[str, object]:
    treatment = web.app.service.treatment(staff.clinic_id, treatment_id)
    policy = web.app.policies.get(treatment.treatment_type)
    patient = treatment.patient
    return {
        "title": f"{patient.name}: {treatment.treatment_type}",
        "treatment": treatment,
        "treatment_title": policy.title if policy else treatment.treatment_type,
        "contact": [c for c in (masked_phone(patient.phone), masked_email(patient.email)) if c],
        "delivery_text": delivery_text,
        "saved": SAVED.get(saved),
        **_first(web, staff, treatment_id),
    }


def _first(web: WebContext, staff: SignedIn, treatment_id: int) -> dict[str, object]:
    first = web.app.desk.first_message(staff.clinic_id, treatment_id)
    return {
        "treatment_id": treatment_id,
        "first": first,
        "stage": stage_label(first) if first else "",
        "has_email": bool(web.app.desk.patient_email(staff.clinic_id, treatment_id)),
        "email_error": None,
    }
