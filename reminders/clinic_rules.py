"""What sending reads of a clinic beyond its planning profile: its SMS budget, whether it
emails instead of texting, and test mode. Cached per version of the clinic's row."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from reminders.db.models import Clinic


@dataclass(frozen=True)
class ClinicRules:
    zone: ZoneInfo
    sms_monthly_segments: int | None
    email_fallback: bool
    test_mode: bool
    test_phone: str | None
    test_email: str | None

    @classmethod
    def of(cls, clinic: Clinic) -> ClinicRules:
        return cls(
            ZoneInfo(clinic.timezone),
            clinic.sms_monthly_segments,
            clinic.email_fallback,
            clinic.test_mode,
            clinic.test_phone,
            clinic.test_email,
        )


class ClinicRulesCache:
    """Rules by clinic, kept until the clinic's row changes (its updated_at)."""

    def __init__(self, load: Callable[[int], Clinic]) -> None:
        self._load = load
        self._rules: dict[int, tuple[Hashable, ClinicRules]] = {}
        self._lock = threading.Lock()

    def get(self, clinic_id: int, version: Hashable) -> ClinicRules:
        cached = self._rules.get(clinic_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        rules = ClinicRules.of(self._load(clinic_id))
        with self._lock:
            self._rules[clinic_id] = (version, rules)
        return rules
