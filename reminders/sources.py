"""Reads the clinicians' published answers that policy instructions cite.

The file is a saved Q&A page: each answer is a heading line, the answer text,
then the clinician line ("Manhattan Dermatologist") directly above a rating
line ("5.0 out of 5 stars 31 reviews"). An answer is cited by heading and
clinician together, since two answers may share a heading.

What follows the last answer is the page's own notice (its disclaimer): no
clinician wrote it, so it is cited as the page's notice, never as an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_RATING = re.compile(r"^\d(\.\d)? out of 5 stars")
_ANSWERS_START = re.compile(r"^Doctor Answers \(\d+\)$")


@dataclass(frozen=True)
class Answer:
    heading: str
    clinician: str
    text: str
    line: int  # 1-based line of the heading, for error messages


def parse_answers(text: str) -> list[Answer]:
    lines = [line.strip() for line in text.splitlines()]
    start = next((i + 1 for i, line in enumerate(lines) if _ANSWERS_START.match(line)), 0)
    answers = []
    block_start = start
    for i in range(start, len(lines)):
        if not _RATING.match(lines[i]) or i == 0:
            continue
        block = [
            (n, line) for n, line in enumerate(lines[block_start : i - 1], block_start) if line
        ]
        if block:
            heading_index, heading = block[0]
            body = " ".join(line for _, line in block[1:])
            answers.append(Answer(heading, lines[i - 1], body, heading_index + 1))
        block_start = i + 1
    return answers


def parse_notice(text: str) -> str:
    """The page's notice: the text after the last answer's rating line, folded to one line."""
    lines = [line.strip() for line in text.splitlines()]
    last = max((i for i, line in enumerate(lines) if _RATING.match(line)), default=None)
    if last is None:
        return ""
    return " ".join(line for line in lines[last + 1 :] if line)


def load_notice(path: Path) -> str:
    return parse_notice(path.read_text(encoding="utf-8"))


def load_answers(path: Path) -> list[Answer]:
    return parse_answers(path.read_text(encoding="utf-8"))


def normalise(text: str) -> str:
    """Fold white space and typographic quotes so a quote matches its source."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"')
    text = text.replace("\u201d", '"')
    return " ".join(text.split()).lower()


def find_answer(answers: list[Answer], *, heading: str, clinician: str) -> Answer | None:
    for answer in answers:
        if normalise(answer.heading) == normalise(heading) and normalise(
            answer.clinician
        ) == normalise(clinician):
            return answer
    return None
