"""Hand-checked pricing scenarios: one basket, one promotion set, the numbers a shop expects.

Every case carries a one-line explanation of its arithmetic; the expected amounts were worked
out by hand from that line (integer cents, HALF_UP where a percentage or tax rounds), not read
off the engine. The builders at the top are shared with ``test_pricing.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from edge.checkout.pricing import (
    BasketLine,
    MemberInfo,
    PresentedCoupon,
    PricedBasket,
    Pricer,
    PricingContext,
    TaxSettings,
)
from protocol.messages.promotions import (
    AmountOff,
    BuyGet,
    FixedPrice,
    MultiBuy,
    PercentOff,
    Promotion,
    Target,
    TimeWindow,
)
from protocol.money import Rounding, round_cash
from tests.factories import promo

# --------------------------------------------------------------------------- builders

CET = dt.timezone(dt.timedelta(hours=1))  # the store's local offset in March
FRI_NOON = dt.datetime(2026, 3, 6, 12, 0, tzinfo=CET)  # 2026-03-06 is a Friday
RATES = {"std": 190_000, "red": 70_000, "zero": 0, "ny": 88_750}
INCL = TaxSettings(prices_include_tax=True, per_receipt=False, rates_ppm=RATES)
INCL_RECEIPT = TaxSettings(prices_include_tax=True, per_receipt=True, rates_ppm=RATES)
EXCL = TaxSettings(prices_include_tax=False, per_receipt=False, rates_ppm=RATES)
EXCL_RECEIPT = TaxSettings(prices_include_tax=False, per_receipt=True, rates_ppm=RATES)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """Store-local time on 2026-03-``day`` (2 = Monday ... 6 = Friday, 7 = Saturday)."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=CET)


def line(
    no: int,
    sku: str,
    unit_price: int,
    qty: int = 1,
    *,
    category: str | None = None,
    tax_class: str = "std",
    uom: str = "ea",
    price_per: int = 1,
    override: int | None = None,
    discountable: bool = True,
) -> BasketLine:
    return BasketLine(
        line_no=no,
        sku=sku,
        category=category,
        tax_class=tax_class,
        qty=qty,
        uom=uom,
        unit_price=unit_price,
        price_per=price_per,
        gross_override=override,
        discountable=discountable,
    )


def context(
    now: dt.datetime = FRI_NOON,
    member: MemberInfo | None = None,
    coupons: tuple[PresentedCoupon, ...] = (),
    store: str = "s1",
) -> PricingContext:
    return PricingContext(now=now, store_id=store, member=member, coupons=coupons)


def member(tier: str | None = None, birthday: str | None = None) -> MemberInfo:
    return MemberInfo(member_id="m-1", tier=tier, birthday=birthday)


def pct(bp: int) -> PercentOff:
    return PercentOff(basis_points=bp)


def off(amount: int) -> AmountOff:
    return AmountOff(amount=amount)


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    """One scenario. Only the expectations given are checked; ``total`` always is."""

    why: str
    lines: tuple[BasketLine, ...]
    total: int
    promos: tuple[Promotion, ...] = ()
    ctx: PricingContext = field(default_factory=context)
    tax: TaxSettings = INCL
    nets: tuple[int, ...] | None = None
    discounts: Mapping[int, Mapping[str, int]] | None = None  # line_no -> promotion -> amount
    tax_total: int | None = None
    line_taxes: tuple[int, ...] | None = None
    rows: tuple[tuple[str, int, int, int], ...] | None = None  # class, net, tax, gross
    coupons: tuple[str, ...] | None = None
    cash: tuple[int, int] | None = None  # (coin, total after round_cash HALF_UP)


MILK = line(1, "MILK", 499, 2, category="dairy")
CANS7 = line(1, "CAN", 200, 7, category="drinks")
BEER2 = line(1, "BEER", 150, 2, category="drinks")
HAPPY = promo(
    "happy", pct(5000), skus=("BEER",), windows=[TimeWindow(days=[], start="17:00", end="19:00")]
)
LATE = promo(
    "late", pct(5000), skus=("BEER",), windows=[TimeWindow(days=[5], start="22:00", end="02:00")]
)
WEEKEND = promo(
    "weekend",
    pct(5000),
    skus=("BEER",),
    windows=[TimeWindow(days=[6, 7], start="09:00", end="18:00")],
)
TWENTY = (line(1, "SHIRT", 1200, category="apparel"), line(2, "SOCKS", 800, category="apparel"))
SUMMER = promo("summer", pct(1000), all_items=True, coupon="code", coupon_code="SUMMER10")
WELCOME = promo("p-welcome", off(500), all_items=True, level="basket", coupon="code")
BIRTHDAY = promo("bday", pct(1500), all_items=True, coupon="birthday")
SPEND = promo("spend50", off(500), all_items=True, level="basket", min_spend=5000)
SODA = promo("soda3", pct(1000), skus=("SODA",), min_qty=3)
X10 = line(1, "X", 1000)
GROUP_TIE = (
    promo("a-promo", pct(1000), skus=("X",), group="price"),
    promo("b-promo", pct(1000), skus=("X",), group="price"),
)
CARD = line(1, "CARD", 199)
TENTHS = (line(1, "A", 10), line(2, "B", 10), line(3, "C", 10))
SIXES = (
    line(1, "A", 6, tax_class="ny"),
    line(2, "B", 6, tax_class="ny"),
    line(3, "C", 6, tax_class="ny"),
)

CASES: dict[str, Case] = {
    # --- basics
    "empty-basket": Case("no lines: every amount is 0", (), 0, nets=(), tax_total=0, rows=()),
    "no-promotions": Case(
        "3×1.99 + 4.50 = 10.47, nothing discounted",
        (line(1, "A", 199, 3), line(2, "B", 450)),
        1047,
        nets=(597, 450),
    ),
    "zero-price-item": Case(
        "free bag 0.00 + 10.00 at 10 % off everything: 1.00 off, the bag gets no 0.00 discount",
        (line(1, "BAG", 0), line(2, "X", 1000)),
        900,
        (promo("all10", pct(1000), all_items=True),),
        nets=(0, 900),
        discounts={1: {}, 2: {"all10": 100}},
    ),
    # --- item-level rewards
    "percent-off-sku": Case(
        "10 % off 2×4.99 = 9.98: 0.998 rounds half-up to 1.00 → 8.98",
        (MILK,),
        898,
        (promo("milk10", pct(1000), skus=("MILK",)),),
        discounts={1: {"milk10": 100}},
    ),
    "percent-off-rounds-per-line": Case(
        "10 % off 3×0.35 = 1.05 per line: 0.105 → 0.11 (per unit it would be 3×0.04) → 0.94",
        (line(1, "GUM", 35, 3),),
        94,
        (promo("gum10", pct(1000), skus=("GUM",)),),
    ),
    "amount-off-per-unit": Case(
        "0.50 off each of 3×2.00 = 1.50 off → 4.50",
        (line(1, "JAM", 200, 3),),
        450,
        (promo("jam50", off(50), skus=("JAM",)),),
    ),
    "amount-off-capped-at-price": Case(
        "1.00 off each of 2×0.79: capped at 0.79 a unit, the line goes to 0.00, not below",
        (line(1, "LOLLY", 79, 2), line(2, "X", 100)),
        100,
        (promo("lolly", off(100), skus=("LOLLY",)),),
        nets=(0, 100),
    ),
    "amount-off-weighed-per-line": Case(
        "500 g at 8.99/kg = 4.495 → 4.50; 1.00 off a weighed line is per line → 3.50",
        (line(1, "BRIE", 899, 500, category="cheese", uom="g", price_per=1000),),
        350,
        (promo("cheese1", off(100), categories=("cheese",)),),
    ),
    "member-price": Case(
        "member price 1.99 on 3×2.49: (2.49 - 1.99)×3 = 1.50 off → 5.97",
        (line(1, "COFFEE", 249, 3),),
        597,
        (promo("mprice", FixedPrice(unit_price=199), skus=("COFFEE",), member_only=True),),
        ctx=context(member=member()),
        discounts={1: {"mprice": 150}},
    ),
    "member-price-needs-member": Case(
        "same member price, no member on the sale: 3×2.49 = 7.47",
        (line(1, "COFFEE", 249, 3),),
        747,
        (promo("mprice", FixedPrice(unit_price=199), skus=("COFFEE",), member_only=True),),
    ),
    "fixed-price-never-raises": Case(
        "fixed price 2.99 on a 2.49 item is not lower: 2.49 stays",
        (line(1, "TEA", 249),),
        249,
        (promo("tea", FixedPrice(unit_price=299), skus=("TEA",)),),
        discounts={1: {}},
    ),
    "multi-buy-3-for-5": Case(
        "3 for 5.00 on 2.00 cans, 7 cans: two groups save 2×1.00, 1 can full price → 12.00",
        (CANS7,),
        1200,
        (promo("can3", MultiBuy(quantity=3, price=500), skus=("CAN",)),),
    ),
    "multi-buy-mixes-skus-expensive-first": Case(
        "3 for 5.00 over A 2×2.50, B 2×1.50: group 2.50+2.50+1.50 saves 1.50 split 58/58/34 → 6.50",
        (line(1, "A", 250, 2), line(2, "B", 150, 2)),
        650,
        (promo("mix3", MultiBuy(quantity=3, price=500), skus=("A", "B")),),
        nets=(384, 266),
        discounts={1: {"mix3": 116}, 2: {"mix3": 34}},
    ),
    "multi-buy-never-negative": Case(
        "2 for 5.00 on 2×2.00 = 4.00 is no saving: no group is formed → 4.00",
        (line(1, "C", 200, 2),),
        400,
        (promo("bad2", MultiBuy(quantity=2, price=500), skus=("C",)),),
        discounts={1: {}},
    ),
    "multi-buy-max-applications": Case(
        "3 for 5.00 at most once, 7 cans at 2.00: one group saves 1.00 → 13.00",
        (CANS7,),
        1300,
        (promo("can3", MultiBuy(quantity=3, price=500), skus=("CAN",), cap=1),),
    ),
    "buy-2-get-cheapest-free": Case(
        "buy 2 get 1 free over 3.00, 2.00, 1.00: the cheapest (1.00) is free → 5.00",
        (
            line(1, "S1", 300, category="snacks"),
            line(2, "S2", 200, category="snacks"),
            line(3, "S3", 100, category="snacks"),
        ),
        500,
        (
            promo(
                "b2g1",
                BuyGet(buy=2, get=1, discount_bp=10000, cheapest=True, reward_target=None),
                categories=("snacks",),
            ),
        ),
        nets=(300, 200, 0),
    ),
    "buy-1-get-1-cheapest-overall": Case(
        "BOGOF over 10, 9, 2, 1: two groups, the two cheapest units (2.00 + 1.00) free → 19.00",
        (
            line(1, "T1", 1000, category="toys"),
            line(2, "T2", 900, category="toys"),
            line(3, "T3", 200, category="toys"),
            line(4, "T4", 100, category="toys"),
        ),
        1900,
        (
            promo(
                "bogof",
                BuyGet(buy=1, get=1, discount_bp=10000, cheapest=True, reward_target=None),
                categories=("toys",),
            ),
        ),
        nets=(1000, 900, 0, 0),
    ),
    "buy-get-most-expensive-half": Case(
        "buy 1 get 1 half price, most expensive rewarded: 4.00 at 50 % → 2.00 off → 4.00",
        (line(1, "P1", 400, category="pans"), line(2, "P2", 200, category="pans")),
        400,
        (
            promo(
                "pan",
                BuyGet(buy=1, get=1, discount_bp=5000, cheapest=False, reward_target=None),
                categories=("pans",),
            ),
        ),
        nets=(200, 200),
    ),
    "buy-get-reward-target": Case(
        "buy a 199.00 phone, get a 20.00 case half price: 10.00 off the case → 209.00",
        (line(1, "PHONE", 19900), line(2, "CASE", 2000)),
        20900,
        (
            promo(
                "phonecase",
                BuyGet(
                    buy=1,
                    get=1,
                    discount_bp=5000,
                    cheapest=True,
                    reward_target=Target(skus=["CASE"], categories=[], all_items=False),
                ),
                skus=("PHONE",),
            ),
        ),
        nets=(19900, 1000),
    ),
    # --- targets
    "category-target": Case(
        "20 % off dairy: milk 2.38 → 0.476≈0.48, cheese 3.49 → 0.698≈0.70, bread 2.50 → 7.19",
        (
            line(1, "MILK", 119, 2, category="dairy"),
            line(2, "GOUDA", 349, category="dairy"),
            line(3, "BREAD", 250, category="bakery"),
        ),
        719,
        (promo("dairy20", pct(2000), categories=("dairy",)),),
        nets=(190, 279, 250),
    ),
    "all-items-target": Case(
        "5 % off everything: 10.00 → 0.50, 3.33 → 0.1665≈0.17 → 9.50 + 3.16 = 12.66",
        (line(1, "A", 1000), line(2, "B", 333)),
        1266,
        (promo("all5", pct(500), all_items=True),),
        nets=(950, 316),
    ),
    # --- members
    "tier-discount-gold": Case(
        "gold tier 10 % off 8.00 → 7.20",
        (line(1, "WINE", 800),),
        720,
        (promo("gold", pct(1000), all_items=True, tiers=["gold"]),),
        ctx=context(member=member(tier="gold")),
    ),
    "tier-discount-silver-excluded": Case(
        "gold-only 10 %, member is silver → 8.00",
        (line(1, "WINE", 800),),
        800,
        (promo("gold", pct(1000), all_items=True, tiers=["gold"]),),
        ctx=context(member=member(tier="silver")),
    ),
    # --- time
    "happy-hour-inside": Case(
        "17:00-19:00 half price, Friday 17:30: 2×1.50 = 3.00 → 1.50",
        (BEER2,),
        150,
        (HAPPY,),
        ctx=context(now=at(6, 17, 30)),
    ),
    "happy-hour-end-is-exclusive": Case(
        "17:00-19:00 half price, at 19:00 it is over → 3.00",
        (BEER2,),
        300,
        (HAPPY,),
        ctx=context(now=at(6, 19, 0)),
    ),
    "window-crosses-midnight": Case(
        "Friday 22:00-02:00 half price, Saturday 01:30 is Friday's window → 1.50",
        (BEER2,),
        150,
        (LATE,),
        ctx=context(now=at(7, 1, 30)),
    ),
    "window-belongs-to-start-day": Case(
        "Friday 22:00-02:00, Friday 01:30 belongs to Thursday's window (not listed) → 3.00",
        (BEER2,),
        300,
        (LATE,),
        ctx=context(now=at(6, 1, 30)),
    ),
    "weekday-filter": Case(
        "weekend-only half price (days 6, 7), Friday noon → 3.00",
        (BEER2,),
        300,
        (WEEKEND,),
    ),
    "weekday-filter-saturday": Case(
        "weekend-only half price (days 6, 7), Saturday noon → 1.50",
        (BEER2,),
        150,
        (WEEKEND,),
        ctx=context(now=at(7, 12)),
    ),
    "date-range-inside": Case(
        "valid 2026-03-01..2026-03-07, Friday 6th noon: 10 % off 9.98 → 8.98",
        (MILK,),
        898,
        (
            promo(
                "march",
                pct(1000),
                skus=("MILK",),
                valid_from=at(1, 0),
                valid_to=at(7, 0),
            ),
        ),
    ),
    "date-range-end-is-exclusive": Case(
        "valid_to 11:00Z is the same instant as 12:00+01:00 = now: expired → 9.98",
        (MILK,),
        998,
        (
            promo(
                "ends",
                pct(1000),
                skus=("MILK",),
                valid_to=dt.datetime(2026, 3, 6, 11, 0, tzinfo=dt.UTC),
            ),
        ),
    ),
    "store-filter": Case(
        "promotion for store s2 only, this is s1 → 9.98",
        (MILK,),
        998,
        (promo("s2only", pct(1000), skus=("MILK",), stores=["s2"]),),
    ),
    # --- coupons
    "shared-coupon-code": Case(
        "SUMMER10 keyed as 'summer10': 10 % off 12.00 + 8.00 = 2.00 off → 18.00",
        TWENTY,
        1800,
        (SUMMER,),
        ctx=context(coupons=(PresentedCoupon("summer10", None),)),
        coupons=("summer10",),
        discounts={1: {"summer": 120}, 2: {"summer": 80}},
    ),
    "shared-coupon-not-presented": Case(
        "SUMMER10 not presented → 20.00, no coupon used",
        TWENTY,
        2000,
        (SUMMER,),
        coupons=(),
    ),
    "single-use-member-coupon": Case(
        "member coupon M-7Q2X names p-welcome: 5.00 off 20.00, split 3.00/2.00 by net → 15.00",
        TWENTY,
        1500,
        (WELCOME,),
        ctx=context(member=member(), coupons=(PresentedCoupon("M-7Q2X", "p-welcome"),)),
        nets=(900, 600),
        coupons=("M-7Q2X",),
    ),
    "birthday-coupon": Case(
        "birthday 03-15, it is March: 15 % off 12.00 + 8.00 = 1.80 + 1.20 → 17.00",
        TWENTY,
        1700,
        (BIRTHDAY,),
        ctx=context(member=member(birthday="03-15")),
    ),
    "birthday-coupon-other-month": Case(
        "birthday 04-01, it is March → 20.00",
        TWENTY,
        2000,
        (BIRTHDAY,),
        ctx=context(member=member(birthday="04-01")),
    ),
    # --- thresholds and caps
    "min-spend-just-under": Case(
        "5.00 off from 50.00, subtotal 49.99 → no discount",
        (line(1, "A", 4999),),
        4999,
        (SPEND,),
    ),
    "min-spend-reached": Case(
        "5.00 off from 50.00, subtotal exactly 50.00 → 45.00",
        (line(1, "A", 3000), line(2, "B", 2000)),
        4500,
        (SPEND,),
        nets=(2700, 1800),
    ),
    "min-qty-not-met": Case(
        "10 % off from 3 sodas, 2 in the basket → 2.00",
        (line(1, "SODA", 100, 2),),
        200,
        (SODA,),
    ),
    "min-qty-met": Case(
        "10 % off from 3 sodas, 3 in the basket: 3.00 → 0.30 off → 2.70",
        (line(1, "SODA", 100, 3),),
        270,
        (SODA,),
    ),
    "max-applications-units": Case(
        "1.00 off each, at most 2 units, 5×3.00 = 15.00 → 13.00",
        (line(1, "SOAP", 300, 5),),
        1300,
        (promo("soap", off(100), skus=("SOAP",), cap=2),),
    ),
    "max-applications-most-valuable": Case(
        "50 % off one item: the 6.00 one, not the 4.00 one → 3.00 off → 7.00",
        (line(1, "LAMP", 400, category="home"), line(2, "VASE", 600, category="home")),
        700,
        (promo("half1", pct(5000), categories=("home",), cap=1),),
        nets=(400, 300),
    ),
    # --- stacking
    "exclusive-wins-when-larger": Case(
        "exclusive 30 % (3.00) vs stacked 10 % + 10 % (1.00 + 0.90): exclusive → 7.00",
        (X10,),
        700,
        (
            promo("excl30", pct(3000), skus=("X",), exclusive=True),
            promo("p10a", pct(1000), skus=("X",), priority=5),
            promo("p10b", pct(1000), skus=("X",), priority=5),
        ),
        discounts={1: {"excl30": 300}},
    ),
    "stackables-win-when-larger": Case(
        "exclusive 15 % (1.50) vs stacked 10 % + 10 % (1.00 + 0.90 = 1.90): stack → 8.10",
        (X10,),
        810,
        (
            promo("excl15", pct(1500), skus=("X",), exclusive=True, priority=9),
            promo("p10a", pct(1000), skus=("X",)),
            promo("p10b", pct(1000), skus=("X",)),
        ),
        discounts={1: {"p10a": 100, "p10b": 90}},
    ),
    "exclusive-claims-only-its-units": Case(
        "exclusive 3 for 5.00 takes 6 of 7 cans (2.00 off), 10 % on the 7th (0.20) → 11.80",
        (CANS7,),
        1180,
        (
            promo("can3", MultiBuy(quantity=3, price=500), skus=("CAN",), exclusive=True),
            promo("drinks10", pct(1000), categories=("drinks",)),
        ),
        discounts={1: {"can3": 200, "drinks10": 20}},
    ),
    "exclusive-item-vs-everything-offer": Case(
        "exclusive 30 % on X (3.00) + 10 % on everything else (1.00 on Y) → 16.00",
        (X10, line(2, "Y", 1000)),
        1600,
        (
            promo("x30", pct(3000), skus=("X",), exclusive=True),
            promo("all10", pct(1000), all_items=True, priority=50),
        ),
        nets=(700, 900),
    ),
    "stack-group-larger-wins": Case(
        "group 'price': member price 1.79 (0.20 off) vs 20 % of 1.99 (0.398≈0.40): 20 % → 1.59",
        (CARD,),
        159,
        (
            promo("mp", FixedPrice(unit_price=179), skus=("CARD",), group="price", priority=9),
            promo("p20", pct(2000), skus=("CARD",), group="price"),
        ),
        ctx=context(member=member()),
        discounts={1: {"p20": 40}},
    ),
    "stack-group-larger-wins-other-way": Case(
        "group 'price': member price 1.49 (0.50 off) vs 20 % (0.40), lower priority wins → 1.49",
        (CARD,),
        149,
        (
            promo("mp", FixedPrice(unit_price=149), skus=("CARD",), group="price"),
            promo("p20", pct(2000), skus=("CARD",), group="price", priority=9),
        ),
        discounts={1: {"mp": 50}},
    ),
    "stack-group-choice-is-per-unit": Case(
        "group: 10 % dairy vs 30 % milk: milk takes 30 % (0.60), cheese 10 % (0.50) → 5.90",
        (line(1, "MILK", 200, category="dairy"), line(2, "GOUDA", 500, category="dairy")),
        590,
        (
            promo("dairy10", pct(1000), categories=("dairy",), group="g", priority=5),
            promo("milk30", pct(3000), skus=("MILK",), group="g"),
        ),
        discounts={1: {"milk30": 60}, 2: {"dairy10": 50}},
    ),
    "priority-breaks-a-tie": Case(
        "same group, both 10 % of 10.00: equal value, b-promo has priority 5 → b-promo",
        (X10,),
        900,
        (GROUP_TIE[0], promo("b-promo", pct(1000), skus=("X",), group="price", priority=5)),
        discounts={1: {"b-promo": 100}},
    ),
    "id-breaks-a-tie": Case(
        "same group, both 10 % of 10.00, same priority: id a-promo before b-promo → a-promo",
        (X10,),
        900,
        GROUP_TIE[::-1],
        discounts={1: {"a-promo": 100}},
    ),
    # --- basket level
    "basket-amount-remainder-to-earliest": Case(
        "1.00 off a basket of 3×3.00 lines: 33⅓ each, the odd cent to line 1 → 34/33/33",
        (line(1, "A", 300), line(2, "B", 300), line(3, "C", 300)),
        800,
        (promo("b1", off(100), all_items=True, level="basket"),),
        nets=(266, 267, 267),
    ),
    "basket-percent-largest-remainder": Case(
        "10 % off 3.33 + 6.67 = 1.00, shares 33.3 / 66.7 → 33 / 67 (largest remainder)",
        (line(1, "A", 333), line(2, "B", 667)),
        900,
        (promo("b10", pct(1000), all_items=True, level="basket"),),
        nets=(300, 600),
    ),
    "basket-after-item-level": Case(
        "A 10.00 -10 % = 9.00; then 10 % off 9.00 + 5.00 = 1.40 split 0.90/0.50 → 12.60",
        (line(1, "A", 1000), line(2, "B", 500)),
        1260,
        (
            promo("a10", pct(1000), skus=("A",)),
            promo("b10", pct(1000), all_items=True, level="basket", priority=99),
        ),
        nets=(810, 450),
    ),
    "exclusive-basket-beats-items": Case(
        "exclusive basket 20 % (3.00 of 15.00) vs 10 % on items (1.50): basket alone → 12.00",
        (line(1, "A", 1000), line(2, "B", 500)),
        1200,
        (
            promo("staff20", pct(2000), all_items=True, level="basket", exclusive=True),
            promo("all10", pct(1000), all_items=True),
        ),
        discounts={1: {"staff20": 200}, 2: {"staff20": 100}},
    ),
    "items-beat-exclusive-basket": Case(
        "exclusive basket 5 % (0.75) vs 10 % on items (1.50): items → 13.50",
        (line(1, "A", 1000), line(2, "B", 500)),
        1350,
        (
            promo("staff5", pct(500), all_items=True, level="basket", exclusive=True, priority=9),
            promo("all10", pct(1000), all_items=True),
        ),
        discounts={1: {"all10": 100}, 2: {"all10": 50}},
    ),
    "exclusive-item-not-in-basket-offer": Case(
        "exclusive 50 % on X 4.00 (2.00); basket 10 % only on Y 6.00 (0.60) → 2.00 + 5.40 = 7.40",
        (line(1, "X", 400), line(2, "Y", 600)),
        740,
        (
            promo("x50", pct(5000), skus=("X",), exclusive=True),
            promo("b10", pct(1000), all_items=True, level="basket"),
        ),
        discounts={1: {"x50": 200}, 2: {"b10": 60}},
    ),
    "stack-group-across-levels": Case(
        "group 'coupon': 20 % off A (6.00) and 5.00 off the basket share no unit: basket takes "
        "B only (5.00) → 50.00 - 11.00 = 39.00",
        (line(1, "A", 3000), line(2, "B", 2000)),
        3900,
        (
            promo("a20", pct(2000), skus=("A",), group="coupon"),
            promo("b5", off(500), all_items=True, level="basket", group="coupon", priority=9),
        ),
        discounts={1: {"a20": 600}, 2: {"b5": 500}},
    ),
    # --- weighed, embedded prices, non-discountable
    "weighed-percent-off": Case(
        "1234 g at 8.99/kg = 11.09366 → 11.09; 10 % = 1.109 → 1.11 → 9.98",
        (line(1, "HAM", 899, 1234, uom="g", price_per=1000),),
        998,
        (promo("ham10", pct(1000), skus=("HAM",)),),
    ),
    "weighed-not-in-multi-buy": Case(
        "2 for 5.00 on produce: 1500 g apples at 2.99/kg = 4.485 → 4.49 untouched; 2×3.00 → 5.00",
        (
            line(1, "APPLE", 299, 1500, category="produce", uom="g", price_per=1000),
            line(2, "MELON", 300, 2, category="produce"),
        ),
        949,
        (promo("prod2", MultiBuy(quantity=2, price=500), categories=("produce",)),),
        nets=(449, 500),
    ),
    "embedded-price-skipped-by-multi-buy": Case(
        "3 for 5.00: the 3.27 price-embedded can is not a piece, 2 cans make no group → 7.27",
        (line(1, "CAN", 200, override=327), line(2, "CAN", 200, 2)),
        727,
        (promo("can3", MultiBuy(quantity=3, price=500), skus=("CAN",)),),
        nets=(327, 400),
    ),
    "non-discountable-untouched": Case(
        "10 % off everything: 10.00 → 9.00; the 5.00 open-price line is not discountable → 14.00",
        (line(1, "A", 1000), line(2, "OPEN", 500, discountable=False)),
        1400,
        (promo("all10", pct(1000), all_items=True),),
        nets=(900, 500),
    ),
    # --- tax
    "tax-inclusive-per-line": Case(
        "3 lines of 0.10 at 19 % incl.: each 0.10×19/119 = 0.016 → 0.02, tax 0.06",
        TENTHS,
        30,
        tax=INCL,
        tax_total=6,
        line_taxes=(2, 2, 2),
        rows=(("std", 24, 6, 30),),
    ),
    "tax-inclusive-per-receipt": Case(
        "same 3×0.10 per receipt: 0.30×19/119 = 0.0479 → 0.05 (a cent less), split 2/2/1",
        TENTHS,
        30,
        tax=INCL_RECEIPT,
        tax_total=5,
        line_taxes=(2, 2, 1),
        rows=(("std", 25, 5, 30),),
    ),
    "tax-exclusive-8875": Case(
        "10.00 + 8.875 % = 0.8875 → 0.89 tax, total 10.89",
        (line(1, "HAT", 1000, tax_class="ny"),),
        1089,
        tax=EXCL,
        tax_total=89,
        rows=(("ny", 1000, 89, 1089),),
    ),
    "tax-exclusive-per-line": Case(
        "3 lines of 0.06 at 8.875 % excl.: each 0.005325 → 0.01, tax 0.03, total 0.21",
        SIXES,
        21,
        tax=EXCL,
        tax_total=3,
        line_taxes=(1, 1, 1),
    ),
    "tax-exclusive-per-receipt": Case(
        "same 3×0.06 per receipt: 0.18 × 8.875 % = 0.015975 → 0.02, split 1/1/0, total 0.20",
        SIXES,
        20,
        tax=EXCL_RECEIPT,
        tax_total=2,
        line_taxes=(1, 1, 0),
    ),
    "two-tax-classes": Case(
        "11.90 at 19 % holds 1.90, 10.70 at 7 % holds 0.70: tax 2.60, rows sorted red, std",
        (line(1, "TV", 1190), line(2, "BOOK", 1070, tax_class="red")),
        2260,
        tax_total=260,
        rows=(("red", 1000, 70, 1070), ("std", 1000, 190, 1190)),
    ),
    "zero-rated-class": Case(
        "5.00 zero-rated (tax 0.00) + 11.90 at 19 % (1.90) → tax 1.90, total 16.90",
        (line(1, "STAMP", 500, tax_class="zero"), line(2, "TV", 1190)),
        1690,
        tax_total=190,
        rows=(("std", 1000, 190, 1190), ("zero", 500, 0, 500)),
    ),
    "discount-then-tax": Case(
        "11.90 -10 % = 10.71 incl. 19 %: tax 10.71×19/119 = 1.71 → net 9.00",
        (line(1, "TV", 1190),),
        1071,
        (promo("tv10", pct(1000), skus=("TV",)),),
        tax_total=171,
        rows=(("std", 900, 171, 1071),),
    ),
    # --- cash rounding of the total (round_cash, HALF_UP)
    "cash-5-cents-down": Case(
        "total 12.32 paid in cash to 5 cents → 12.30",
        (line(1, "A", 1232),),
        1232,
        cash=(5, 1230),
    ),
    "cash-5-cents-up": Case(
        "total 12.33 to 5 cents → 12.35 (a 5-cent coin has no exact half in whole cents)",
        (line(1, "A", 1233),),
        1233,
        cash=(5, 1235),
    ),
    "cash-10-cents-exact-half": Case(
        "total 12.35 to 10 cents: exactly half → up to 12.40",
        (line(1, "A", 1235),),
        1235,
        cash=(10, 1240),
    ),
    "cash-whole-krona-exact-half": Case(
        "SEK 12.50 to whole kronor: exactly half → up to 13.00",
        (line(1, "A", 1250),),
        1250,
        cash=(100, 1300),
    ),
    "cash-whole-krona-down": Case(
        "SEK 99.49 to whole kronor → 99.00",
        (line(1, "A", 9949),),
        9949,
        cash=(100, 9900),
    ),
}


def _check(priced: PricedBasket, case: Case) -> None:
    assert priced.total == case.total
    if case.nets is not None:
        assert tuple(p.net for p in priced.lines) == case.nets
    if case.discounts is not None:
        for p in priced.lines:
            expected = case.discounts.get(p.line_no)
            if expected is not None:
                assert {d.promotion_id: d.amount for d in p.discounts} == dict(expected)
    if case.tax_total is not None:
        assert priced.tax_total == case.tax_total
    if case.line_taxes is not None:
        assert tuple(p.tax for p in priced.lines) == case.line_taxes
    if case.rows is not None:
        assert tuple((r.tax_class, r.net, r.tax, r.gross) for r in priced.taxes) == case.rows
    if case.coupons is not None:
        assert priced.coupons_used == case.coupons
    if case.cash is not None:
        coin, expected_cash = case.cash
        assert round_cash(priced.total, coin, Rounding.HALF_UP) == expected_cash
    # The bookkeeping holds in every scenario too.
    assert priced.subtotal == sum(p.gross for p in priced.lines)
    assert priced.discount_total == sum(d.amount for p in priced.lines for d in p.discounts)
    for p in priced.lines:
        assert 0 <= p.net <= p.gross
        assert p.net == p.gross - sum(d.amount for d in p.discounts)
    assert sum(p.tax for p in priced.lines) == priced.tax_total == sum(r.tax for r in priced.taxes)


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_scenario(case: Case) -> None:
    priced = Pricer(case.promos).price(case.lines, case.ctx, case.tax)
    _check(priced, case)


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_scenario_does_not_depend_on_promotion_order(case: Case) -> None:
    forward = Pricer(case.promos).price(case.lines, case.ctx, case.tax)
    assert Pricer(case.promos[::-1]).price(case.lines, case.ctx, case.tax) == forward


def test_there_are_enough_scenarios() -> None:
    assert len(CASES) >= 45
    assert all(case.why and "\n" not in case.why for case in CASES.values())
