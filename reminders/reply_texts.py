"""Pure: what a patient whose reply was triaged is answered, and what on-call is told.

The patient's answer is short and GSM-7 (it goes as the webhook's TwiML reply); the
on-call alert carries only what the clinician needs to call back: the patient's
name, what was flagged, and the reply itself.
"""

from __future__ import annotations

import phonenumbers

from reminders.triage import Category

# The emergency number by the clinic's region (ISO 3166 alpha-2), for an answer to
# an emergency. 911 in the North American Numbering Plan countries served here
# (FCC, CRTC); 999 in the UK (Ofcom: 112 works there too); 112 in every EU member
# state (the European Electronic Communications Code, Directive (EU) 2018/1972,
# art. 109); 000 in Australia (ACMA, "Triple Zero"). Elsewhere the answer names no
# number rather than a wrong one.
# fmt: off
EU_MEMBERS = (
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
)
# fmt: on
EMERGENCY_NUMBERS: dict[str, str] = {
    "US": "911",
    "CA": "911",
    "GB": "999",
    "AU": "000",
    **dict.fromkeys(EU_MEMBERS, "112"),
}
# The longest a reply is quoted in an on-call text: two segments with the rest.
QUOTED_SMS = 160


def emergency_number(region: str) -> str | None:
    return EMERGENCY_NUMBERS.get(region.upper())


def display_phone(phone: str) -> str:
    """The clinic's phone as its patients dial it."""
    return phonenumbers.format_number(
        phonenumbers.parse(phone, None), phonenumbers.PhoneNumberFormat.NATIONAL
    )


def patient_answer(
    category: Category,
    *,
    clinic_name: str,
    clinic_phone: str,
    region: str,
    auto_answer: str | None,
) -> str | None:
    """What the patient is answered at once, if anything."""
    phone = display_phone(clinic_phone)
    number = emergency_number(region)
    call_emergency = f"call {number}" if number else "call your local emergency number"
    if category is Category.EMERGENCY:
        return (
            f"{clinic_name}: if this is an emergency, {call_emergency} now. "
            f"We have passed your message to our clinical team; you can also call us on {phone}."
        )
    if category is Category.CLINICAL:
        return (
            f"{clinic_name}: thank you. We have passed your message to our clinical team. "
            f"Please call us on {phone}; in an emergency {call_emergency}."
        )
    if category is Category.OPT_OUT_REQUEST:
        # Nothing is done without staff; the patient learns the one word that acts at once.
        return (
            f"{clinic_name}: to stop these texts now, reply STOP. Our staff will see your message."
        )
    return auto_answer


def on_call_subject(clinic_name: str, category: Category) -> str:
    what = "EMERGENCY reply" if category is Category.EMERGENCY else "Flagged reply"
    return f"{clinic_name}: {what} from a patient"


def on_call_text(
    *,
    reply_id: int,
    clinic_name: str,
    category: Category,
    labels: list[str],
    patient_name: str | None,
    treatment_id: int | None,
    reply: str,
    for_sms: bool,
) -> str:
    """The on-call alert: who, what was flagged, and what they wrote."""
    who = patient_name or "an unknown number (no patient on file)"
    treatment = f" (treatment {treatment_id})" if treatment_id else ""
    quoted = " ".join(reply.split())
    if for_sms and len(quoted) > QUOTED_SMS:
        quoted = quoted[: QUOTED_SMS - 3] + "..."
    head = "EMERGENCY" if category is Category.EMERGENCY else "Flagged reply"
    text = (
        f"{clinic_name} {head} (reply {reply_id}): {', '.join(labels)}. "
        f'Patient: {who}{treatment}. They wrote: "{quoted}"'
    )
    if not for_sms:
        text += (
            "\n\nThe patient's number is on their record. The reply stays at the top of the "
            f"staff inbox until acknowledged (reminders replies ack {reply_id})."
        )
    return text
