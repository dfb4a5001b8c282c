"""A clinic row as settings and as the profile planning reads, cached per version of the row."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

from reminders.db.models import Clinic
from reminders.domain import ChannelKind, ClinicProfile
from reminders.settings import ClinicSettings


def clinic_settings_of(clinic: Clinic) -> ClinicSettings:
    return ClinicSettings(
        slug=clinic.slug,
        name=clinic.name,
        phone=clinic.phone,
        region=clinic.region,
        timezone=clinic.timezone,
        restriction=clinic.restriction,
        quiet_hours=clinic.quiet_hours,
        default_channel=ChannelKind(clinic.default_channel),
        show_patient_name=clinic.show_patient_name,
        show_product_name=clinic.show_product_name,
        time_format="24h" if clinic.time_format == "24h" else "12h",
        sms_from=clinic.sms_from,
        messaging_service_sid=clinic.messaging_service_sid,
        email_fallback=clinic.email_fallback,
        restriction_source=clinic.restriction_source,
        restriction_quote=clinic.restriction_quote,
        on_call_phone=clinic.on_call_phone,
        on_call_email=clinic.on_call_email,
        reply_auto_answer=clinic.reply_auto_answer,
        sms_monthly_segments=clinic.sms_monthly_segments,
        test_mode=clinic.test_mode,
        test_phone=clinic.test_phone,
        test_email=clinic.test_email,
    )


class ClinicProfiles:
    """Profiles by clinic, kept until the clinic's row changes.

    Validating settings and parsing the phone costs more than the rest of
    planning: a profile is built once per version of the row (its updated_at).
    """

    def __init__(self) -> None:
        self._profiles: dict[int, tuple[Hashable, ClinicProfile]] = {}
        self._lock = threading.Lock()

    def of(self, clinic: Clinic) -> ClinicProfile:
        return self.get(clinic.id, clinic.updated_at, lambda: clinic)

    def get(self, clinic_id: int, version: Hashable, load: Callable[[], Clinic]) -> ClinicProfile:
        """The profile of this version of the clinic (its updated_at, as any value that
        changes with it); `load` reads the row if it is not cached."""
        cached = self._profiles.get(clinic_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        profile = clinic_settings_of(load()).profile()
        with self._lock:
            self._profiles[clinic_id] = (version, profile)
        return profile
