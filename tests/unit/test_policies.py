"""Policy loading: the shipped policy, strict checks on every key, versions and the CLI."""

from __future__ import annotations

import hashlib
import re
import shutil
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reminders.cli import app
from reminders.errors import ConfigError
from reminders.policies import (
    Anchor,
    Policy,
    Problem,
    check_policies,
    load_policies,
    policy_version,
    step_times,
)
from reminders.sources import find_answer, load_answers, normalise

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "config" / "policies"
SOURCES = REPO / "config" / "sources"
SHIPPED_FILE = POLICIES / "botox.toml"
SHIPPED = SHIPPED_FILE.read_text(encoding="utf-8")
NOT_A_DURATION = "is not a duration like 0m, 90m, 4h, 1h30m or 2d"
STEP_SEPARATOR = "\n[[steps]]\n"

# Unique text that starts each table of the shipped file; an edit `within` one of them
# changes only that table (up to the next `[` header line).
RESTRICTION = "[restriction]\n"
EXERTION = 'id = "exertion"\n'
POSTURE = 'id = "posture"\n'
AVOID = 'id = "avoid"\n'
WINDOW_END = 'id = "window_end"\n'
ALL_CLEAR = 'id = "all_clear"\n'
CORRECTION = 'id = "correction"\n'
# Instructions, by the start of what they say.
EXERTION_0 = 'says = "Avoid exercise and strenuous activity'
EXERTION_1 = 'says = "Avoid facials for the same window'
POSTURE_0 = 'says = "Do not lie flat for four hours'
POSTURE_1 = 'says = "Do not bend over for the same four hours."'
AVOID_0 = 'says = "The windows keep the product where it was placed'
WINDOW_END_0 = 'says = "When a window ends'
ALL_CLEAR_0 = 'says = "Once the restriction has ended'


# --- helpers -------------------------------------------------------------------------------


def make_config(root: Path) -> Path:
    """A copy of config/sources under `root` and an empty `policies` folder beside it."""
    shutil.copytree(SOURCES, root / "sources")
    policies = root / "policies"
    policies.mkdir()
    return policies


def edit(text: str, old: str, new: str) -> str:
    """Replace `old`, which must occur exactly once, so every edit is known to have happened."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def edit_in(text: str, within: str, old: str, new: str) -> str:
    """Replace `old` in one table only: from the unique text `within` to the next line that
    starts a table (`[`). `old` must occur there exactly once."""
    assert text.count(within) == 1, f"{within!r} occurs {text.count(within)} times"
    start = text.index(within)
    end = text.find("\n[", start + len(within))
    end = len(text) if end == -1 else end
    return text[:start] + edit(text[start:end], old, new) + text[end:]


def edit_re(text: str, pattern: str, new: str) -> str:
    result, count = re.subn(pattern, new, text, flags=re.DOTALL)
    assert count == 1, f"{pattern!r} matched {count} times"
    return result


def edit_re_in(text: str, within: str, pattern: str, new: str) -> str:
    """`edit_re` in one table only, as `edit_in` finds it."""
    assert text.count(within) == 1, f"{within!r} occurs {text.count(within)} times"
    start = text.index(within)
    end = text.find("\n[", start + len(within))
    end = len(text) if end == -1 else end
    return text[:start] + edit_re(text[start:end], pattern, new) + text[end:]


def split_steps(text: str) -> tuple[str, list[str]]:
    """The text before the first step, and each step's text (its id first)."""
    header, *steps = text.split(STEP_SEPARATOR)
    return header, steps


def join_steps(header: str, steps: list[str]) -> str:
    return header + "".join(STEP_SEPARATOR + step for step in steps)


def step_text(steps: list[str], step_id: str) -> str:
    [found] = [step for step in steps if step.startswith(f'id = "{step_id}"\n')]
    return found


def without_instructions(text: str, step_id: str) -> str:
    """The text with every `[[steps.instructions]]` of one step removed."""
    header, steps = split_steps(text)
    cut = [
        step[: step.index("[[steps.instructions]]")]
        if step.startswith(f'id = "{step_id}"\n')
        else step
        for step in steps
    ]
    assert cut != steps
    return join_steps(header, cut)


def write(folder: Path, text: str, name: str = "botox.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(folder: Path, text: str, name: str = "botox.toml") -> tuple[Path, list[Problem]]:
    path = write(folder, text, name)
    policy_set, problems = check_policies(folder)
    assert policy_set.policies == {}
    return path, problems


def loads(folder: Path, text: str) -> Policy:
    """The policy of a copy that must load without problems."""
    write(folder, text)
    policy_set, problems = check_policies(folder)
    assert problems == []
    policy = policy_set.get("botox")
    assert policy is not None
    return policy


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


def shipped() -> Policy:
    policy = load_policies(POLICIES).get("botox")
    assert policy is not None
    return policy


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_config(tmp_path)


# --- the shipped policy --------------------------------------------------------------------


def test_shipped_policies_have_no_problems() -> None:
    policy_set, problems = check_policies(POLICIES)
    assert problems == []
    assert policy_set.treatments == ["botox"]


def test_load_policies_of_shipped_folder_returns_botox() -> None:
    policy = load_policies(POLICIES).get("botox")
    assert policy is not None
    assert policy.treatment == "botox"
    assert policy.path == SHIPPED_FILE


def test_shipped_botox_steps_are_avoid_window_end_all_clear_then_four_corrections() -> None:
    policy = shipped()
    assert [(step.id, step.when, step.planned) for step in policy.steps] == [
        ("avoid", "planned", True),
        ("window_end", "planned", True),
        ("all_clear", "planned", True),
        ("correction", "tightened", False),
        ("correction_looser", "loosened", False),
        ("correction_ended", "ended", False),
        ("withdrawal", "withdrawn", False),
    ]


AT_TREATMENT = Anchor(timedelta(0), from_restriction_end=False)
AT_RESTRICTION_END = Anchor(timedelta(0), from_restriction_end=True)
AT_WINDOW_ENDS = Anchor(timedelta(0), from_restriction_end=False, each_window_end=True)
TWELVE_HOURS = timedelta(hours=12)

# id: offset, expires_at, expires_after, min_useful, may_wait, not_before, at_window_ends
SHIPPED_STEP_TIMES = {
    "avoid": (AT_TREATMENT, AT_RESTRICTION_END, None, timedelta(minutes=15), False, False, False),
    "window_end": (AT_WINDOW_ENDS, None, TWELVE_HOURS, timedelta(0), True, True, True),
    "all_clear": (AT_RESTRICTION_END, None, TWELVE_HOURS, timedelta(0), True, True, False),
    "correction": (
        AT_TREATMENT,
        AT_RESTRICTION_END,
        None,
        timedelta(minutes=5),
        False,
        False,
        False,
    ),
    "correction_looser": (
        AT_TREATMENT,
        AT_RESTRICTION_END,
        None,
        timedelta(minutes=5),
        True,
        False,
        False,
    ),
    "correction_ended": (AT_TREATMENT, None, TWELVE_HOURS, timedelta(0), True, False, False),
    "withdrawal": (AT_TREATMENT, None, TWELVE_HOURS, timedelta(0), False, False, False),
}


def test_shipped_botox_step_times_are_as_written() -> None:
    steps = shipped().steps
    assert [step.id for step in steps] == list(SHIPPED_STEP_TIMES)
    for step in steps:
        assert (
            step.offset,
            step.expires_at,
            step.expires_after,
            step.min_useful,
            step.may_wait,
            step.not_before_restriction_end,
            step.at_window_ends,
        ) == SHIPPED_STEP_TIMES[step.id], step.id


def test_shipped_botox_step_times_read_back_as_written() -> None:
    assert {step.id: step_times(step) for step in shipped().steps} == {
        "avoid": ("0m", "restriction_end"),
        "window_end": ("window_end", "12h after due"),
        "all_clear": ("restriction_end", "12h after due"),
        "correction": ("0m", "restriction_end"),
        "correction_looser": ("0m", "restriction_end"),
        "correction_ended": ("0m", "12h after due"),
        "withdrawal": ("0m", "12h after due"),
    }


def test_shipped_botox_restriction_is_four_hours_to_a_day() -> None:
    policy = shipped()
    assert (policy.shortest, policy.longest) == (timedelta(hours=4), timedelta(days=1))
    assert (policy.restriction.shortest, policy.restriction.longest) == ("4h", "1d")
    assert len(policy.restriction.citations) == 4


def test_shipped_botox_windows_are_exertion_for_the_restriction_and_posture_for_4h() -> None:
    policy = shipped()
    assert [
        (window.id, window.length, window.avoid, window.resume, len(window.instructions))
        for window in policy.windows
    ] == [
        (
            "exertion",
            None,
            ("exercise", "facials", "rubbing the treated area"),
            ("exercise", "have facials", "touch the treated area"),
            3,
        ),
        (
            "posture",
            timedelta(hours=4),
            ("lying flat", "bending over"),
            ("lie flat", "bend over"),
            2,
        ),
    ]


@pytest.mark.parametrize(
    ("restriction", "exertion", "posture"),
    [
        (timedelta(hours=4), timedelta(hours=4), timedelta(hours=4)),
        (timedelta(hours=6), timedelta(hours=6), timedelta(hours=4)),
        (timedelta(days=1), timedelta(days=1), timedelta(hours=4)),
        (timedelta(minutes=30), timedelta(minutes=30), timedelta(hours=4)),
    ],
)
def test_a_window_lasts_the_restriction_or_its_own_length(
    restriction: timedelta, exertion: timedelta, posture: timedelta
) -> None:
    first, second = shipped().windows
    assert (first.resolve(restriction), second.resolve(restriction)) == (exertion, posture)


@pytest.mark.parametrize(
    ("step_id", "found"),
    [
        ("avoid", "avoid"),
        ("window_end", "window_end"),
        ("window_end:posture", "window_end"),
        ("window_end:exertion+posture", "window_end"),
        ("all_clear", "all_clear"),
        ("correction", "correction"),
        ("correction_looser", "correction_looser"),
        ("correction_ended", "correction_ended"),
        ("withdrawal", "withdrawal"),
        ("window", None),
        ("posture", None),
        ("nothing:posture", None),
        (":window_end", None),
        ("", None),
    ],
)
def test_policy_step_finds_the_step_a_message_was_planned_from(
    step_id: str, found: str | None
) -> None:
    step = shipped().step(step_id)
    assert (step.id if step else None) == found


@pytest.mark.parametrize(
    ("restriction", "supported"),
    [
        (timedelta(minutes=30), False),
        (timedelta(hours=3, minutes=59), False),
        (timedelta(hours=4), True),
        (timedelta(hours=6), True),
        (timedelta(hours=23, minutes=59), True),
        (timedelta(days=1), True),
        (timedelta(days=1, minutes=1), False),
        (timedelta(days=7), False),
    ],
)
def test_policy_supports_the_restriction_lengths_its_answers_give(
    restriction: timedelta, supported: bool
) -> None:
    assert shipped().supports(restriction) is supported


def test_policy_supports_follows_the_restriction_table(folder: Path) -> None:
    text = edit(SHIPPED, 'shortest = "4h"', 'shortest = "30m"')
    policy = loads(folder, edit(text, 'longest = "1d"', 'longest = "7d"'))
    assert (policy.shortest, policy.longest) == (timedelta(minutes=30), timedelta(days=7))
    assert policy.supports(timedelta(minutes=30))
    assert policy.supports(timedelta(days=7))
    assert not policy.supports(timedelta(minutes=29))
    assert not policy.supports(timedelta(days=7, minutes=1))


def test_every_shipped_instruction_has_a_citation() -> None:
    policies = list(load_policies(POLICIES).policies.values())
    assert policies
    for policy in policies:
        assert policy.restriction.citations
        assert policy.windows
        for window in policy.windows:
            assert window.instructions, window.id
            for instruction in window.instructions:
                assert len(instruction.citations) >= 1, instruction.says
        assert policy.steps
        for step in policy.steps:
            assert step.instructions, step.id
            for instruction in step.instructions:
                assert len(instruction.citations) >= 1, instruction.says


def _citations(data: dict[str, Any]) -> Iterator[dict[str, str]]:
    """Every citation in a policy file: the restriction's, each window's, each step's."""
    yield from data["restriction"]["citations"]
    for table in (*data["windows"], *data["steps"]):
        for instruction in table["instructions"]:
            yield from instruction["citations"]


def test_every_shipped_citation_resolves_to_an_answer_in_its_source() -> None:
    paths = sorted(POLICIES.glob("*.toml"))
    assert paths
    for path in paths:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        answers = load_answers(path.parent / data["source"])
        citations = list(_citations(data))
        # Every citation the file writes, and no other.
        assert len(citations) == path.read_text(encoding="utf-8").count("clinician = ") > 0
        for citation in citations:
            answer = find_answer(
                answers, heading=citation["heading"], clinician=citation["clinician"]
            )
            assert answer is not None, citation


def _fold(text: str) -> str:
    # Like sources.normalise but keeping case, so quotes are checked word for word.
    for curly, straight in (("\u2018", "'"), ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"')):
        text = text.replace(curly, straight)
    return " ".join(text.split())


def test_every_shipped_quote_appears_in_its_cited_answer() -> None:
    quotes = written = 0
    for path in sorted(POLICIES.glob("*.toml")):
        written += path.read_text(encoding="utf-8").count("quote = ")
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        answers = load_answers(path.parent / data["source"])
        for citation in _citations(data):
            answer = find_answer(
                answers, heading=citation["heading"], clinician=citation["clinician"]
            )
            assert answer is not None, citation
            if "quote" in citation:
                quotes += 1
                assert _fold(citation["quote"]) in _fold(answer.text), citation
                assert normalise(citation["quote"]) in normalise(answer.text)
    assert quotes == written > 0


# --- version -------------------------------------------------------------------------------


def test_version_is_treatment_and_a_hash_of_the_file_content() -> None:
    policy = shipped()
    content = SHIPPED_FILE.read_bytes()
    assert policy.version == policy_version("botox", content)
    assert policy.version == f"botox@{hashlib.sha256(content).hexdigest()[:12]}"
    assert re.fullmatch(r"botox@[0-9a-f]{12}", policy.version)


def test_one_changed_character_gives_a_different_version(tmp_path: Path) -> None:
    first = make_config(tmp_path / "a")
    second = make_config(tmp_path / "b")
    write(first, SHIPPED)
    write(second, edit(SHIPPED, "Such reactions are rare.", "Such reactions are rara."))
    one = load_policies(first).get("botox")
    two = load_policies(second).get("botox")
    assert one is not None
    assert two is not None
    assert one.version != two.version


def test_same_content_gives_the_same_version(tmp_path: Path) -> None:
    first = make_config(tmp_path / "a")
    second = make_config(tmp_path / "b")
    shutil.copyfile(SHIPPED_FILE, first / "botox.toml")
    shutil.copyfile(SHIPPED_FILE, second / "botox.toml")
    one = load_policies(first).get("botox")
    two = load_policies(second).get("botox")
    assert one is not None
    assert two is not None
    assert one.version == two.version == shipped().version


# --- strict loading: keys ------------------------------------------------------------------


def test_unknown_top_level_key_is_a_problem(folder: Path) -> None:
    text = edit(SHIPPED, 'product_name = "Botox"\n', 'product_name = "Botox"\ncolour = "blue"\n')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "colour", "unknown key")


@pytest.mark.parametrize(
    ("within", "key"),
    [
        (RESTRICTION, "restriction.colour"),
        (EXERTION, "windows[0].colour"),
        (POSTURE, "windows[1].colour"),
        (AVOID, "steps[0].colour"),
        (WINDOW_END, "steps[1].colour"),
        (CORRECTION, "steps[3].colour"),
    ],
)
def test_unknown_key_inside_a_table_is_a_problem(folder: Path, within: str, key: str) -> None:
    text = edit(SHIPPED, within, f'{within}colour = "blue"\n')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), key, "unknown key")


@pytest.mark.parametrize(
    ("within", "quote_end", "key"),
    [
        (RESTRICTION, 'usually no longer than a day" },', "restriction.citations[3].page"),
        (
            EXERTION_1,
            'manipulation of the injected areas" },',
            "windows[0].instructions[1].citations[1].page",
        ),
        (POSTURE_0, 'for four hours" },', "windows[1].instructions[0].citations[1].page"),
        (AVOID_0, 'disperse the other muscles." },', "steps[0].instructions[0].citations[0].page"),
    ],
)
def test_unknown_key_inside_a_citation_is_a_problem(
    folder: Path, within: str, quote_end: str, key: str
) -> None:
    text = edit_in(SHIPPED, within, quote_end, quote_end.replace('" },', '", page = 3 },'))
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), key, "unknown key")


# The citations of one instruction (or the restriction), and their key.
CITATION_LISTS = [
    (RESTRICTION, "restriction.citations"),
    (EXERTION_0, "windows[0].instructions[0].citations"),
    (POSTURE_1, "windows[1].instructions[1].citations"),
    (AVOID_0, "steps[0].instructions[0].citations"),
    (ALL_CLEAR_0, "steps[2].instructions[0].citations"),
]


@pytest.mark.parametrize(("within", "key"), CITATION_LISTS)
def test_empty_citations_is_a_problem(folder: Path, within: str, key: str) -> None:
    text = edit_re_in(SHIPPED, within, r"(\ncitations = )\[.*?\n\]", r"\1[]")
    path, problems = problems_of(folder, text)
    problem = only(problems)
    assert (problem.file, problem.key) == (str(path), key)
    assert "at least 1 item" in problem.message


@pytest.mark.parametrize(("within", "key"), CITATION_LISTS)
def test_missing_citations_key_is_a_problem(folder: Path, within: str, key: str) -> None:
    text = edit_re_in(SHIPPED, within, r"\ncitations = \[.*?\n\]", "")
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), key, "Field required")


@pytest.mark.parametrize(
    ("step_id", "key"),
    [
        ("avoid", "steps[0].instructions"),
        ("all_clear", "steps[2].instructions"),
        ("withdrawal", "steps[6].instructions"),
    ],
)
def test_step_without_instructions_is_a_problem(folder: Path, step_id: str, key: str) -> None:
    path, problems = problems_of(folder, without_instructions(SHIPPED, step_id))
    assert only(problems) == Problem(str(path), key, "Field required")


def test_step_with_empty_instructions_list_is_a_problem(folder: Path) -> None:
    text = edit(
        without_instructions(SHIPPED, "all_clear"), ALL_CLEAR, f"{ALL_CLEAR}instructions = []\n"
    )
    path, problems = problems_of(folder, text)
    problem = only(problems)
    assert (problem.file, problem.key) == (str(path), "steps[2].instructions")
    assert "at least 1 item" in problem.message


def test_window_without_instructions_is_a_problem(folder: Path) -> None:
    start = SHIPPED.index(POSTURE)
    end = SHIPPED.index(STEP_SEPARATOR)
    window = SHIPPED[start:end]
    text = SHIPPED[:start] + window[: window.index("\n[[windows.instructions]]")] + SHIPPED[end:]
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "windows[1].instructions", "Field required")


@pytest.mark.parametrize(
    ("old", "key"),
    [
        ('avoid = ["lying flat", "bending over"]', "windows[1].avoid"),
        ('resume = ["lie flat", "bend over"]', "windows[1].resume"),
    ],
)
def test_window_with_nothing_to_avoid_or_resume_is_a_problem(
    folder: Path, old: str, key: str
) -> None:
    text = edit(SHIPPED, old, old.split(" = ")[0] + " = []")
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path), key, "List should have at least 1 item after validation, not 0"
    )


def test_not_before_other_than_restriction_end_or_window_end_is_a_problem(folder: Path) -> None:
    text = edit(SHIPPED, 'not_before = "restriction_end"', 'not_before = "tomorrow"')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path), "steps[2].not_before", "Input should be 'restriction_end' or 'window_end'"
    )


@pytest.mark.parametrize("when", ["sometimes", "corrected", "Planned", "withdraw"])
def test_unknown_when_is_a_problem(folder: Path, when: str) -> None:
    text = edit(SHIPPED, 'when = "tightened"', f'when = "{when}"')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path),
        "steps[3].when",
        "Input should be 'planned', 'tightened', 'loosened', 'ended' or 'withdrawn'",
    )


# --- strict loading: the restriction -------------------------------------------------------

BETWEEN = "must be between 30m and 7d"


@pytest.mark.parametrize(
    ("shortest", "longest", "expected"),
    [
        ("30m", "7d", []),
        ("4h", "4h", []),
        ("1d", "1d", []),
        ("four hours", "1d", [("restriction.shortest", f"'four hours' {NOT_A_DURATION}")]),
        ("4h", "a day", [("restriction.longest", f"'a day' {NOT_A_DURATION}")]),
        ("29m", "1d", [("restriction.shortest", BETWEEN)]),
        ("0m", "1d", [("restriction.shortest", BETWEEN)]),
        ("4h", "7d1m", [("restriction.longest", BETWEEN)]),
        ("4h", "8d", [("restriction.longest", BETWEEN)]),
        ("20m", "8d", [("restriction.shortest", BETWEEN), ("restriction.longest", BETWEEN)]),
        ("2d", "1d", [("restriction", "shortest is longer than longest")]),
        ("4h1m", "4h", [("restriction", "shortest is longer than longest")]),
        # Out of range and out of order: both are said.
        (
            "8d",
            "1d",
            [("restriction.shortest", BETWEEN), ("restriction", "shortest is longer than longest")],
        ),
        (
            "soon",
            "20m",
            [
                ("restriction.shortest", f"'soon' {NOT_A_DURATION}"),
                ("restriction.longest", BETWEEN),
            ],
        ),
    ],
)
def test_restriction_lengths_are_checked(
    folder: Path, shortest: str, longest: str, expected: list[tuple[str, str]]
) -> None:
    text = edit(SHIPPED, 'shortest = "4h"', f'shortest = "{shortest}"')
    text = edit(text, 'longest = "1d"', f'longest = "{longest}"')
    path = write(folder, text)
    _, problems = check_policies(folder)
    assert problems == [Problem(str(path), key, message) for key, message in expected]


@pytest.mark.parametrize("field", ["shortest", "longest", "says", "citations"])
def test_restriction_without_a_key_is_a_problem(folder: Path, field: str) -> None:
    text = edit_re_in(SHIPPED, RESTRICTION, f"\n{field} = (\\[.*?\n\\]|[^\n]*)", "")
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), f"restriction.{field}", "Field required")


def test_policy_without_a_restriction_table_is_a_problem(folder: Path) -> None:
    start = SHIPPED.index(RESTRICTION)
    text = SHIPPED[:start] + SHIPPED[SHIPPED.index("[[windows]]") :]
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "restriction", "Field required")


# --- strict loading: windows ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        ("30m", []),
        ("90m", []),
        ("1h30m", []),
        ("7d", []),
        ("restriction", []),
        ("4 hours", [f"'4 hours' {NOT_A_DURATION}"]),
        ("half a day", [f"'half a day' {NOT_A_DURATION}"]),
        ("restriction_end", [f"'restriction_end' {NOT_A_DURATION}"]),
        ("0m", [BETWEEN]),
        ("29m", [BETWEEN]),
        ("7d1m", [BETWEEN]),
        ("8d", [BETWEEN]),
    ],
)
def test_window_length_is_restriction_or_a_duration_from_30m_to_7d(
    folder: Path, length: str, expected: list[str]
) -> None:
    text = edit_in(SHIPPED, POSTURE, 'length = "4h"', f'length = "{length}"')
    path = write(folder, text)
    _, problems = check_policies(folder)
    assert problems == [Problem(str(path), "windows[1].length", message) for message in expected]


NO_RESTRICTION_WINDOW = 'no window follows the restriction length (length = "restriction")'


@pytest.mark.parametrize("length", ["1d", "4h", "7d"])
def test_no_window_following_the_restriction_is_a_problem(folder: Path, length: str) -> None:
    text = edit(SHIPPED, 'length = "restriction"', f'length = "{length}"')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "windows", NO_RESTRICTION_WINDOW)


def test_every_window_may_follow_the_restriction(folder: Path) -> None:
    policy = loads(folder, edit(SHIPPED, 'length = "4h"', 'length = "restriction"'))
    assert [window.length for window in policy.windows] == [None, None]


@pytest.mark.parametrize(
    ("posture_id", "expected"),
    [
        ("exertion", [("windows[1].id", "duplicate window id 'exertion'")]),
        ("posture2", []),
        ("bend-flat_4h", []),
        ("Posture", [("windows[1].id", "String should match pattern '^[a-z][a-z0-9_-]{0,39}$'")]),
        ("post:ure", [("windows[1].id", "String should match pattern '^[a-z][a-z0-9_-]{0,39}$'")]),
        ("a+b", [("windows[1].id", "String should match pattern '^[a-z][a-z0-9_-]{0,39}$'")]),
        ("", [("windows[1].id", "String should match pattern '^[a-z][a-z0-9_-]{0,39}$'")]),
        ("p" * 41, [("windows[1].id", "String should match pattern '^[a-z][a-z0-9_-]{0,39}$'")]),
    ],
)
def test_window_ids_are_unique_slugs(
    folder: Path, posture_id: str, expected: list[tuple[str, str]]
) -> None:
    text = edit(SHIPPED, POSTURE, f'id = "{posture_id}"\n')
    path = write(folder, text)
    _, problems = check_policies(folder)
    assert problems == [Problem(str(path), key, message) for key, message in expected]


def test_three_windows_with_one_id_are_two_problems(folder: Path) -> None:
    start = SHIPPED.index('[[windows]]\nid = "posture"')
    end = SHIPPED.index(STEP_SEPARATOR)
    posture = SHIPPED[start:end]
    text = SHIPPED[:end] + "\n" + posture.rstrip("\n") + SHIPPED[end:]
    text = text.replace(POSTURE, 'id = "exertion"\n')
    path, problems = problems_of(folder, text)
    assert problems == [
        Problem(str(path), "windows[1].id", "duplicate window id 'exertion'"),
        Problem(str(path), "windows[2].id", "duplicate window id 'exertion'"),
    ]


# --- strict loading: citations -------------------------------------------------------------

SYDNEY = 'clinician = "Sydney Plastic Surgeon"'
SEATTLE = 'clinician = "Seattle Facial Plastic Surgeon"'


@pytest.mark.parametrize(
    ("within", "key"),
    [
        (RESTRICTION, "restriction.citations[2]"),
        (EXERTION_0, "windows[0].instructions[0].citations[3]"),
        (WINDOW_END_0, "steps[1].instructions[0].citations[1]"),
    ],
)
def test_citation_of_a_clinician_not_in_the_source_is_a_problem(
    folder: Path, within: str, key: str
) -> None:
    text = edit_in(SHIPPED, within, SYDNEY, 'clinician = "Sydney Surgeon"')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path),
        key,
        "no answer headed 'Does exercise decrease the result of BOTOX' by 'Sydney Surgeon' "
        "in the source",
    )


@pytest.mark.parametrize(
    ("within", "key"),
    [
        (RESTRICTION, "restriction.citations[1]"),
        (EXERTION_0, "windows[0].instructions[0].citations[1]"),
        (AVOID_0, "steps[0].instructions[0].citations[0]"),
    ],
)
def test_citation_pairing_a_heading_with_another_answers_clinician_is_a_problem(
    folder: Path, within: str, key: str
) -> None:
    text = edit_in(SHIPPED, within, SEATTLE, 'clinician = "Manhattan Dermatologist"')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path),
        key,
        "no answer headed 'Exercise after Botox' by 'Manhattan Dermatologist' in the source",
    )


@pytest.mark.parametrize(
    ("within", "old", "new", "key"),
    [
        (
            RESTRICTION,
            "for at least 4 hours after the Botox injection",
            "for at least 2 hours after the Botox injection",
            "restriction.citations[1].quote",
        ),
        (
            RESTRICTION,
            "period is usually no longer than a day",
            "period is usually no longer than a week",
            "restriction.citations[3].quote",
        ),
        (
            EXERTION_0,
            "for at least six hours after",
            "for at least two hours after",
            "windows[0].instructions[0].citations[2].quote",
        ),
        (
            POSTURE_0,
            "lying flat for four hours following",
            "lying flat for two hours following",
            "windows[1].instructions[0].citations[0].quote",
        ),
        (
            POSTURE_1,
            "not to bend over or lie flat",
            "not to bend over or lie down",
            "windows[1].instructions[1].citations[0].quote",
        ),
        (
            ALL_CLEAR_0,
            "exercise should have no effect",
            "exercise should have some effect",
            "steps[2].instructions[0].citations[2].quote",
        ),
    ],
)
def test_quote_not_in_the_cited_answer_is_a_problem(
    folder: Path, within: str, old: str, new: str, key: str
) -> None:
    path, problems = problems_of(folder, edit_in(SHIPPED, within, old, new))
    assert only(problems) == Problem(str(path), key, "quote not found in that answer")


@pytest.mark.parametrize(
    ("within", "key"),
    [
        (RESTRICTION, "restriction.citations[0].quote"),
        (EXERTION_0, "windows[0].instructions[0].citations[0].quote"),
    ],
)
def test_quote_from_another_answer_under_the_same_heading_is_a_problem(
    folder: Path, within: str, key: str
) -> None:
    # The Seattle answer's words, cited to the Beverly Hills answer of the same heading.
    text = edit_in(
        SHIPPED,
        within,
        'quote = "The manufacturer recommends no exercise or lying flat for four hours"',
        'quote = "limit your exercise activities for at least 4 hours"',
    )
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), key, "quote not found in that answer")


def test_quotes_in_every_table_are_all_reported(folder: Path) -> None:
    text = edit_in(
        SHIPPED, RESTRICTION, "is usually no longer than a day", "is usually no longer than a week"
    )
    text = edit_in(text, POSTURE_0, "four hours following", "two hours following")
    text = edit_in(text, WINDOW_END_0, "for 24 hours.", "for 48 hours.")
    path, problems = problems_of(folder, text)
    assert problems == [
        Problem(str(path), key, "quote not found in that answer")
        for key in (
            "restriction.citations[3].quote",
            "windows[1].instructions[0].citations[0].quote",
            "steps[1].instructions[0].citations[1].quote",
        )
    ]


# --- strict loading: times -----------------------------------------------------------------


@pytest.mark.parametrize("offset", ["4 hours", "soon", "window end", "restriction"])
@pytest.mark.parametrize(
    ("within", "key"), [(AVOID, "steps[0].offset"), (CORRECTION, "steps[3].offset")]
)
def test_bad_offset_is_a_problem(folder: Path, within: str, key: str, offset: str) -> None:
    text = edit_in(SHIPPED, within, 'offset = "0m"', f'offset = "{offset}"')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), key, f"{offset!r} {NOT_A_DURATION}")


@pytest.mark.parametrize("expires", ["half a day", "12 hours", "restriction_end + later"])
def test_bad_expires_is_a_problem(folder: Path, expires: str) -> None:
    text = edit_in(SHIPPED, ALL_CLEAR, 'expires = "12h"', f'expires = "{expires}"')
    path, problems = problems_of(folder, text)
    problem = only(problems)
    assert (problem.file, problem.key) == (str(path), "steps[2].expires")
    assert NOT_A_DURATION in problem.message


@pytest.mark.parametrize(
    ("within", "key"), [(WINDOW_END, "steps[1].expires"), (ALL_CLEAR, "steps[2].expires")]
)
def test_expires_at_window_end_is_a_problem_not_a_crash(
    folder: Path, within: str, key: str
) -> None:
    # `window_end` is an offset (one message at each earlier window end), not an expiry:
    # a step expires at `restriction_end` (+ a duration) or a duration after it was due.
    text = edit_in(SHIPPED, within, 'expires = "12h"', 'expires = "window_end"')
    path, problems = problems_of(folder, text)
    problem = only(problems)
    assert (problem.file, problem.key) == (str(path), key)


def test_bad_min_useful_is_a_problem(folder: Path) -> None:
    text = edit(SHIPPED, 'min_useful = "15m"', 'min_useful = "15 minutes"')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path), "steps[0].min_useful", f"'15 minutes' {NOT_A_DURATION}"
    )


DUE_AT_RESTRICTION_END = "a step with not_before must be due at restriction_end"
DUE_AT_WINDOW_END = "a step with not_before must be due at window_end"


@pytest.mark.parametrize(
    ("within", "not_before", "key", "message"),
    [
        (AVOID, "restriction_end", "steps[0].offset", DUE_AT_RESTRICTION_END),
        (AVOID, "window_end", "steps[0].offset", DUE_AT_WINDOW_END),
        (CORRECTION, "restriction_end", "steps[3].offset", DUE_AT_RESTRICTION_END),
        (CORRECTION, "window_end", "steps[3].offset", DUE_AT_WINDOW_END),
    ],
)
def test_not_before_on_a_step_due_at_a_fixed_offset_is_a_problem(
    folder: Path, within: str, not_before: str, key: str, message: str
) -> None:
    text = edit(SHIPPED, within, f'{within}not_before = "{not_before}"\n')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), key, message)


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        # The all-clear waits for the window end it is due at, not another kind.
        (
            'offset = "restriction_end"\nnot_before = "restriction_end"',
            'offset = "restriction_end"\nnot_before = "window_end"',
            "steps[2].offset",
            DUE_AT_WINDOW_END,
        ),
        (
            'offset = "window_end"\nnot_before = "window_end"',
            'offset = "window_end"\nnot_before = "restriction_end"',
            "steps[1].offset",
            DUE_AT_RESTRICTION_END,
        ),
    ],
)
def test_not_before_must_match_the_kind_of_end_a_step_is_due_at(
    folder: Path, old: str, new: str, key: str, message: str
) -> None:
    path, problems = problems_of(folder, edit(SHIPPED, old, new))
    assert only(problems) == Problem(str(path), key, message)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('not_before = "window_end"\n', ""),
        ('not_before = "restriction_end"\n', ""),
        ('offset = "restriction_end"\n', 'offset = "restriction_end + 1h"\n'),
    ],
)
def test_not_before_is_optional_and_may_follow_an_anchored_offset(
    folder: Path, old: str, new: str
) -> None:
    policy = loads(folder, edit(SHIPPED, old, new))
    assert [step.id for step in policy.steps] == list(SHIPPED_STEP_TIMES)


OUT_OF_ORDER = (
    "steps must be in order of offset for every restriction length a clinic may set (30m to 7d)"
)


def test_steps_out_of_order_is_a_problem(folder: Path) -> None:
    header, steps = split_steps(SHIPPED)
    all_clear = step_text(steps, "all_clear")
    reordered = [all_clear, *(step for step in steps if step is not all_clear)]
    path, problems = problems_of(folder, join_steps(header, reordered))
    # The window_end step is not placed by offset: the avoid step after the all-clear is.
    assert only(problems) == Problem(str(path), "steps[1].offset", OUT_OF_ORDER)


def test_steps_in_order_only_for_short_restrictions_are_a_problem(folder: Path) -> None:
    # restriction_end then 5h: in order for a 4 h restriction, not for 24 h.
    header, steps = split_steps(SHIPPED)
    all_clear = step_text(steps, "all_clear")
    late = edit(all_clear, ALL_CLEAR, 'id = "late_check"\n')
    late = edit(
        late, 'offset = "restriction_end"\nnot_before = "restriction_end"\n', 'offset = "5h"\n'
    )
    at = steps.index(all_clear) + 1
    path, problems = problems_of(folder, join_steps(header, [*steps[:at], late, *steps[at:]]))
    assert only(problems) == Problem(str(path), "steps[3].offset", OUT_OF_ORDER)


def test_window_end_steps_are_not_placed_by_offset(folder: Path) -> None:
    # Window ends fall between the treatment and the last window end, wherever listed.
    header, steps = split_steps(SHIPPED)
    window_end = step_text(steps, "window_end")
    reordered = [step for step in steps if step is not window_end] + [window_end]
    policy = loads(folder, join_steps(header, reordered))
    assert [step.id for step in policy.steps] == [
        "avoid",
        "all_clear",
        "correction",
        "correction_looser",
        "correction_ended",
        "withdrawal",
        "window_end",
    ]


@pytest.mark.parametrize("when", ["tightened", "loosened", "ended", "withdrawn"])
def test_correction_steps_are_not_placed_by_offset(folder: Path, when: str) -> None:
    # The shipped corrections, due at 0m, follow the all-clear at restriction_end.
    policy = loads(folder, edit(SHIPPED, 'when = "tightened"', f'when = "{when}"'))
    assert [step.when for step in policy.steps][3] == when


def test_a_planned_step_after_the_all_clear_due_at_0m_is_out_of_order(folder: Path) -> None:
    text = edit(SHIPPED, 'when = "tightened"', 'when = "planned"')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "steps[3].offset", OUT_OF_ORDER)


def test_a_correction_step_does_not_reset_the_order_check(folder: Path) -> None:
    # all_clear, a correction at 0m, then a planned step at 0m: the planned step is
    # still checked against the all-clear.
    header, steps = split_steps(SHIPPED)
    avoid_again = edit(step_text(steps, "avoid"), AVOID, 'id = "avoid_again"\n')
    path, problems = problems_of(folder, join_steps(header, [*steps, avoid_again]))
    assert only(problems) == Problem(str(path), "steps[7].offset", OUT_OF_ORDER)


def test_duplicate_step_ids_are_a_problem(folder: Path) -> None:
    text = edit(SHIPPED, ALL_CLEAR, AVOID)
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "steps[2].id", "duplicate step id 'avoid'")


# --- strict loading: templates -------------------------------------------------------------

# A fragment of each template of the first step, and the variable in it to change.
FRAGMENTS = {
    "sms": ("{greeting}{avoid_windows}.", "avoid_windows"),
    "email_subject": ('"Your aftercare until {until}"', "until"),
    "email_body": ("{avoid_list}\n\nThis lowers the chance", "avoid_list"),
}


@pytest.mark.parametrize("field", list(FRAGMENTS))
def test_unknown_template_variable_is_a_problem(folder: Path, field: str) -> None:
    fragment, variable = FRAGMENTS[field]
    text = edit(SHIPPED, fragment, fragment.replace(f"{{{variable}}}", "{patient_full}"))
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path), f"steps[0].{field}", "unknown template variable {patient_full}"
    )


@pytest.mark.parametrize(
    ("old", "variable"),
    [
        ("you can {resumed} again", "{resumed}"),
        ("Please {still_avoid}.", "{still_avoid}"),
        ("{greeting}you can", "{greeting}"),
    ],
)
def test_unknown_template_variable_in_the_window_end_text_is_a_problem(
    folder: Path, old: str, variable: str
) -> None:
    text = edit_in(SHIPPED, WINDOW_END, old, old.replace(variable, "{window_name}"))
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path), "steps[1].sms", "unknown template variable {window_name}"
    )


@pytest.mark.parametrize("malformed", ["{{{name}:%H}}", "{0}", "{{{name}[0]}}", "{{{name}!r}}"])
@pytest.mark.parametrize("field", list(FRAGMENTS))
def test_malformed_template_field_is_a_problem(folder: Path, field: str, malformed: str) -> None:
    fragment, variable = FRAGMENTS[field]
    replacement = malformed.format(name=variable) if "name" in malformed else malformed
    text = edit(SHIPPED, fragment, fragment.replace(f"{{{variable}}}", replacement))
    path, problems = problems_of(folder, text)
    name = "0" if replacement == "{0}" else re.split(r"[:!]", replacement.strip("{}"))[0]
    assert only(problems) == Problem(
        str(path),
        f"steps[0].{field}",
        f"'{{{name}}}' must be a plain {{name}} with no format or index",
    )


# --- strict loading: files and folders -----------------------------------------------------


def test_treatment_not_matching_the_file_name_is_a_problem(folder: Path) -> None:
    text = edit(SHIPPED, 'treatment = "botox"', 'treatment = "dysport"')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "treatment", "must match the file name 'botox'")


def test_policy_copied_under_another_file_name_is_a_problem(folder: Path) -> None:
    path, problems = problems_of(folder, SHIPPED, name="dysport.toml")
    assert only(problems) == Problem(str(path), "treatment", "must match the file name 'dysport'")


def test_missing_source_file_is_a_problem(folder: Path) -> None:
    text = edit(
        SHIPPED,
        'source = "../sources/botox-exercise-answers.txt"',
        'source = "../sources/missing.txt"',
    )
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "source", "file '../sources/missing.txt' not found")


def test_source_is_resolved_next_to_the_policy_file(tmp_path: Path) -> None:
    # A copy without the sources folder beside it cannot find its relative source.
    policies = tmp_path / "policies"
    policies.mkdir()
    path, problems = problems_of(policies, SHIPPED)
    assert only(problems) == Problem(
        str(path), "source", "file '../sources/botox-exercise-answers.txt' not found"
    )


def test_without_a_source_the_other_checks_still_run(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    text = edit(SHIPPED, 'longest = "1d"', 'longest = "8d"')
    text = edit_in(text, POSTURE, 'length = "4h"', 'length = "4 hours"')
    path, problems = problems_of(policies, text)
    assert problems == [
        Problem(str(path), "source", "file '../sources/botox-exercise-answers.txt' not found"),
        Problem(str(path), "restriction.longest", BETWEEN),
        Problem(str(path), "windows[1].length", f"'4 hours' {NOT_A_DURATION}"),
    ]


def test_absolute_source_path_loads(tmp_path: Path) -> None:
    source = SOURCES / "botox-exercise-answers.txt"
    text = edit(SHIPPED, 'source = "../sources/botox-exercise-answers.txt"', f'source = "{source}"')
    write(tmp_path, text)
    policy_set, problems = check_policies(tmp_path)
    assert problems == []
    assert policy_set.treatments == ["botox"]


def test_invalid_toml_is_a_problem(folder: Path) -> None:
    path, problems = problems_of(folder, SHIPPED + '\n[[steps]\nid = "broken"\n')
    problem = only(problems)
    assert (problem.file, problem.key) == (str(path), "(file)")
    assert problem.message.startswith("not valid TOML: ")


def test_file_that_is_not_utf8_is_a_problem(folder: Path) -> None:
    path = folder / "botox.toml"
    path.write_bytes(SHIPPED.encode("utf-8").replace(b"Botox", b"B\xf6tox", 1))
    policy_set, problems = check_policies(folder)
    assert policy_set.policies == {}
    problem = only(problems)
    assert (problem.file, problem.key) == (str(path), "(file)")
    assert problem.message.startswith("not valid TOML: ")


def test_empty_folder_is_a_problem(folder: Path) -> None:
    policy_set, problems = check_policies(folder)
    assert policy_set.policies == {}
    assert problems == [Problem(str(folder), "(folder)", "no policy files (*.toml)")]


def test_folder_without_toml_files_is_a_problem(folder: Path) -> None:
    (folder / "README.md").write_text("notes\n", encoding="utf-8")
    (folder / "botox.toml.bak").write_text(SHIPPED, encoding="utf-8")
    _, problems = check_policies(folder)
    assert problems == [Problem(str(folder), "(folder)", "no policy files (*.toml)")]


def test_missing_folder_is_a_problem(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    policy_set, problems = check_policies(missing)
    assert policy_set.policies == {}
    assert problems == [Problem(str(missing), "(folder)", "policy folder not found")]


# --- every problem is reported -------------------------------------------------------------


def _many_semantic_problems() -> str:
    text = edit_in(SHIPPED, AVOID, 'offset = "0m"', 'offset = "soon"')
    text = edit_in(text, EXERTION_0, SYDNEY, 'clinician = "Sydney Surgeon"')
    text = edit(text, ALL_CLEAR, AVOID)
    text = edit_in(
        text, AVOID + 'offset = "restriction_end"', 'expires = "12h"', 'expires = "half a day"'
    )
    text = edit_in(text, WINDOW_END, 'Call {clinic_phone}"', 'Call {patient_full}"')
    text = edit(text, 'shortest = "4h"', 'shortest = "four hours"')
    text = edit(text, 'length = "4h"', 'length = "10m"')
    return edit_in(text, POSTURE_0, "four hours following", "two hours following")


MANY_KEYS = [
    "restriction.shortest",
    "windows[1].length",
    "windows[1].instructions[0].citations[0].quote",
    "windows[0].instructions[0].citations[3]",
    "steps[0].offset",
    "steps[1].sms",
    "steps[2].id",
    "steps[2].expires",
]


def test_several_problems_in_one_file_are_all_reported(folder: Path) -> None:
    path, problems = problems_of(folder, _many_semantic_problems())
    assert {p.file for p in problems} == {str(path)}
    assert sorted(p.key for p in problems) == sorted(MANY_KEYS)


def test_several_unknown_or_invalid_keys_in_one_file_are_all_reported(folder: Path) -> None:
    text = edit(SHIPPED, 'product_name = "Botox"\n', 'product_name = "Botox"\ncolour = "blue"\n')
    text = edit(text, AVOID, f'{AVOID}frequency = "daily"\n')
    text = edit_in(text, ALL_CLEAR, "may_wait = true\n", 'may_wait = "sometimes"\n')
    text = edit(text, POSTURE, f'{POSTURE}duration = "4h"\n')
    text = edit(text, 'longest = "1d"\n', 'longest = "1d"\ntypical = "4h"\n')
    text = edit(text, 'when = "tightened"', 'when = "tighter"')
    path, problems = problems_of(folder, text)
    assert {p.file for p in problems} == {str(path)}
    assert sorted(p.key for p in problems) == sorted(
        [
            "colour",
            "restriction.typical",
            "windows[1].duration",
            "steps[0].frequency",
            "steps[2].may_wait",
            "steps[3].when",
        ]
    )


def test_an_unknown_key_does_not_hide_the_other_problems_in_the_file(folder: Path) -> None:
    text = edit(SHIPPED, 'product_name = "Botox"\n', 'product_name = "Botox"\ncolour = "blue"\n')
    text = edit(text, POSTURE, f'{POSTURE}duration = "4h"\n')
    text = edit_in(text, AVOID, 'offset = "0m"', 'offset = "soon"')
    text = edit_in(text, EXERTION_0, SYDNEY, 'clinician = "Sydney Surgeon"')
    text = edit(text, 'longest = "1d"', 'longest = "8d"')
    path, problems = problems_of(folder, text)
    assert {p.file for p in problems} == {str(path)}
    assert sorted(p.key for p in problems) == sorted(
        [
            "colour",
            "windows[1].duration",
            "restriction.longest",
            "steps[0].offset",
            "windows[0].instructions[0].citations[3]",
        ]
    )


def test_problems_of_every_file_are_reported_and_good_files_still_load(folder: Path) -> None:
    write(folder, SHIPPED)
    broken = write(
        folder, edit(SHIPPED, 'treatment = "botox"', 'treatment = "fillers"'), "dysport.toml"
    )
    policy_set, problems = check_policies(folder)
    assert policy_set.treatments == ["botox"]
    assert problems == [Problem(str(broken), "treatment", "must match the file name 'dysport'")]


def test_load_policies_raises_config_error_naming_every_problem(folder: Path) -> None:
    write(folder, _many_semantic_problems())
    _, problems = check_policies(folder)
    assert len(problems) == len(MANY_KEYS)
    with pytest.raises(ConfigError, match="invalid policies") as caught:
        load_policies(folder)
    message = str(caught.value)
    for problem in problems:
        assert str(problem) in message


def test_load_policies_raises_config_error_for_an_empty_folder(folder: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("no policy files (*.toml)")):
        load_policies(folder)


def test_problem_reads_file_key_message() -> None:
    assert (
        str(Problem("p/botox.toml", "steps[0].offset", "bad"))
        == "p/botox.toml: steps[0].offset: bad"
    )


# --- the `reminders policies check` command ------------------------------------------------


@pytest.fixture
def broken_folder(folder: Path) -> Path:
    text = edit_in(SHIPPED, AVOID, 'offset = "0m"', 'offset = "4 hours"')
    text = edit(text, 'No exercise; call {clinic_phone}"', 'No exercise; call {patient_full}"')
    text = edit_in(text, EXERTION_0, SYDNEY, 'clinician = "Sydney Surgeon"')
    write(folder, text)
    return folder


def test_cli_check_of_shipped_folder_exits_zero_and_prints_ok(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(app, ["policies", "check"])
    assert result.exit_code == 0, result.output
    assert "1 policy file(s) OK" in result.stdout


def test_cli_check_with_directory_of_shipped_folder_exits_zero() -> None:
    result = CliRunner().invoke(app, ["policies", "check", "--directory", str(POLICIES)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout
    assert result.stderr == ""


def test_cli_check_of_broken_copy_exits_non_zero(broken_folder: Path) -> None:
    result = CliRunner().invoke(app, ["policies", "check", "--directory", str(broken_folder)])
    assert result.exit_code != 0
    assert "OK" not in result.stdout
    assert "3 problem(s)" in result.stderr


def test_cli_check_prints_each_problem_on_a_line_with_its_file_and_key(
    broken_folder: Path,
) -> None:
    _, problems = check_policies(broken_folder)
    assert [p.key for p in problems] == [
        "windows[0].instructions[0].citations[3]",
        "steps[0].offset",
        "steps[0].sms",
    ]
    result = CliRunner().invoke(app, ["policies", "check", "--directory", str(broken_folder)])
    lines = [line.rstrip() for line in result.stderr.splitlines()]
    for problem in problems:
        assert str(problem) in lines, result.stderr
