"""Loyalty arithmetic: points earned on a sale, what points are worth, what a refund reverses.

Points are earned per whole currency unit of each line's net (after discounts), multiplied by
the line's category multiplier and the member's tier multiplier (percentages, 100 = x1), and
rounded down per line: a customer never earns a fraction, and per-line rounding is what lets a
refund of one line reverse exactly what that line earned.
"""

from __future__ import annotations

from edge.checkout.config import LoyaltyConfig
from protocol.money import Rounding, divide


def line_points(
    net: int, category: str | None, tier: str | None, rules: LoyaltyConfig, exponent: int
) -> int:
    """Points earned by one line with ``net`` minor units (0 for zero or negative nets)."""
    if net <= 0 or rules.points_per_unit <= 0:
        return 0
    category_pct = rules.category_multipliers_pct.get(category or "", 100)
    tier_pct = rules.tier_multipliers_pct.get(tier or "", 100)
    numerator = net * rules.points_per_unit * category_pct * tier_pct
    return divide(numerator, 10**exponent * 100 * 100, Rounding.DOWN)


def points_value(points: int, rules: LoyaltyConfig) -> int:
    """What ``points`` are worth in minor units when redeemed."""
    return points * rules.redeem_minor_per_point


def share(whole: int, part_before: int, part_after: int, total: int) -> int:
    """The slice of ``whole`` that belongs to the step from ``part_before`` to ``part_after``
    out of ``total``, such that the slices of all steps add up to ``whole`` exactly.

    Refunding a line in pieces (2 of 5 today, 3 tomorrow) must reverse exactly the line's
    amount, tax and points in the end; telescoping floors guarantee it.
    """
    if total <= 0:
        return 0
    before = divide(whole * part_before, total, Rounding.DOWN)
    after = divide(whole * part_after, total, Rounding.DOWN)
    return after - before
