"""Correcting a treatment's time or restriction, and cancelling it.

Each is two posts: the first is a dry run, shown as a confirmation page with what the
patient will be told; the second, from that page, carries the same values and does it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from reminders.api.routes.treatments import TreatmentId
from reminders.db.models import Treatment
from reminders.domain import MessageState, TreatmentStatus
from reminders.errors import ConflictError, InputError
from reminders.service import CancelResult, CorrectionResult
from reminders.web.auth import CsrfDep, SignedIn, StaffDep
from reminders.web.context import WebContext, WebDep
from reminders.web.forms import (
    CANCEL_LABELS,
    CORRECTION_LABELS,
    CancelForm,
    CorrectionForm,
    field_errors,
    local_input,
)
from reminders.web.pages import render
from reminders.web.routing import web_router

router = web_router()
CANCELLED = "the treatment is cancelled; log a new treatment instead"


async def _correction(request: Request) -> CorrectionForm:
    return CorrectionForm.read(await request.form())


async def _cancellation(request: Request) -> CancelForm:
    return CancelForm.read(await request.form())


CorrectionDep = Annotated[CorrectionForm, Depends(_correction)]
CancelDep = Annotated[CancelForm, Depends(_cancellation)]


# -- correct -------------------------------------------------------------------------


@router.get("/treatments/{treatment_id}/correct")
def correct_form(
    request: Request, web: WebDep, staff: StaffDep, treatment_id: TreatmentId
) -> HTMLResponse:
    treatment = _active(web, staff, treatment_id)
    form = CorrectionForm(performed_at=local_input(treatment.performed_at, staff.zone))
    return _correct_page(request, treatment, form)


@router.post("/treatments/{treatment_id}/correct")
def check_correction(
    request: Request, web: WebDep, staff: CsrfDep, treatment_id: TreatmentId, form: CorrectionDep
) -> HTMLResponse:
    """The dry run: the corrected times and what the patient will be told, to confirm."""
    treatment = _active(web, staff, treatment_id)
    try:
        result = _correct(web, staff, treatment, form, dry_run=True)
    except InputError as exc:
        return _correct_page(request, treatment, form, field_errors(exc, CORRECTION_LABELS))
    values = {"title": "Confirm the correction", "treatment": treatment, "form": form}
    return render(request, "correct_confirm.html", {**values, "result": result})


@router.post("/treatments/{treatment_id}/correct/confirm")
def confirm_correction(
    request: Request, web: WebDep, staff: CsrfDep, treatment_id: TreatmentId, form: CorrectionDep
) -> Response:
    treatment = _active(web, staff, treatment_id)
    try:
        _correct(web, staff, treatment, form, dry_run=False)
    except InputError as exc:
        return _correct_page(request, treatment, form, field_errors(exc, CORRECTION_LABELS))
    return RedirectResponse(f"/treatments/{treatment_id}?saved=corrected", status_code=303)


def _correct(
    web: WebContext, staff: SignedIn, treatment: Treatment, form: CorrectionForm, *, dry_run: bool
) -> CorrectionResult:
    performed_at = form.performed(staff.zone, treatment.performed_at)
    restriction = form.length()
    if performed_at is None and restriction is None:
        raise InputError("at", "is unchanged: change the time or give a restriction length")
    return web.app.service.correct(
        staff.clinic_id,
        treatment.id,
        performed_at=performed_at,
        restriction=restriction,
        restriction_reason=form.restriction_reason.strip() or None,
        notify=form.notify != "no",
        not_notified_reason=form.not_notified_reason,
        dry_run=dry_run,
    )


def _correct_page(
    request: Request,
    treatment: Treatment,
    form: CorrectionForm,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    values = {"title": "Correct a treatment", "treatment": treatment, "form": form}
    return render(
        request,
        "correct.html",
        {**values, "errors": errors or {}},
        status_code=422 if errors else 200,
    )


# -- cancel --------------------------------------------------------------------------


@router.get("/treatments/{treatment_id}/cancel")
def cancel_form(
    request: Request, web: WebDep, staff: StaffDep, treatment_id: TreatmentId
) -> HTMLResponse:
    return _cancel_page(request, _active(web, staff, treatment_id), CancelForm())


@router.post("/treatments/{treatment_id}/cancel")
def check_cancel(
    request: Request, web: WebDep, staff: CsrfDep, treatment_id: TreatmentId, form: CancelDep
) -> HTMLResponse:
    """The dry run: the messages that will not go, and what the patient will be told."""
    treatment = _active(web, staff, treatment_id)
    try:
        result = _cancel(web, staff, treatment_id, form, dry_run=True)
    except InputError as exc:
        return _cancel_page(request, treatment, form, field_errors(exc, CANCEL_LABELS))
    pending = [m for m in treatment.messages if m.state == MessageState.PENDING.value]
    values: dict[str, Any] = {"title": "Confirm the cancellation", "treatment": treatment}
    return render(
        request,
        "cancel_confirm.html",
        {**values, "form": form, "result": result, "pending": pending},
    )


@router.post("/treatments/{treatment_id}/cancel/confirm")
def confirm_cancel(
    request: Request, web: WebDep, staff: CsrfDep, treatment_id: TreatmentId, form: CancelDep
) -> Response:
    treatment = web.app.service.treatment(staff.clinic_id, treatment_id)
    try:
        _cancel(web, staff, treatment_id, form, dry_run=False)
    except InputError as exc:
        return _cancel_page(request, treatment, form, field_errors(exc, CANCEL_LABELS))
    return RedirectResponse(f"/treatments/{treatment_id}?saved=cancelled", status_code=303)


def _cancel(
    web: WebContext, staff: SignedIn, treatment_id: int, form: CancelForm, *, dry_run: bool
) -> CancelResult:
    return web.app.service.cancel(
        staff.clinic_id,
        treatment_id,
        reason=form.reason,
        error=form.error,
        notify=form.notify != "no",
        not_notified_reason=form.not_notified_reason,
        dry_run=dry_run,
    )


def _cancel_page(
    request: Request, treatment: Treatment, form: CancelForm, errors: dict[str, str] | None = None
) -> HTMLResponse:
    values = {"title": "Cancel a treatment", "treatment": treatment, "form": form}
    return render(
        request,
        "cancel.html",
        {**values, "errors": errors or {}},
        status_code=422 if errors else 200,
    )


def _active(web: WebContext, staff: SignedIn, treatment_id: int) -> Treatment:
    """The clinic's treatment (another clinic's is not found), still active."""
    treatment = web.app.service.treatment(staff.clinic_id, treatment_id)
    if treatment.status != TreatmentStatus.ACTIVE.value:
        raise ConflictError(CANCELLED)
    return treatment
