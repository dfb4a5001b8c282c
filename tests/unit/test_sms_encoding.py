"""What an SMS costs: encoding, units and segments; the characters that force UCS-2.

How the policies' texts fare against the budget is in test_sms_budget.py.
"""

from __future__ import annotations

import pytest

from reminders import sms_budget
from reminders.sms_encoding import SEGMENT_BUDGET, describe_char, sms_cost


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("{" * 80, "GSM-7", 160, 1),  # extension characters take two units
        ("€" * 81, "GSM-7", 162, 2),
        ("\u2019" + "a" * 69, "UCS-2", 70, 1),  # one curly apostrophe: UCS-2
        ("a" * 71, "GSM-7", 71, 1),
        ("\u00a0" + "a" * 70, "UCS-2", 71, 2),  # a non-breaking space
        ("\u2013" + "a" * 133, "UCS-2", 134, 2),
        ("\u2013" + "a" * 134, "UCS-2", 135, 3),
        ("\U0001f600" * 35, "UCS-2", 70, 1),  # an emoji is two UTF-16 units
        ("à é è ù ì ò Ä Ö Ñ Ü £ ¥ §", "GSM-7", 25, 1),
    ],
)
def test_cost_of_a_text(text: str, encoding: str, units: int, segments: int) -> None:
    cost = sms_cost(text)
    assert (cost.encoding, cost.units, cost.segments) == (encoding, units, segments)


def test_characters_that_force_ucs2_are_named() -> None:
    assert sms_cost("it\u2019s \u2013 ok").non_gsm == ("\u2013", "\u2019")
    assert sms_cost("it's - ok").non_gsm == ()


def test_cost_describes_itself() -> None:
    assert sms_cost("a" * 161).describe() == "GSM-7, 161 units, 2 segment(s)"
    assert sms_cost("\u2019").describe() == "UCS-2, 1 units, 1 segment(s)"


@pytest.mark.parametrize(
    ("ch", "described"),
    [
        ("\u2019", "U+2019 '\u2019' (use \"'\")"),
        ("\u2018", "U+2018 '\u2018' (use \"'\")"),
        ("\u201c", "U+201C '\u201c' (use '\"')"),
        ("\u2013", "U+2013 '\u2013' (use '-')"),
        ("\u2014", "U+2014 '\u2014' (use '-')"),
        ("\u00a0", "U+00A0 '\\xa0' (use ' ')"),
        ("\u2026", "U+2026 '\u2026' (use '...')"),
        ("\u00e7", "U+00E7 '\u00e7'"),
        ("\U0001f600", "U+1F600 '\U0001f600'"),
    ],
)
def test_a_character_is_described_with_what_to_use_instead(ch: str, described: str) -> None:
    assert describe_char(ch) == described


def test_the_budget_is_two_segments_wherever_it_is_read() -> None:
    assert SEGMENT_BUDGET == 2
    assert sms_budget.SEGMENT_BUDGET == SEGMENT_BUDGET
