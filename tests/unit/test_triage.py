"""Reply triage as a table: the shipped policy's flags, negations, variants, opt-out
requests in words; and the policy file's checks (citations word for word)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reminders.errors import ConfigError
from reminders.sources import parse_notice
from reminders.triage import Category, Triage, TriagePolicy, triage
from reminders.triage_policy import check_triage_file, load_triage, triage_path

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"

EMERGENCY, CLINICAL = Category.EMERGENCY, Category.CLINICAL
OPT_OUT, ORDINARY = Category.OPT_OUT_REQUEST, Category.ORDINARY


@pytest.fixture(scope="module")
def policy() -> TriagePolicy:
    return load_triage(CONFIG)


TABLE: list[tuple[str, Triage]] = [
    # The answers' red flags (Manhattan Dermatologist; Memphis Plastic Surgeon).
    ("I think I'm having an unusual reaction", Triage(CLINICAL, ("unusual-reaction",))),
    ("allergic reaction, rash on my forehead", Triage(CLINICAL, ("unusual-reaction",))),
    ("I have severe swelling", Triage(CLINICAL, ("swelling",))),
    ("my forehead is swollen", Triage(CLINICAL, ("swelling",))),
    ("it keeps swelling up", Triage(CLINICAL, ("swelling",))),
    ("I have a bruise", Triage(CLINICAL, ("bruising",))),
    ("really bruised where the needle went in", Triage(CLINICAL, ("bruising",))),
    ("bad bruising", Triage(CLINICAL, ("bruising",))),
    ("my left eyelid is drooping", Triage(CLINICAL, ("drooping-eyelid",))),
    ("Droopy eyelid this morning", Triage(CLINICAL, ("drooping-eyelid",))),
    ("my eyelid droops", Triage(CLINICAL, ("drooping-eyelid",))),
    ("my eyelid looks heavy", Triage(CLINICAL, ("drooping-eyelid",))),
    ("swelling and bruising", Triage(CLINICAL, ("swelling", "bruising"))),
    # Emergencies (not from the answers: the page's notice says call 911).
    ("I can't breathe", Triage(EMERGENCY, ("trouble-breathing",))),
    ("I cant breathe properly", Triage(EMERGENCY, ("trouble-breathing",))),
    ("having trouble breathing", Triage(EMERGENCY, ("trouble-breathing",))),
    ("it's hard to breathe", Triage(EMERGENCY, ("trouble-breathing",))),
    ("short of breath", Triage(EMERGENCY, ("trouble-breathing",))),
    ("it's hard to swallow", Triage(EMERGENCY, ("trouble-swallowing",))),
    ("difficulty swallowing since lunch", Triage(EMERGENCY, ("trouble-swallowing",))),
    ("trouble speaking", Triage(EMERGENCY, ("trouble-speaking",))),
    ("my speech is slurred", Triage(EMERGENCY, ("trouble-speaking",))),
    ("blurry vision", Triage(EMERGENCY, ("vision-changes",))),
    ("my vision is blurred", Triage(EMERGENCY, ("vision-changes",))),
    ("I have double vision", Triage(EMERGENCY, ("vision-changes",))),
    ("everything is blurry", Triage(EMERGENCY, ("vision-changes",))),
    # An emergency outranks a clinical flag; both are named.
    (
        "eyelid drooping and now double vision",
        Triage(EMERGENCY, ("vision-changes", "drooping-eyelid")),
    ),
    # Mixed case and punctuation.
    ("SWOLLEN!!!", Triage(CLINICAL, ("swelling",))),
    ("Can'T BrEaThE", Triage(EMERGENCY, ("trouble-breathing",))),
    ("bruising...?", Triage(CLINICAL, ("bruising",))),
    ("I don\u2019t know, it\u2019s swollen", Triage(CLINICAL, ("swelling",))),
    # Negations right before the sign take the flag away.
    ("no swelling", Triage(ORDINARY)),
    ("not bruised", Triage(ORDINARY)),
    ("I don't have any trouble breathing", Triage(ORDINARY)),
    ("no droopy eyelid at all", Triage(ORDINARY)),
    ("No swelling, no bruising, all good!", Triage(ORDINARY)),
    ("I didn't notice any bruising", Triage(ORDINARY)),
    ("nothing unusual", Triage(ORDINARY)),
    ("my eyelid isn't drooping", Triage(ORDINARY)),
    # A negation in another clause, or too far away, does not.
    ("No, my eyelid is drooping", Triage(CLINICAL, ("drooping-eyelid",))),
    ("no pain but some swelling", Triage(CLINICAL, ("swelling",))),
    ("no improvement in the swelling", Triage(CLINICAL, ("swelling",))),
    ("not sure, is bruising normal?", Triage(CLINICAL, ("bruising",))),
    # Erring on flagging: these cost a call, and are flagged on purpose. Who had the
    # swelling, or whether "no" reached both signs, is for a person to ask.
    ("my friend had swelling but I'm fine", Triage(CLINICAL, ("swelling",))),
    ("I don't have swelling and bruising", Triage(CLINICAL, ("bruising",))),
    # Asking in words to stop texts: for staff to confirm, never acted on alone.
    ("please stop texting me", Triage(OPT_OUT)),
    ("No more texts please", Triage(OPT_OUT)),
    ("unsubscribe me", Triage(OPT_OUT)),
    ("I don't want these messages", Triage(OPT_OUT)),
    ("please remove me from this list", Triage(OPT_OUT)),
    ("please don't stop texting me", Triage(ORDINARY)),
    # A sign with a request to stop is flagged: the sign matters more.
    ("stop texting me, my eye is drooping", Triage(CLINICAL, ("drooping-eyelid",))),
    # Ordinary replies.
    ("thanks", Triage(ORDINARY)),
    ("Thank you! See you next month", Triage(ORDINARY)),
    ("ok", Triage(ORDINARY)),
    ("", Triage(ORDINARY)),
    ("what time can I go to the gym?", Triage(ORDINARY)),
    ("I'm breathing fine and feel great", Triage(ORDINARY)),
]


@pytest.mark.parametrize(("reply", "expected"), TABLE, ids=[row[0] or "(empty)" for row in TABLE])
def test_triage_of_a_reply(policy: TriagePolicy, reply: str, expected: Triage) -> None:
    assert triage(reply, policy) == expected


def test_every_shipped_flag_has_a_row_in_the_table(policy: TriagePolicy) -> None:
    tested = {flag for _, expected in TABLE for flag in expected.flags}
    assert tested == {flag.id for flag in policy.flags}


def test_only_emergency_and_clinical_are_flagged() -> None:
    assert [c for c in Category if c.flagged] == [EMERGENCY, CLINICAL]


def test_the_shipped_triage_policy_has_no_problems() -> None:
    policy, problems = check_triage_file(triage_path(CONFIG))
    assert problems == []
    assert policy is not None
    assert policy.version.startswith("replies@")


def test_the_page_notice_is_what_follows_the_last_answer() -> None:
    text = (CONFIG / "sources" / "botox-exercise-answers.txt").read_text(encoding="utf-8")
    notice = parse_notice(text)
    assert "If you have a medical emergency, please call 911." in notice
    assert "out of 5 stars" not in notice
    assert "Manhattan Dermatologist" not in notice


def test_a_page_without_answers_has_no_notice() -> None:
    assert parse_notice("just a heading\n\nsome text\n") == ""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    shutil.copytree(CONFIG / "sources", tmp_path / "sources")
    shutil.copytree(CONFIG / "triage", tmp_path / "triage")
    return tmp_path


def _edit(config: Path, old: str, new: str) -> None:
    path = triage_path(config)
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _problems(config: Path) -> list[str]:
    _, problems = check_triage_file(triage_path(config))
    return [f"{p.key}: {p.message}" for p in problems]


def test_a_quote_not_in_the_cited_answer_is_a_problem(config: Path) -> None:
    _edit(config, "severe swelling or bruising after Botox", "severe swelling or bruises")
    assert _problems(config) == ["flags[4].citations[0].quote: quote not found in that answer"]


def test_a_quote_not_in_the_page_notice_is_a_problem(config: Path) -> None:
    _edit(config, "please call 911.", "please call 999.")
    assert _problems(config) == [
        "flags[0].citations[0].quote: quote not found in the page's notice"
    ]


def test_a_flag_from_the_answers_citing_only_the_notice_is_a_problem(config: Path) -> None:
    _edit(
        config,
        '  { heading = "Dangers of Exercise After Botox", clinician = "Memphis Plastic Surgeon", '
        'quote = "most notably',
        '  { notice = true, quote = "If you have a medical emergency, please call 911." },\n'
        '  { heading = "Dangers of Exercise After Botox", clinician = "Memphis Plastic Surgeon", '
        'quote = "most notably',
    )
    _edit(config, 'from_answers = true\nsays = "Botox moving', 'from_answers = false\nsays = "x')
    assert _problems(config) == ["flags[7].from_answers: is false, yet the flag cites an answer"]


def test_a_pattern_that_does_not_compile_is_a_problem(config: Path) -> None:
    _edit(config, '"swollen",', '"swollen(",')
    problems = _problems(config)
    assert len(problems) == 1
    assert problems[0].startswith("flags[5].patterns[1]: not a valid pattern")


def test_a_pattern_matching_an_empty_reply_is_a_problem(config: Path) -> None:
    _edit(config, '"hives",', '"(hives)?",')
    assert _problems(config) == ["flags[4].patterns[4]: matches an empty reply"]


def test_an_invalid_triage_policy_stops_loading_with_the_file_named(config: Path) -> None:
    _edit(config, '"swollen",', '"swollen(",')
    with pytest.raises(ConfigError, match=r"replies\.toml: flags"):
        load_triage(config)


def test_a_missing_triage_policy_stops_loading(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_triage(tmp_path)
