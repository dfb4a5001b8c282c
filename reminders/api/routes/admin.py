"""The admin API: the operator's, with an admin key (`reminders apikey create --admin`).

It lists, shows, changes, disables and enables clinics, and reads each clinic's record of
changes; a clinic's key is refused here (403), and an admin key acts for no clinic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from reminders import clinic_views
from reminders.actors import admin_key_actor
from reminders.api import schemas
from reminders.api.deps import AdminDep, ContextDep
from reminders.api.errors import refused
from reminders.api.routes.treatments import BODY_ERRORS, ERRORS
from reminders.clinic_admin import REPLANNING_NOTE, replans_nothing
from reminders.domain import ChannelKind
from reminders.errors import InputError

router = APIRouter(prefix="/v1/admin/clinics", tags=["admin"])
Slug = Annotated[str, Path(min_length=1, max_length=40, description="The clinic's slug.")]
ADMIN_ERRORS: dict[int | str, dict[str, object]] = {
    **ERRORS,
    403: {"model": schemas.MessageOut, "description": "Not an admin key"},
    404: {"model": schemas.MessageOut, "description": "No such clinic"},
}
CHANGE_ERRORS = {**BODY_ERRORS, **ADMIN_ERRORS}
CONFLICT: dict[int | str, dict[str, object]] = {
    409: {"model": schemas.MessageOut, "description": "Not possible in this state"}
}


class ClinicAdminPublic(BaseModel):
    """Every setting of a clinic, its status, and its live API keys and staff counted."""

    id: int
    slug: str
    name: str
    phone: str
    region: str
    timezone: str
    restriction: str
    quiet_hours: str | None
    default_channel: str
    show_patient_name: bool
    show_product_name: bool
    time_format: str
    sms_from: str | None
    messaging_service_sid: str | None
    email_fallback: bool
    restriction_source: str | None
    restriction_quote: str | None
    on_call_phone: str | None
    on_call_email: str | None
    reply_auto_answer: str | None
    sms_monthly_segments: int | None
    test_mode: bool
    test_phone: str | None
    test_email: str | None
    status: str = Field(description="active or disabled")
    disabled_at: datetime | None
    disabled_reason: str | None
    api_keys: int = Field(description="Live (unrevoked) API keys")
    staff: int = Field(description="Staff accounts not disabled")
    created_at: datetime
    updated_at: datetime


class ClinicAdminPage(BaseModel):
    items: list[ClinicAdminPublic]


class ClinicPatch(BaseModel):
    """The settings to change; any left out stay as they are, null clears an optional one.
    Checked as a clinic's settings are when it is added."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    phone: str | None = None
    region: str | None = None
    timezone: str | None = None
    restriction: str | None = None
    quiet_hours: str | None = None
    default_channel: ChannelKind | None = None
    show_patient_name: bool | None = None
    show_product_name: bool | None = None
    time_format: str | None = None
    sms_from: str | None = None
    messaging_service_sid: str | None = None
    email_fallback: bool | None = None
    restriction_source: str | None = None
    restriction_quote: str | None = None
    on_call_phone: str | None = None
    on_call_email: str | None = None
    reply_auto_answer: str | None = None
    sms_monthly_segments: int | None = Field(default=None, ge=1)
    test_mode: bool | None = None
    test_phone: str | None = None
    test_email: str | None = None


class ChangeOut(BaseModel):
    field: str
    old: str | None
    new: str | None


class ClinicChanged(BaseModel):
    clinic: ClinicAdminPublic
    changes: list[ChangeOut]
    dry_run: bool = False
    note: str | None = Field(None, description="What the change does not do to existing plans")


class DisableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200)
    cancel_pending: bool = Field(
        False,
        description="Also cancel its messages not yet sent (by default they still go: "
        "patients were promised their aftercare)",
    )


class ClinicDisabled(BaseModel):
    clinic: ClinicAdminPublic
    cancelled: int = Field(description="Messages cancelled (with cancel_pending)")


class ChangeRecord(BaseModel):
    changed_at: datetime
    changed_by: str
    field: str
    old_value: str | None
    new_value: str | None


class ChangePage(BaseModel):
    items: list[ChangeRecord]


@router.get("", response_model=ClinicAdminPage, responses=ADMIN_ERRORS)
def list_clinics(ctx: ContextDep, _admin: AdminDep) -> Any:
    """Every clinic of the deployment, with its settings and status."""
    return clinic_views.clinics_document(ctx.app.clinic_admin.summaries())


@router.get("/{slug}", response_model=ClinicAdminPublic, responses=ADMIN_ERRORS)
def show_clinic(ctx: ContextDep, _admin: AdminDep, slug: Slug) -> Any:
    """One clinic: every setting, its status, its API keys and staff counted."""
    return _document(ctx, slug)


@router.patch("/{slug}", response_model=ClinicChanged, responses={**CHANGE_ERRORS, **CONFLICT})
def update_clinic(
    ctx: ContextDep,
    admin: AdminDep,
    slug: Slug,
    patch: ClinicPatch,
    dry_run: Annotated[bool, Query(description="Say what would change; change nothing")] = False,
) -> Any:
    """Change some of a clinic's settings; each change is recorded as made by this admin
    key. A refused value is a 422 naming its field, and nothing is changed. Treatments
    already logged keep their planned messages. The clinic of the deployment's settings
    file cannot be changed here (409): the file is applied at every start."""
    values = patch.model_dump(exclude_unset=True)
    try:
        changes = ctx.app.clinic_admin.update(
            slug, values, by=admin_key_actor(admin.key_label), dry_run=dry_run
        )
    except InputError as exc:
        return _refused(exc)
    return {
        "clinic": _document(ctx, slug),
        "changes": clinic_views.planned_document(changes)["changes"],
        "dry_run": dry_run,
        "note": None if replans_nothing(changes) else REPLANNING_NOTE,
    }


@router.post(
    "/{slug}/disable", response_model=ClinicDisabled, responses={**CHANGE_ERRORS, **CONFLICT}
)
def disable_clinic(ctx: ContextDep, admin: AdminDep, slug: Slug, body: DisableIn) -> Any:
    """Stop the clinic logging treatments and refuse its API keys. Messages already
    planned for its patients still go, unless `cancel_pending`."""
    try:
        disabled = ctx.app.clinic_admin.disable(
            slug,
            reason=body.reason,
            by=admin_key_actor(admin.key_label),
            cancel_pending=body.cancel_pending,
        )
    except InputError as exc:
        return _refused(exc)
    return {"clinic": _document(ctx, slug), "cancelled": len(disabled.cancelled)}


@router.post(
    "/{slug}/enable", response_model=ClinicAdminPublic, responses={**ADMIN_ERRORS, **CONFLICT}
)
def enable_clinic(ctx: ContextDep, admin: AdminDep, slug: Slug) -> Any:
    """Let a disabled clinic log treatments and use its API keys again."""
    ctx.app.clinic_admin.enable(slug, by=admin_key_actor(admin.key_label))
    return _document(ctx, slug)


@router.get("/{slug}/changes", response_model=ChangePage, responses=ADMIN_ERRORS)
def clinic_changes(ctx: ContextDep, _admin: AdminDep, slug: Slug) -> Any:
    """Every change to the clinic, oldest first: when, by whom, which field, from what to
    what (`cli:<user>`, `admin-key:<label>`, or `config:<file>` for the settings file)."""
    return clinic_views.changes_document(ctx.app.clinic_admin.history(slug))


def _document(ctx: ContextDep, slug: str) -> dict[str, Any]:
    return clinic_views.clinic_document(ctx.app.clinic_admin.summary(slug))


def _refused(exc: InputError) -> JSONResponse:
    # The admin body's fields are top-level: not where the treatments' map puts them.
    return refused([{"loc": ("body", exc.field), "msg": exc.message, "type": "value_error"}])
