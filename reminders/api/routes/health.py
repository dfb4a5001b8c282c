"""Liveness and readiness, for load balancers and orchestrators. No authentication."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from reminders.api import schemas
from reminders.api.deps import ContextDep
from reminders.db import revisions

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=schemas.Health)
def healthz() -> schemas.Health:
    """The process is up."""
    return schemas.Health(status="ok")


@router.get(
    "/readyz",
    response_model=schemas.Health,
    responses={503: {"model": schemas.Health, "description": "Not ready"}},
)
def readyz(ctx: ContextDep) -> schemas.Health | JSONResponse:
    """The database answers and its schema is at the newest migration."""
    engine = ctx.app.engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = revisions.is_current(engine)
    except SQLAlchemyError:
        return JSONResponse({"status": "database unreachable"}, status_code=503)
    if not current:
        return JSONResponse({"status": "database schema is not current"}, status_code=503)
    return schemas.Health(status="ready")
