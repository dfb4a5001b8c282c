"""Test mode: a clinic tries its policies on real providers without reaching patients.

Every text goes to the clinic's `test_phone` and every email to its `test_email`,
decided where the message leaves (the channel's `Outgoing`), so planning, send-time
decisions and the texts themselves are exactly what patients would get. Each message's
`sent` event says where it went instead.
"""

from __future__ import annotations

import dataclasses

from reminders.channels.base import Outgoing
from reminders.clinic_rules import ClinicRules
from reminders.domain import ChannelKind
from reminders.errors import ChannelError
from reminders.settings import ClinicSettings


def redirect(rules: ClinicRules, outgoing: Outgoing) -> tuple[Outgoing, str | None]:
    """The message as it leaves, and what its history should say (None: not redirected)."""
    if not rules.test_mode:
        return outgoing, None
    sms = outgoing.kind is ChannelKind.SMS
    to = rules.test_phone if sms else rules.test_email
    if to is None:
        # A channel the settings check did not require (a patient who prefers email at a
        # clinic that only texts): never the patient's own contact in test mode.
        field = "test_phone" if sms else "test_email"
        raise ChannelError(f"test mode is on and the clinic has no {field}", permanent=True)
    where = "the clinic's test number" if sms else "the clinic's test address"
    return dataclasses.replace(outgoing, to=to), f"test mode: sent to {where}, not the patient"


def problems(settings: ClinicSettings) -> list[tuple[str, str]]:
    """Test mode on without a destination for a channel the clinic uses, as (setting,
    message): texts when it texts by default, email when it emails by default or instead
    of texts that cannot go (email_fallback)."""
    if not settings.test_mode:
        return []
    found = []
    if settings.default_channel is ChannelKind.SMS and not settings.test_phone:
        found.append(("test_phone", "test mode is on and the clinic texts: set test_phone"))
    emails = settings.default_channel is ChannelKind.EMAIL or settings.email_fallback
    if emails and not settings.test_email:
        found.append(("test_email", "test mode is on and the clinic emails: set test_email"))
    return found
