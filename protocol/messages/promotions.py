"""How HQ describes a promotion to a till: what it targets, what it gives, when it applies.

The pricing engine on the till (``edge/checkout``) evaluates these rules; this module only fixes
their shape on the wire. A promotion is a *target* (which items it looks at), a *reward* (what the
customer gets), *conditions* (when it is allowed) and *stacking rules* (what it combines with).

Stacking: promotions are considered in descending ``priority`` (ties by ``id``). An
``exclusive`` promotion that applies claims its items (or, at basket level, the basket) so nothing
else applies to them; within one ``stack_group`` at most one promotion applies to an item, and
the engine picks the one worth most to the customer. That is the whole rule set, so the outcome is
deterministic and explainable on the receipt.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocol.messages.base import (
    BasisPoints,
    Body,
    Count,
    Id,
    Name,
    NonNegAmount,
    ShortText,
    Sku,
    Timestamp,
    Version,
    Wire,
    check_snapshot_or_delta,
    exact,
)

ClockTime = Annotated[
    str,
    msgspec.Meta(pattern=exact(r"([01][0-9]|2[0-3]):[0-5][0-9]"), description="HH:MM, store time"),
]
Weekday = Annotated[int, msgspec.Meta(ge=1, le=7, description="ISO weekday: 1 Monday, 7 Sunday")]


class Target(Wire, frozen=True):
    """The items a promotion looks at: listed SKUs, whole categories, or every item."""

    skus: Annotated[list[Sku], msgspec.Meta(max_length=10_000)]
    categories: Annotated[list[Id], msgspec.Meta(max_length=500)]
    all_items: bool


class TimeWindow(Wire, frozen=True):
    """A recurring window in store-local time; ``end`` before ``start`` crosses midnight."""

    days: Annotated[list[Weekday], msgspec.Meta(max_length=7)]
    start: ClockTime
    end: ClockTime


class Conditions(Wire, frozen=True):
    """When a promotion may apply. Empty lists mean "no restriction"."""

    valid_from: Timestamp | None
    valid_to: Timestamp | None
    windows: Annotated[list[TimeWindow], msgspec.Meta(max_length=14)]
    min_spend: NonNegAmount | None
    min_qty: Count | None
    member_only: bool
    tiers: Annotated[list[Id], msgspec.Meta(max_length=20)]
    coupon: Literal["none", "code", "birthday"]
    coupon_code: ShortText | None
    """A shared code (``SUMMER10``); single-use codes are listed per member in the member cache."""
    stores: Annotated[list[Id], msgspec.Meta(max_length=10_000)]


class PercentOff(Wire, tag="percent_off", tag_field="type", frozen=True):
    """A percentage off each targeted item (item level) or off the basket (basket level)."""

    basis_points: BasisPoints


class AmountOff(Wire, tag="amount_off", tag_field="type", frozen=True):
    """A fixed amount off each targeted unit (item level) or off the basket (basket level)."""

    amount: NonNegAmount


class FixedPrice(Wire, tag="fixed_price", tag_field="type", frozen=True):
    """A special unit price (member prices); never raises a price above the book price."""

    unit_price: NonNegAmount


class MultiBuy(Wire, tag="multi_buy", tag_field="type", frozen=True):
    """``quantity`` targeted units for ``price`` ("3 for 5.00"); mixes SKUs of the target."""

    quantity: Annotated[int, msgspec.Meta(ge=2, le=1000)]
    price: NonNegAmount


class BuyGet(Wire, tag="buy_get", tag_field="type", frozen=True):
    """Buy ``buy`` targeted units, get ``get`` units at ``discount_bp`` off (10000 = free).

    The discounted units are the cheapest eligible ones when ``cheapest`` is set (the customer
    gets the cheapest free), the most expensive otherwise; ``reward_target`` names other items
    as the reward ("buy a phone, get a case half price").
    """

    buy: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    get: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    discount_bp: BasisPoints
    cheapest: bool
    reward_target: Target | None


Reward = PercentOff | AmountOff | FixedPrice | MultiBuy | BuyGet


class Promotion(Wire, frozen=True):
    """One promotion with its rules; ``version`` changes whenever HQ edits it."""

    id: Id
    version: Version
    name: Name
    level: Literal["item", "basket"]
    target: Target
    reward: Reward
    conditions: Conditions
    priority: Annotated[int, msgspec.Meta(ge=-1000, le=1000)]
    exclusive: bool
    stack_group: Id | None
    max_applications: Count | None

    def __post_init__(self) -> None:
        if self.level == "basket" and not isinstance(self.reward, PercentOff | AmountOff):
            raise ValueError("a basket-level promotion gives percent off or amount off")


class PromotionSet(Body, frozen=True):
    """The promotions a till runs: a full snapshot, or changes since ``base_version``."""

    TYPE = "promotion_set"
    VERSION = 1

    mode: Literal["snapshot", "delta"]
    base_version: Version | None
    promotions: Annotated[list[Promotion], msgspec.Meta(max_length=20_000)]
    removed: Annotated[list[Id], msgspec.Meta(max_length=20_000)]

    def __post_init__(self) -> None:
        check_snapshot_or_delta(self.mode, self.base_version, self.removed)
        ids = [p.id for p in self.promotions]
        if len(ids) != len(set(ids)):
            raise ValueError("a promotion set lists each promotion id once")
