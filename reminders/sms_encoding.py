"""What an SMS costs: GSM-7 or UCS-2 encoding, and how many segments.

One character outside GSM-7 (a curly quote, an en dash, a non-breaking space,
an emoji) turns the whole message into UCS-2, cutting a segment from 160 to 70
characters: a two-segment text can become four. Extension characters
(`{ } [ ] ~ \\ | ^ €` and form feed) take two GSM-7 units.
"""

from __future__ import annotations

from dataclasses import dataclass

# Two segments: 306 GSM-7 characters. Every text costs what two cost, no more.
SEGMENT_BUDGET = 2

# GSM 03.38 basic character set.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# Characters that word processors slip in, with the GSM-7 text to use instead.
LOOKALIKES = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u00a0": " ",
    "\u2026": "...",
}


@dataclass(frozen=True)
class SmsCost:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # GSM-7 septets or UCS-2 code units
    segments: int
    non_gsm: tuple[str, ...]  # the characters that forced UCS-2

    def describe(self) -> str:
        return f"{self.encoding}, {self.units} units, {self.segments} segment(s)"


def sms_cost(text: str) -> SmsCost:
    non_gsm = tuple(sorted({ch for ch in text if ch not in GSM7_BASIC | GSM7_EXTENSION}))
    if non_gsm:
        # UTF-16 code units: characters beyond the BMP (most emoji) count twice.
        units = len(text.encode("utf-16-le")) // 2
        return SmsCost("UCS-2", units, _segments(units, single=70, multi=67), non_gsm)
    units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
    return SmsCost("GSM-7", units, _segments(units, single=160, multi=153), ())


def _segments(units: int, *, single: int, multi: int) -> int:
    if units <= single:
        return 1
    return -(-units // multi)


def describe_char(ch: str) -> str:
    hint = LOOKALIKES.get(ch)
    name = f"U+{ord(ch):04X}"
    return f"{name} {ch!r}" + (f" (use {hint!r})" if hint else "")
