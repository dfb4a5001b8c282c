"""The variables a policy text may use, and checks on a template's fields."""

from __future__ import annotations

import string

# Each variable and what it renders; `patient_name` and `product` stay generic
# unless the clinic opts in, because texts are read on a lock screen.
VARIABLES: dict[str, str] = {
    "clinic_name": "the clinic's name",
    "clinic_phone": "the clinic's phone number, as dialled locally",
    "treatment": "the product's brand name if the clinic opts in, else its generic name",
    "patient_name": "the patient's full name if the clinic opts in, else empty",
    "greeting": "'Hi <name>, ' if the clinic opts in to names, else empty",
    "salutation": "'Dear <name>,' if the clinic opts in to names, else 'Hello,'",
    "restriction": "the clinic's restriction length in words, e.g. '4 hours'",
    "remaining": "restriction time left when the message goes, in words",
    "until": "local time the restriction ends, e.g. '6:30 PM'",
    "treatment_time": "local time of the treatment, e.g. '2:30 PM'",
    "avoid_windows": "what to avoid and until when, each window at its length, in one sentence",
    "avoid_list": "what to avoid and until when, as a list per window (for emails)",
    "resumed": "what the patient may do again when this message's window ends",
    "still_avoid": "what still applies after this message's window ends, and until when",
    "still_list": "what still applies, as a list per window (for emails)",
    "next_message": "'We will write again at 8:00 AM tomorrow.', or empty if nothing follows",
}


def template_fields(template: str) -> list[str]:
    """Every `{field}` a template names; raises ValueError on a malformed one."""
    fields = []
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if spec or conversion or not field.isidentifier():
            raise ValueError(f"'{{{field}}}' must be a plain {{name}} with no format or index")
        fields.append(field)
    return fields


def unknown_fields(template: str) -> list[str]:
    return [field for field in template_fields(template) if field not in VARIABLES]


def render(template: str, values: dict[str, str]) -> str:
    return template.format_map(values)
