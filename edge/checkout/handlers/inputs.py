"""Checks on what a person keys in, shared by the handlers (patterns equal to the wire's)."""

from __future__ import annotations

import re

from edge.checkout.batch import Refused
from protocol.money import MAX_ABS_MINOR

MASKED_PAN = re.compile(r"[0-9]{0,6}[*]{4,13}[0-9]{0,4}")


def check_amount(amount: int, what: str, *, allow_zero: bool = False) -> None:
    """Amounts from a keypad: integers within the money bound, positive unless allowed zero."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise Refused(f"{what} must be a whole number of cents")
    if amount < 0 or (amount == 0 and not allow_zero) or amount > MAX_ABS_MINOR:
        raise Refused(f"{what} must be {'zero or ' if allow_zero else ''}more than zero")
