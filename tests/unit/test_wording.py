"""How messages list what to avoid, until when, and what may be done again."""

from __future__ import annotations

import pytest

from reminders.wording import Stretch, avoid_block, avoid_sentence, keep_avoiding_sentence, listed

POSTURE = Stretch(("lying flat", "bending over"), "4 hours", "6:00 PM")
EXERTION = Stretch(
    ("exercise", "facials", "rubbing the treated area"), "23 hours", "2:00 PM tomorrow"
)
SAUNA = Stretch(("saunas",), "2 days", "2:00 PM on Sat 3 Mar")


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ((), ""),
        (("exercise",), "exercise"),
        (("lying flat", "bending over"), "lying flat and bending over"),
        (("exercise", "facials", "rubbing"), "exercise, facials and rubbing"),
        (("a", "b", "c", "d"), "a, b, c and d"),
        (["lie flat", "bend over"], "lie flat and bend over"),
    ],
)
def test_listed(items: tuple[str, ...], expected: str) -> None:
    assert listed(items) == expected


@pytest.mark.parametrize(
    ("stretches", "expected"),
    [
        ([], ""),
        (
            [POSTURE],
            "for the next 4 hours (until 6:00 PM) please avoid lying flat and bending over",
        ),
        (
            [Stretch(("exercise",), "3 hours and 59 minutes", "12:59 PM tomorrow")],
            "for the next 3 hours and 59 minutes (until 12:59 PM tomorrow) please avoid exercise",
        ),
        (
            [POSTURE, EXERTION],
            "until 6:00 PM avoid lying flat and bending over; "
            "until 2:00 PM tomorrow avoid exercise, facials and rubbing the treated area",
        ),
        (
            [POSTURE, EXERTION, SAUNA],
            "until 6:00 PM avoid lying flat and bending over; "
            "until 2:00 PM tomorrow avoid exercise, facials and rubbing the treated area; "
            "until 2:00 PM on Sat 3 Mar avoid saunas",
        ),
    ],
)
def test_avoid_sentence(stretches: list[Stretch], expected: str) -> None:
    assert avoid_sentence(stretches) == expected


@pytest.mark.parametrize(
    ("stretches", "expected"),
    [
        ([], ""),
        (
            [EXERTION],
            "keep avoiding exercise, facials and rubbing the treated area until 2:00 PM tomorrow",
        ),
        (
            [EXERTION, SAUNA],
            "keep avoiding exercise, facials and rubbing the treated area until 2:00 PM tomorrow; "
            "also keep avoiding saunas until 2:00 PM on Sat 3 Mar",
        ),
        (
            [POSTURE, EXERTION, SAUNA],
            "keep avoiding lying flat and bending over until 6:00 PM; "
            "also keep avoiding exercise, facials and rubbing the treated area "
            "until 2:00 PM tomorrow; also keep avoiding saunas until 2:00 PM on Sat 3 Mar",
        ),
    ],
)
def test_keep_avoiding_sentence(stretches: list[Stretch], expected: str) -> None:
    assert keep_avoiding_sentence(stretches) == expected


@pytest.mark.parametrize(
    ("stretches", "keep", "expected"),
    [
        ([], False, ""),
        ([], True, ""),
        (
            [POSTURE],
            False,
            "Until 6:00 PM (the next 4 hours), please avoid:\n- lying flat;\n- bending over.",
        ),
        (
            [POSTURE],
            True,
            "Until 6:00 PM (the next 4 hours), please keep avoiding:\n"
            "- lying flat;\n- bending over.",
        ),
        (
            [SAUNA],
            False,
            "Until 2:00 PM on Sat 3 Mar (the next 2 days), please avoid:\n- saunas.",
        ),
        (
            [POSTURE, EXERTION],
            False,
            "Until 6:00 PM (the next 4 hours), please avoid:\n"
            "- lying flat;\n"
            "- bending over.\n"
            "\n"
            "Until 2:00 PM tomorrow (the next 23 hours), please avoid:\n"
            "- exercise;\n"
            "- facials;\n"
            "- rubbing the treated area.",
        ),
        (
            [EXERTION, SAUNA],
            True,
            "Until 2:00 PM tomorrow (the next 23 hours), please keep avoiding:\n"
            "- exercise;\n"
            "- facials;\n"
            "- rubbing the treated area.\n"
            "\n"
            "Until 2:00 PM on Sat 3 Mar (the next 2 days), please keep avoiding:\n"
            "- saunas.",
        ),
    ],
)
def test_avoid_block(stretches: list[Stretch], keep: bool, expected: str) -> None:
    assert avoid_block(stretches, keep=keep) == expected


def test_avoid_block_avoids_by_default() -> None:
    assert avoid_block([POSTURE]) == avoid_block([POSTURE], keep=False)
    assert "please avoid:" in avoid_block([POSTURE])
