"""The published answers that policy citations point at: parsing, lookup, normalising."""

from __future__ import annotations

from pathlib import Path

import pytest

from reminders.sources import Answer, find_answer, load_answers, normalise, parse_answers

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "config" / "sources" / "botox-exercise-answers.txt"

SHIPPED_PAIRS = [
    ("Dangers of Exercise After Botox", "Memphis Plastic Surgeon"),
    ("Does exercise decrease the result of BOTOX", "Sydney Plastic Surgeon"),
    ("Exercise after Botox", "Seattle Facial Plastic Surgeon"),
    ("The Effects of Exercise on Botox and Results", "Redondo Beach Dermatologic Surgeon"),
    ("Exercise after Botox", "Beverly Hills Facial Plastic Surgeon"),
    ("Exercise after Botox treatments", "Los Angeles Facial Plastic Surgeon"),
    ("Yes you can exercise after botox.", "South Bend Facial Plastic Surgeon"),
    ("How soon can you exercise after Botox injection?", "Palm Springs Dermatologic Surgeon"),
    ("Exercising with Botox injections", "San Diego Dermatologic Surgeon"),
    ("Exercise 4 hours after Botox is not detrimental", "Manhattan Dermatologist"),
]


@pytest.fixture(scope="module")
def answers() -> list[Answer]:
    return load_answers(SOURCE)


def test_shipped_source_has_ten_answers(answers: list[Answer]) -> None:
    assert len(answers) == 10


def test_shipped_source_answers_have_their_heading_and_clinician_in_file_order(
    answers: list[Answer],
) -> None:
    assert [(a.heading, a.clinician) for a in answers] == SHIPPED_PAIRS


def test_shipped_source_includes_manhattan_dermatologist_answer(answers: list[Answer]) -> None:
    pair = ("Exercise 4 hours after Botox is not detrimental", "Manhattan Dermatologist")
    assert pair in [(a.heading, a.clinician) for a in answers]


def test_answer_line_is_the_one_based_line_of_its_heading(answers: list[Answer]) -> None:
    lines = SOURCE.read_text(encoding="utf-8").splitlines()
    for answer in answers:
        assert lines[answer.line - 1].strip() == answer.heading
    assert answers[0].line == 9


def test_answer_text_excludes_heading_clinician_and_rating(answers: list[Answer]) -> None:
    sydney = answers[1]
    assert sydney.text == (
        "I tell my patients to avoid strenuous activity for 24 hours. "
        "This is to avoid increased muscle activity and the rush of blood into the area. "
        "I believe this prevents dispersion and migration of the Botox, "
        "which makes it effective and longer lasting."
    )


def test_no_answer_text_contains_a_rating_or_the_page_preamble(answers: list[Answer]) -> None:
    for answer in answers:
        assert "out of 5 stars" not in answer.text
        assert "Doctor Answers" not in answer.text
        assert "educational purposes" not in answer.text


def test_two_answers_share_the_heading_exercise_after_botox(answers: list[Answer]) -> None:
    shared = [a.clinician for a in answers if a.heading == "Exercise after Botox"]
    assert shared == ["Seattle Facial Plastic Surgeon", "Beverly Hills Facial Plastic Surgeon"]


def test_find_answer_tells_apart_answers_sharing_a_heading(answers: list[Answer]) -> None:
    seattle = find_answer(
        answers, heading="Exercise after Botox", clinician="Seattle Facial Plastic Surgeon"
    )
    beverly = find_answer(
        answers, heading="Exercise after Botox", clinician="Beverly Hills Facial Plastic Surgeon"
    )
    assert seattle is not None
    assert beverly is not None
    assert seattle.clinician == "Seattle Facial Plastic Surgeon"
    assert beverly.clinician == "Beverly Hills Facial Plastic Surgeon"
    assert "limit your exercise activities for at least 4 hours" in seattle.text
    assert "The manufacturer recommends no exercise" in beverly.text
    assert "The manufacturer recommends" not in seattle.text


def test_find_answer_needs_heading_and_clinician_of_the_same_answer(
    answers: list[Answer],
) -> None:
    assert (
        find_answer(answers, heading="Exercise after Botox", clinician="Manhattan Dermatologist")
        is None
    )


def test_find_answer_returns_none_for_unknown_clinician(answers: list[Answer]) -> None:
    assert (
        find_answer(
            answers,
            heading="Does exercise decrease the result of BOTOX",
            clinician="Sydney Cosmetic Surgeon",
        )
        is None
    )


def test_find_answer_ignores_case_and_spacing(answers: list[Answer]) -> None:
    answer = find_answer(
        answers,
        heading="  exercise   AFTER botox ",
        clinician="beverly hills\tfacial plastic surgeon",
    )
    assert answer is not None
    assert answer.clinician == "Beverly Hills Facial Plastic Surgeon"


def test_normalise_folds_curly_single_quotes() -> None:
    assert normalise("We don\u2019t \u2018want\u2019 it") == "we don't 'want' it"


def test_normalise_folds_curly_double_quotes() -> None:
    assert normalise("\u201cstudies\u201d") == '"studies"'


def test_normalise_folds_whitespace_runs_and_trims() -> None:
    assert normalise("  one\t two\n\nthree\u00a0four  ") == "one two three four"


def test_normalise_lowercases() -> None:
    assert normalise("BOTOX Binds") == "botox binds"


def test_curly_apostrophe_in_source_matches_straight_quote_after_normalise(
    answers: list[Answer],
) -> None:
    palm = find_answer(
        answers,
        heading="How soon can you exercise after Botox injection?",
        clinician="Palm Springs Dermatologic Surgeon",
    )
    assert palm is not None
    assert "don\u2019t" in palm.text
    assert normalise("you just don't want any manipulation") in normalise(palm.text)


def test_parse_answers_without_answers_header_starts_at_top() -> None:
    text = "Heading one\nBody line.\nDoctor A\n5.0 out of 5 stars 3 reviews\n"
    assert parse_answers(text) == [Answer("Heading one", "Doctor A", "Body line.", 1)]


def test_parse_answers_skips_text_before_the_answers_header() -> None:
    text = (
        "Page title\n\nDoctor Answers (2)\n\n"
        "First\n\nBody one\nmore.\n\nDr One\n4.5 out of 5 stars 7 reviews\n\n"
        "Second\nBody two.\nDr Two\n5 out of 5 stars 1 review\n\nFooter text\n"
    )
    assert parse_answers(text) == [
        Answer("First", "Dr One", "Body one more.", 5),
        Answer("Second", "Dr Two", "Body two.", 13),
    ]


def test_parse_answers_of_text_without_ratings_is_empty() -> None:
    assert parse_answers("Doctor Answers (0)\n\nNothing here\n") == []
