"""HTTP API tests, and the helpers they share (fixtures are in conftest.py)."""

from __future__ import annotations

import warnings
from typing import Any

from starlette.exceptions import StarletteDeprecationWarning

# Starlette warns at import when its test client runs on `httpx` rather than
# `httpx2`, and the dev dependencies install `httpx`. The warning concerns the
# client library, not this project: it is silenced for this one import only.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

__all__ = ["TestClient", "as_read_back", "bearer", "treatment_body"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def treatment_body(**overrides: Any) -> dict[str, Any]:
    """A valid POST /v1/treatments body.

    `patient=` entries merge into the patient; a value of None drops the field.
    """
    patient: dict[str, Any] = {"name": "Jane Doe", "phone": "+12125550199", "sms_consent": True}
    patient.update(overrides.pop("patient", {}))
    body: dict[str, Any] = {
        "patient": {key: value for key, value in patient.items() if value is not None},
        "treatment_type": "botox",
        "performed_at": "2026-11-27T14:00:00-05:00",  # the pinned clock's instant
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def as_read_back(logged: dict[str, Any]) -> dict[str, Any]:
    """A POST /v1/treatments answer as GET reads the treatment back: without what only the
    POST carries (how the first message was doing then)."""
    assert "first_message" in logged
    return {key: value for key, value in logged.items() if key != "first_message"}
