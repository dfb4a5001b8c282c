"""Who logged a treatment, as recorded on it (`treatments.logged_by`) and shown in the audit;
who changed a clinic's settings (`clinic_changes.changed_by`).

One function per way in, so every writer spells its actor alike. Rows logged before
the column existed have none: the audit shows them as "unknown".
"""

from __future__ import annotations

import getpass

LONGEST = 120  # as stored
UNKNOWN = "unknown"


def cli_actor() -> str:
    """`cli:<os user>`: the command line (`log`, `import`), as the operating system names
    whoever runs it."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        user = UNKNOWN
    return _bounded(f"cli:{user}")


def api_key_actor(label: str) -> str:
    """`apikey:<label>`: a request made with a clinic's API key."""
    return _bounded(f"apikey:{label}")


def web_actor(username: str) -> str:
    """`web:<staff user>`: for the web pages, once staff sign in to them; a treatment
    logged there passes this as `TreatmentInput.logged_by`."""
    return _bounded(f"web:{username}")


def admin_key_actor(label: str) -> str:
    """`admin-key:<label>`: a request made with the operator's admin key."""
    return _bounded(f"admin-key:{label}")


def config_actor(file: str) -> str:
    """`config:<file>`: the clinic's settings file, applied at start-up."""
    return _bounded(f"config:{file}")


def shown(logged_by: str | None) -> str:
    return logged_by or UNKNOWN


def _bounded(text: str) -> str:
    return text[:LONGEST]
