"""What a scale said, and its weight text turned into integer grams without floats.

Scales send decimal text (``01.234`` kg). Converting it with ``float`` can turn 1.005 kg into
1004 g; here it is integer arithmetic on the digits, so 1.005 kg is 1005 g, always. A reading
finer than a gram (``1.2345`` kg from a 0.1 g scale) is not silently rounded: by default it is
refused, because the till prices whole grams and the customer saw the scale's display; a till
that knowingly uses such a scale configures ``sub_gram = "round_down"`` (towards zero, in the
customer's favour).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class ScaleState(StrEnum):
    STABLE = "stable"
    MOTION = "motion"
    UNDER_ZERO = "under_zero"
    OVER_CAPACITY = "over_capacity"
    ERROR = "error"
    """The scale answered but reports a fault (zero error, EEPROM, an unusable unit...)."""
    NO_ANSWER = "no_answer"
    """Nothing came back in time, or the port is offline."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One answer: the state, and the weight in grams when the scale sent one.

    ``grams`` is ``None`` for status-only replies (Toledo sends no weight while in motion; the
    answer to a zero command is a status). ``net`` is true when a tare is active.
    """

    state: ScaleState
    grams: int | None = None
    net: bool = False
    detail: str = ""


class Unit(StrEnum):
    """The unit a scale sends its weight in. Pounds are refused: not exactly convertible."""

    KG = "kg"
    G = "g"


class SubGram(StrEnum):
    """What to do with a reading finer than a gram."""

    REJECT = "reject"
    ROUND_DOWN = "round_down"


class WeightError(ValueError):
    """Weight text that is not a weight this till can use (malformed, too fine, too big)."""


MAX_DIGITS = 9
"""More digits than any POS scale displays; bounds the integers built from the text."""

_WEIGHT = re.compile(r"(-?)([0-9]+)(?:\.([0-9]*))?|(-?)\.([0-9]+)")
_GRAMS_PER = {Unit.KG: 1000, Unit.G: 1}
_POW10: tuple[int, ...] = tuple(10**n for n in range(MAX_DIGITS + 1))


def to_grams(text: str, unit: Unit, sub_gram: SubGram = SubGram.REJECT) -> int:
    """``text`` (``[-]digits[.digits]``, as the scale sent it) in whole grams, exactly."""
    m = _WEIGHT.fullmatch(text)
    if m is None:
        raise WeightError(f"not a weight: {text!r}")
    sign, whole, frac = (m[1], m[2], m[3] or "") if m[2] is not None else (m[4], "0", m[5])
    if len(whole) + len(frac) > MAX_DIGITS:
        raise WeightError(f"weight has more than {MAX_DIGITS} digits: {text!r}")
    scaled = int(whole + frac) * _GRAMS_PER[unit]
    grams, rest = divmod(scaled, _POW10[len(frac)])
    if rest and sub_gram is SubGram.REJECT:
        raise WeightError(f"{text} {unit.value} is finer than a gram")
    return -grams if sign else grams
