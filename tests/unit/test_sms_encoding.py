from __future__ import annotations

from pathlib import Path

import pytest

from reminders.policies import load_policies, load_policy_file
from reminders.sms_budget import SEGMENT_BUDGET, sms_problems, sms_reports
from reminders.sms_encoding import sms_cost

POLICIES = Path(__file__).resolve().parents[2] / "config" / "policies"


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("{" * 80, "GSM-7", 160, 1),  # extension characters take two units
        ("€" * 81, "GSM-7", 162, 2),
        ("\u2019" + "a" * 69, "UCS-2", 70, 1),  # one curly apostrophe: UCS-2
        ("a" * 71, "GSM-7", 71, 1),
        ("\u00a0" + "a" * 70, "UCS-2", 71, 2),  # a non-breaking space
        ("\U0001f600" * 35, "UCS-2", 70, 1),  # an emoji is two UTF-16 units
        ("à é è ù ì ò Ä Ö Ñ Ü £ ¥ §", "GSM-7", 25, 1),
    ],
)
def test_cost_of_a_text(text: str, encoding: str, units: int, segments: int) -> None:
    cost = sms_cost(text)
    assert (cost.encoding, cost.units, cost.segments) == (encoding, units, segments)


def test_characters_that_force_ucs2_are_named() -> None:
    assert sms_cost("it\u2019s \u2013 ok").non_gsm == ("\u2013", "\u2019")


def test_shipped_sms_texts_are_gsm7_within_budget_at_their_longest() -> None:
    for policy in load_policies(POLICIES).policies.values():
        assert sms_problems(policy) == []
        for report in sms_reports(policy):
            assert report.longest.encoding == "GSM-7"
            assert report.longest.segments <= SEGMENT_BUDGET


def test_a_curly_quote_in_a_text_is_reported(tmp_path: Path) -> None:
    text = (POLICIES / "botox.toml").read_text()
    text = text.replace("please avoid exercise", "please don\u2019t exercise", 1)
    source = (POLICIES.parent / "sources").resolve()
    text = text.replace('source = "../sources/', f'source = "{source}/')
    path = tmp_path / "botox.toml"
    path.write_text(text)
    policy, problems = load_policy_file(path)
    assert problems == []
    assert policy is not None
    forced, over_budget = sms_problems(policy)
    assert forced.key == "steps[0].sms"
    assert "U+2019" in forced.message
    assert "forces UCS-2" in forced.message
    # In UCS-2 the same text no longer fits two segments.
    assert "UCS-2" in over_budget.message


def test_a_text_over_budget_at_its_longest_is_reported(tmp_path: Path) -> None:
    text = (POLICIES / "botox.toml").read_text()
    text = text.replace(
        "Questions? Call {clinic_phone}", "Questions? Call {clinic_phone}" + " x" * 40, 1
    )
    source = (POLICIES.parent / "sources").resolve()
    text = text.replace('source = "../sources/', f'source = "{source}/')
    path = tmp_path / "botox.toml"
    path.write_text(text)
    policy, _ = load_policy_file(path)
    assert policy is not None
    (problem,) = sms_problems(policy)
    assert "3 segments at its longest" in problem.message
