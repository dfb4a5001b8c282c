"""The pages' form reading and display values, as plain tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reminders.errors import InputError
from reminders.web.forms import TREATMENT_LABELS, TreatmentForm, field_errors
from reminders.web.presenters import avoiding_text, masked_email, masked_phone

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 27, 19, 0, 30, tzinfo=UTC)  # 14:00:30 EST


@pytest.mark.parametrize(
    ("typed", "performed_at"),
    [
        ("2026-11-27T14:00", None),  # the minute the form showed: now, to the second
        ("2026-11-27T13:59", datetime(2026, 11, 27, 18, 59, tzinfo=UTC)),
        ("2026-11-27T14:01", datetime(2026, 11, 27, 19, 1, tzinfo=UTC)),
        ("", None),
    ],
)
def test_the_performed_time_is_the_clinics_wall_time(
    typed: str, performed_at: datetime | None
) -> None:
    form = TreatmentForm(name="Jane Doe", performed_at=typed)
    assert form.to_input(NEW_YORK, NOW).performed_at == performed_at


def test_ticking_consent_gives_it_now() -> None:
    ticked = TreatmentForm.read({"sms_consent": "yes", "name": "Jane"})
    assert ticked.to_input(NEW_YORK, NOW).patient.sms_consent_at == NOW
    unticked = TreatmentForm.read({"name": "Jane"})
    assert unticked.to_input(NEW_YORK, NOW).patient.sms_consent_at is None


def test_a_field_longer_than_anyone_types_is_refused_by_name() -> None:
    with pytest.raises(InputError) as refused:
        TreatmentForm.read({"name": "x" * 2001})
    assert refused.value.field == "name"


@pytest.mark.parametrize(
    ("field", "message", "shown"),
    [
        ("name", "is required", {"name": "Patient's name is required"}),
        (
            "at",
            "is more than a year in the future",
            {"performed_at": "Performed at is more than a year in the future"},
        ),
        (
            "treatment",
            "unknown treatment type 'x'",
            {"treatment_type": "Treatment: unknown treatment type 'x'"},
        ),
        (
            "patient.sms_consent_at",
            "is in the future",
            {"sms_consent": "Consent to texts is in the future"},
        ),
        ("elsewhere", "went wrong", {"form": "elsewhere: went wrong"}),
    ],
)
def test_an_error_is_shown_at_its_input(field: str, message: str, shown: dict[str, str]) -> None:
    assert field_errors(InputError(field, message), TREATMENT_LABELS) == shown


@pytest.mark.parametrize(
    ("phone", "masked"), [("+12125550199", "+1 ••• 0199"), ("+4412", "•••"), (None, "")]
)
def test_a_phone_shows_its_country_and_last_four_digits(phone: str | None, masked: str) -> None:
    assert masked_phone(phone) == masked


def test_an_email_shows_its_first_letter_and_domain() -> None:
    assert masked_email("jane@example.org") == "j•••@example.org"


def test_what_is_avoided_is_grouped_by_when_it_ends() -> None:
    four, six = NOW + timedelta(hours=4), NOW + timedelta(hours=6)
    avoiding = [("lying flat", four), ("exercise", six), ("bending over", four)]
    assert avoiding_text(avoiding, NEW_YORK) == [
        "lying flat, bending over until 2026-11-27 18:00 EST",
        "exercise until 2026-11-27 20:00 EST",
    ]
