"""Template variables: which fields a text names, which are unknown, and rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from reminders.policies import load_policies
from reminders.templates import VARIABLES, render, template_fields, unknown_fields

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "config" / "policies"
TEMPLATE_ATTRS = ("sms", "email_subject", "email_body")


def test_template_fields_lists_named_fields_in_order() -> None:
    assert template_fields("{clinic_name}: until {until}") == ["clinic_name", "until"]


def test_template_fields_of_plain_text_is_empty() -> None:
    assert template_fields("No fields here.") == []


def test_template_fields_ignores_escaped_braces() -> None:
    assert template_fields("{{not_a_field}} and {until}") == ["until"]


@pytest.mark.parametrize(
    "template",
    [
        "{until:%H}",
        "{until:>10}",
        "{until!r}",
        "{0}",
        "{}",
        "{clinic_name.upper}",
        "{clinic_name[0]}",
    ],
)
def test_template_fields_rejects_format_spec_conversion_index_or_non_name(
    template: str,
) -> None:
    with pytest.raises(ValueError, match="must be a plain"):
        template_fields(template)


@pytest.mark.parametrize("template", ["{until", "until}", "{until} {"])
def test_template_fields_rejects_unbalanced_braces(template: str) -> None:
    with pytest.raises(ValueError, match=r"'[{}]'"):
        template_fields(template)


def test_unknown_fields_lists_only_names_not_in_variables() -> None:
    assert unknown_fields("{clinic_name} {patient_full} {until} {first_name}") == [
        "patient_full",
        "first_name",
    ]


def test_unknown_fields_of_known_variables_is_empty() -> None:
    assert unknown_fields(" ".join(f"{{{name}}}" for name in VARIABLES)) == []


def test_unknown_fields_propagates_malformed_field_error() -> None:
    with pytest.raises(ValueError, match="must be a plain"):
        unknown_fields("{until:%H}")


def test_render_substitutes_values() -> None:
    assert (
        render("{clinic_name}: until {until}", {"clinic_name": "Harbor", "until": "6:30 PM"})
        == "Harbor: until 6:30 PM"
    )


def test_render_turns_doubled_braces_into_literal_braces() -> None:
    assert render("{{x}} {until}", {"until": "6 PM"}) == "{x} 6 PM"


def test_render_ignores_unused_values() -> None:
    assert render("{until}", {"until": "6 PM", "clinic_name": "Harbor"}) == "6 PM"


def test_render_does_not_expand_braces_inside_values() -> None:
    assert render("{clinic_name}", {"clinic_name": "{until}"}) == "{until}"


def test_every_variable_has_a_description() -> None:
    assert VARIABLES
    for name, description in VARIABLES.items():
        assert name.isidentifier()
        assert description.strip()


def test_every_variable_used_by_shipped_policies_is_known() -> None:
    used: set[str] = set()
    for policy in load_policies(POLICIES).policies.values():
        for step in policy.steps:
            for attr in TEMPLATE_ATTRS:
                used.update(template_fields(getattr(step, attr)))
    assert used
    assert used <= set(VARIABLES)


def test_shipped_templates_render_with_every_variable_supplied() -> None:
    values = {name: f"<{name}>" for name in VARIABLES}
    for policy in load_policies(POLICIES).policies.values():
        for step in policy.steps:
            for attr in TEMPLATE_ATTRS:
                rendered = render(getattr(step, attr), values)
                assert "{" not in rendered
                assert "}" not in rendered
