"""Promotions as the till evaluates them: compiled once, indexed by what they target.

HQ sends :class:`protocol.messages.promotions.Promotion` structs. A till prices a basket on every
scan, against thousands of promotions, so everything that does not depend on the sale is done
here once per promotion set: duplicates resolved, the global order fixed, lists turned into
sets, clock times into seconds, and every promotion filed under the SKUs and categories it
targets so that a basket only ever looks at the promotions that can touch it.

The *conditions* of a promotion (validity, time windows, member, tier, coupon, store, minimum
spend) are checked here too, against the :class:`~edge.checkout.pricing.PricingContext`.
``min_qty`` needs the basket's units and is checked by the pricer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from protocol.messages.promotions import (
    AmountOff,
    BuyGet,
    MultiBuy,
    PercentOff,
    Promotion,
    Reward,
    Target,
    TimeWindow,
)

if TYPE_CHECKING:
    from edge.checkout.pricing import PricingContext

__all__ = ["Rule", "RuleIndex", "Window", "compile_rules", "conditions_met"]

_DAY = 24 * 3600
_BIRTHDAY = re.compile(r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")


def _seconds(clock: str) -> int:
    """``"HH:MM"`` (already validated by the wire schema) as seconds after midnight."""
    hours, minutes = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60


@dataclass(frozen=True, slots=True)
class Window:
    """A recurring store-local time window, in seconds after midnight.

    ``start <= t < end`` on the listed ISO weekdays (none listed: every day). When ``end`` is
    before ``start`` the window crosses midnight and belongs to the day it *starts*: a Friday
    22:00-02:00 happy hour is open Friday 22:00 until Saturday 02:00, and not on Friday 01:00
    (that hour belongs to Thursday's window). ``start == end`` is a full 24 hours from ``start``
    (``00:00-00:00`` is the whole day) — a zero-length window would be a promotion that can
    never apply, which no one enters on purpose.
    """

    days: frozenset[int]
    start: int
    end: int

    @classmethod
    def of(cls, window: TimeWindow) -> Window:
        return cls(frozenset(window.days), _seconds(window.start), _seconds(window.end))

    def _day_listed(self, weekday: int) -> bool:
        return not self.days or weekday in self.days

    def contains(self, now: datetime) -> bool:
        """True if the wall-clock time of ``now`` (store-local) is inside this window."""
        t = now.hour * 3600 + now.minute * 60 + now.second
        today = now.isoweekday()
        yesterday = (today - 2) % 7 + 1
        if self.start < self.end:
            return self._day_listed(today) and self.start <= t < self.end
        # Crosses midnight (or is 24 h long): the part after midnight belongs to yesterday.
        return (self._day_listed(today) and t >= self.start) or (
            self._day_listed(yesterday) and t < self.end
        )


@dataclass(frozen=True, slots=True)
class Rule:
    """One promotion compiled for evaluation; ``rank`` is its place in the global order.

    The global order is descending ``priority``, ties by ``id`` (the wire's stacking rule). It is
    fixed here, from the promotions' own fields only, so the order in which HQ listed them can
    never change a price.
    """

    promotion: Promotion
    rank: int
    basket: bool
    exclusive: bool
    group: str | None
    cap: int | None
    skus: frozenset[str]
    categories: frozenset[str]
    all_items: bool
    reward_target: Target | None
    windows: tuple[Window, ...]
    coupon_code: str | None
    tiers: frozenset[str]
    stores: frozenset[str]

    @property
    def id(self) -> str:
        return self.promotion.id

    @property
    def reward(self) -> Reward:
        return self.promotion.reward

    @property
    def per_piece_only(self) -> bool:
        """Multi-buy and buy-get count pieces: weighed and fixed-gross lines take no part."""
        return isinstance(self.promotion.reward, MultiBuy | BuyGet)

    @property
    def usable(self) -> bool:
        """False for a rule that can never grant anything, so the pricer never looks at it.

        ``max_applications == 0`` grants nothing; a basket-level promotion can only give a
        percentage or an amount off (a basket has no unit price, groups or "get" units), so a
        basket-level fixed price, multi-buy or buy-get is ignored — HQ should refuse to send one
        (see the report on the wire shape).
        """
        if self.cap == 0:
            return False
        return not (self.basket and not isinstance(self.promotion.reward, PercentOff | AmountOff))

    def targets(self, sku: str, category: str | None) -> bool:
        return (
            self.all_items
            or sku in self.skus
            or (category is not None and category in self.categories)
        )


def _fold(code: str) -> str:
    """Coupon codes match case-insensitively and ignore surrounding spaces (as keyed/scanned)."""
    return code.strip().casefold()


def _pick(promotions: Iterable[Promotion]) -> list[Promotion]:
    """One promotion per id, independent of input order.

    A promotion set should not repeat an id; if it does (a delta applied twice, a bug at HQ),
    the highest ``version`` wins because HQ bumps it on every edit; for the same version the
    choice is by the struct's text, which is arbitrary but never depends on list order.
    """
    best: dict[str, Promotion] = {}
    for promotion in promotions:
        seen = best.get(promotion.id)
        if seen is None or (promotion.version, repr(promotion)) > (seen.version, repr(seen)):
            best[promotion.id] = promotion
    return list(best.values())


def compile_rules(promotions: Iterable[Promotion]) -> tuple[Rule, ...]:
    """Compile, de-duplicate and order a promotion set (descending priority, ties by id)."""
    ordered = sorted(_pick(promotions), key=lambda p: (-p.priority, p.id))
    rules = []
    for rank, p in enumerate(ordered):
        c = p.conditions
        reward = p.reward
        rules.append(
            Rule(
                promotion=p,
                rank=rank,
                basket=p.level == "basket",
                exclusive=p.exclusive,
                group=p.stack_group,
                cap=p.max_applications,
                skus=frozenset(p.target.skus),
                categories=frozenset(p.target.categories),
                all_items=p.target.all_items,
                reward_target=reward.reward_target if isinstance(reward, BuyGet) else None,
                windows=tuple(Window.of(w) for w in c.windows),
                coupon_code=_fold(c.coupon_code) if c.coupon_code else None,
                tiers=frozenset(c.tiers),
                stores=frozenset(c.stores),
            )
        )
    return tuple(rules)


def _birthday_month(birthday: str | None) -> int | None:
    if birthday is None or not _BIRTHDAY.fullmatch(birthday):
        return None
    return int(birthday[:2])


def conditions_met(rule: Rule, ctx: PricingContext, subtotal: int) -> tuple[bool, str | None]:
    """Whether ``rule``'s conditions (all but ``min_qty``) hold, and the coupon that unlocked it.

    * ``valid_from <= now < valid_to``, compared as instants (half-open, so back-to-back
      promotions never overlap).
    * ``windows``: any one must contain the store-local wall-clock time (see :class:`Window`).
    * ``min_spend``: the basket subtotal of *gross* line amounts (before any discount, including
      non-discountable lines) must be at least ``min_spend`` — reaching it exactly qualifies.
    * ``member_only``: a member is identified on the sale. ``tiers`` (non-empty): the member's
      tier is listed. ``stores`` (non-empty): this store is listed.
    * coupon ``"code"``: a presented coupon whose code equals ``coupon_code`` (case-insensitive)
      or whose ``promotion_id`` names this promotion (a member's single-use coupon).
    * coupon ``"birthday"``: a member whose birthday (``"MM-DD"``) falls in the current calendar
      month. No coupon needs presenting; if a presented coupon names this promotion it is
      attributed (and so consumed), which is how HQ can make a birthday treat once-only.

    The coupon returned is the first presented coupon (in presentation order) that matches, as
    it was keyed, so the receipt and the used-coupon list show what the cashier entered.
    """
    p = rule.promotion
    c = p.conditions
    now = ctx.now
    if rule.stores and ctx.store_id not in rule.stores:
        return False, None
    if c.valid_from is not None and now < c.valid_from:
        return False, None
    if c.valid_to is not None and now >= c.valid_to:
        return False, None
    if rule.windows and not any(w.contains(now) for w in rule.windows):
        return False, None
    if c.min_spend is not None and subtotal < c.min_spend:
        return False, None
    member = ctx.member
    if (c.member_only or rule.tiers) and member is None:
        return False, None
    if rule.tiers and (member is None or member.tier not in rule.tiers):
        return False, None
    named = (
        next((cp.code for cp in ctx.coupons if cp.promotion_id == p.id), None)
        if ctx.coupons  # (most sales present none: skip building the generator)
        else None
    )
    if c.coupon == "code":
        for coupon in ctx.coupons:
            if coupon.promotion_id == p.id or (
                rule.coupon_code is not None and _fold(coupon.code) == rule.coupon_code
            ):
                return True, coupon.code
        return False, None
    if c.coupon == "birthday":
        if member is None or _birthday_month(member.birthday) != now.month:
            return False, None
        return True, named
    return True, None


class RuleIndex:
    """Rules filed under what they target, built once per promotion set.

    ``by_sku`` and ``by_category`` hold the rules that name a SKU or category; ``everything``
    the ``all_items`` ones (item- and basket-level alike: a basket-level rule is only worth
    looking at when one of its target lines is in the basket). ``reward_*`` index the
    ``reward_target`` of buy-get rules, which may name other items than the ones bought.
    Unusable rules (see :attr:`Rule.usable`) are left out.
    """

    __slots__ = (
        "by_category",
        "by_sku",
        "everything",
        "reward_by_category",
        "reward_by_sku",
        "reward_everything",
    )

    def __init__(self, rules: Sequence[Rule]) -> None:
        by_sku: dict[str, list[int]] = {}
        by_category: dict[str, list[int]] = {}
        r_sku: dict[str, list[int]] = {}
        r_category: dict[str, list[int]] = {}
        everything: list[int] = []
        r_everything: list[int] = []
        for rule in rules:
            if not rule.usable:
                continue
            if rule.all_items:
                everything.append(rule.rank)
            else:
                for sku in rule.skus:
                    by_sku.setdefault(sku, []).append(rule.rank)
                for category in rule.categories:
                    by_category.setdefault(category, []).append(rule.rank)
            rt = rule.reward_target
            if rt is not None:
                if rt.all_items:
                    r_everything.append(rule.rank)
                else:
                    for sku in rt.skus:
                        r_sku.setdefault(sku, []).append(rule.rank)
                    for category in rt.categories:
                        r_category.setdefault(category, []).append(rule.rank)
        self.by_sku = {k: tuple(v) for k, v in by_sku.items()}
        self.by_category = {k: tuple(v) for k, v in by_category.items()}
        self.everything = tuple(everything)
        self.reward_by_sku = {k: tuple(v) for k, v in r_sku.items()}
        self.reward_by_category = {k: tuple(v) for k, v in r_category.items()}
        self.reward_everything = tuple(r_everything)
