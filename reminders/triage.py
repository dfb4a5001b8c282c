"""Pure: a patient's reply and the triage policy in, what staff must know out.

A reply is read as lower-case words, apostrophes dropped ("can't" is "cant"), in
clauses split at punctuation and at "but"/"though"/"however", so "No, my eyelid is
drooping" keeps its flag. A match is taken back only when a negating word ("no",
"not", "don't"...) stands within NEGATION_REACH words before it in the same
clause: "no swelling", "I don't have any trouble breathing".

When in doubt this flags: a false alarm costs a call, a missed one costs a
patient. "My friend had swelling but I'm fine" is flagged, as is "no pain and
swelling"; only a negation next to the words it negates takes a flag away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

# How many words before a match a negation may stand: "no swelling" (1), "not any
# swelling" (2), "don't have any swelling" (3). Further, and "no improvement in the
# swelling" would lose its flag.
NEGATION_REACH = 3
NEGATIONS = frozenset(
    {
        "no",
        "not",
        "never",
        "without",
        "none",
        "nor",
        "neither",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "havent",
        "hasnt",
        "hadnt",
        "aint",
        "nothing",
    }
)
_CLAUSE_BREAK = re.compile(r"[.!?;:,()\n]+|\b(?:but|though|although|however|yet)\b")
_APOSTROPHES = re.compile(r"['\u2018\u2019`]")
_NOT_A_WORD = re.compile(r"[^a-z0-9]+")


class Category(StrEnum):
    """What a reply asks of staff, most urgent first."""

    EMERGENCY = "emergency"  # the patient is told to call the emergency number
    CLINICAL = "clinical"  # a sign the clinicians' answers ask to be seen by a doctor
    OPT_OUT_REQUEST = "opt_out_request"  # asks in words to stop texts: staff confirm
    ORDINARY = "ordinary"

    @property
    def flagged(self) -> bool:
        return self in (Category.EMERGENCY, Category.CLINICAL)


@dataclass(frozen=True)
class FlagCitation:
    """What a flag rests on: a clinician's answer under its heading, or the page's notice
    (`heading` and `clinician` None)."""

    quote: str
    heading: str | None = None
    clinician: str | None = None


@dataclass(frozen=True)
class Flag:
    id: str
    category: Category  # EMERGENCY or CLINICAL
    label: str  # as staff and the on-call clinician read it: "severe swelling"
    patterns: tuple[re.Pattern[str], ...]
    citations: tuple[FlagCitation, ...] = ()


@dataclass(frozen=True)
class TriagePolicy:
    flags: tuple[Flag, ...]
    opt_out_requests: tuple[re.Pattern[str], ...]
    version: str = ""

    def labels(self, flag_ids: tuple[str, ...] | list[str]) -> list[str]:
        """The flags' labels, as staff and on-call read them."""
        by_id = {flag.id: flag.label for flag in self.flags}
        return [by_id.get(flag_id, flag_id) for flag_id in flag_ids]

    def flags_named(self, flag_ids: tuple[str, ...] | list[str]) -> list[Flag]:
        """The flags with these ids, in that order; an id the policy no longer has is left
        out."""
        by_id = {flag.id: flag for flag in self.flags}
        return [by_id[flag_id] for flag_id in flag_ids if flag_id in by_id]


@dataclass(frozen=True)
class Triage:
    category: Category
    flags: tuple[str, ...] = ()  # ids of the flags matched, in the policy's order


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A policy's pattern, matched as whole words against the normalised reply."""
    return re.compile(rf"\b(?:{pattern})\b")


def clauses(text: str) -> list[str]:
    """The reply as clauses of lower-case words, apostrophes dropped."""
    text = _APOSTROPHES.sub("", text.lower())
    parts = (" ".join(_NOT_A_WORD.sub(" ", part).split()) for part in _CLAUSE_BREAK.split(text))
    return [part for part in parts if part]


def mentions(text_clauses: list[str], patterns: tuple[re.Pattern[str], ...]) -> bool:
    """Whether any pattern matches a clause without a negation just before it."""
    for clause in text_clauses:
        for pattern in patterns:
            for match in pattern.finditer(clause):
                before = clause[: match.start()].split()[-NEGATION_REACH:]
                if not NEGATIONS.intersection(before):
                    return True
    return False


def triage(text: str, policy: TriagePolicy) -> Triage:
    """Sort a reply: emergency, clinical flag, a request to stop texts, or ordinary."""
    text_clauses = clauses(text)
    matched = [flag for flag in policy.flags if mentions(text_clauses, flag.patterns)]
    for category in (Category.EMERGENCY, Category.CLINICAL):
        if any(flag.category is category for flag in matched):
            return Triage(category, tuple(flag.id for flag in matched))
    if mentions(text_clauses, policy.opt_out_requests):
        return Triage(Category.OPT_OUT_REQUEST)
    return Triage(Category.ORDINARY)
