"""What a page may load: only the signed-in person's clinic's rows."""

from __future__ import annotations

from reminders.db.models import Treatment
from reminders.web.auth import SignedIn
from reminders.web.context import WebContext


def treatment_for(web: WebContext, staff: SignedIn, treatment_id: int) -> Treatment:
    """The treatment, with its patient and messages, if it is `staff`'s clinic's.

    Another clinic's id raises NotFoundError, exactly as an id that does not exist (a
    web route shows the 404 page): nobody learns which ids other clinics have.
    """
    return web.app.service.treatment(staff.clinic_id, treatment_id)
