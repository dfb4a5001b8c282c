"""How a message lists what to avoid, for how long, and what the patient may do again.

The policy gives the words for each thing (`avoid = ["lying flat", "bending over"]`);
this module puts them in sentences. Times and durations come in already written
("2:00 PM tomorrow", "4 hours"), so the same sentences serve planning, sending, and
the segment budget's longest case. Pure: strings in, strings out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Stretch:
    """Things avoided until one instant: the windows that end together, as words."""

    avoid: tuple[str, ...]
    remaining: str  # "4 hours"
    until: str  # "6:00 PM", "2:00 PM tomorrow"


def listed(items: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def avoid_sentence(stretches: Sequence[Stretch]) -> str:
    """The first text's instruction. One stretch: `for the next 4 hours (until 2:00 PM)
    please avoid a, b and c`. Several, soonest first: `until 6:00 PM avoid a and b; until
    2:00 PM tomorrow avoid c and d` (two times in one text leave no room to spare)."""
    if not stretches:
        return ""
    if len(stretches) == 1:
        [only] = stretches
        return (
            f"for the next {only.remaining} (until {only.until}) please avoid {listed(only.avoid)}"
        )
    return "; ".join(f"until {s.until} avoid {listed(s.avoid)}" for s in stretches)


def keep_avoiding_sentence(stretches: Sequence[Stretch]) -> str:
    """What still applies once a window has ended: `keep avoiding c and d until 2:00 PM
    tomorrow` (and, for more, `; also keep avoiding e until ...`)."""
    return "; ".join(
        f"{'' if i == 0 else 'also '}keep avoiding {listed(s.avoid)} until {s.until}"
        for i, s in enumerate(stretches)
    )


def avoid_block(stretches: Sequence[Stretch], *, keep: bool = False) -> str:
    """An email's list, one paragraph per stretch:

    Until 6:00 PM (the next 4 hours), please avoid:
    - lying flat;
    - bending over.
    """
    verb = "please keep avoiding" if keep else "please avoid"
    paragraphs = []
    for stretch in stretches:
        lines = [f"Until {stretch.until} (the next {stretch.remaining}), {verb}:"]
        last = len(stretch.avoid) - 1
        lines += [f"- {item}{'.' if i == last else ';'}" for i, item in enumerate(stretch.avoid)]
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)
