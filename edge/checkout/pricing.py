"""The till's pricing engine: a basket, the promotions HQ sent and the moment -> what is owed.

Pure: no I/O, no clock (the time comes in :class:`PricingContext`), no randomness, and
deterministic — the same basket, context and promotion set give the identical result however
the promotions were ordered. Money is ``int`` minor units throughout; every rounding and split
is :mod:`protocol.money`'s (in the hot loops computed inline with identical results, where its
argument checks cannot fail: see "trusted arithmetic" in :mod:`edge.checkout.rewards`).

How a basket is priced (details in the modules named):

1. Each line's **gross** is ``divide(unit_price × qty, price_per, HALF_UP)``, or its
   ``gross_override`` (price-embedded barcode, open price). The **subtotal** is the sum of all
   gross amounts, discountable or not.
2. **Candidates**: the promotions indexed under the basket's SKUs and categories (and the
   ``all_items`` ones) whose conditions hold (:func:`~edge.checkout.promotion_rules.
   conditions_met`) and that can touch at least one discountable line. ``min_qty`` counts the
   discountable *units* of the target in the basket (pieces of an "ea" line; a weighed or
   fixed-gross line is one unit), before any promotion claims them.
3. **Rewards** (:mod:`edge.checkout.rewards`) apply to units: item-level first, then
   basket-level on the net after item-level discounts; weighed lines take part only in percent
   off, amount off and fixed price, fixed-gross lines only in percent off and amount off
   (the barcode fixes the amount, there is no unit price to fix), non-discountable lines in
   nothing.
4. **Conflicts** between exclusive promotions, stack groups and the rest are resolved by
   :mod:`edge.checkout.stacking`, which documents the order and exactly what "best for the
   customer" it guarantees.
5. **Tax** (:mod:`edge.checkout.tax`) per line or per receipt, inclusive or exclusive.

Invariants of every :class:`PricedBasket` (asserted by the property tests): ``0 <= net <=
gross`` and ``net == gross - sum(discounts)`` per line; ``subtotal == sum(gross)``;
``discount_total`` is the sum of every discount; ``sum(line.tax) == tax_total ==
sum(row.tax)``; ``net + tax == gross`` per tax row; ``total == sum(net)`` for prices including
tax and ``sum(net) + tax_total`` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from edge.checkout.promotion_rules import Rule, RuleIndex, compile_rules, conditions_met
from edge.checkout.rewards import ANY, EXCLUSIVE, TOUCHED, Candidate, LineFacts, trusted_reward
from edge.checkout.stacking import resolve
from edge.checkout.tax import compute_taxes
from protocol.errors import MoneyError
from protocol.messages.promotions import BuyGet, FixedPrice, Promotion
from protocol.money import MAX_ABS_MINOR, MAX_RATE_PPM, Rounding, allocate, divide

__all__ = [
    "AppliedDiscount",
    "BasketLine",
    "MemberInfo",
    "PresentedCoupon",
    "PricedBasket",
    "PricedLine",
    "Pricer",
    "PricingContext",
    "PricingError",
    "TaxBreakdown",
    "TaxSettings",
]


class PricingError(ValueError):
    """A basket the engine refuses to price (unknown tax class, impossible line).

    The checkout turns it into a refusal of the item that caused it, with this message.
    """


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class BasketLine:
    """One line of the basket as the checkout holds it.

    ``qty`` is in the uom's units (pieces for ``"ea"``, grams for ``"g"``); ``unit_price`` is
    per ``price_per`` of those units (899 per 1000 g is 8.99/kg). ``gross_override`` fixes the
    line's gross (price-embedded barcode, open price). ``discountable=False`` (open-price and
    manager price-override lines) keeps every promotion off the line.
    """

    line_no: int
    sku: str
    category: str | None
    tax_class: str
    qty: int
    uom: str
    unit_price: int
    price_per: int
    gross_override: int | None = None
    discountable: bool = True


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """The loyalty member identified on the sale; ``birthday`` is ``"MM-DD"``."""

    member_id: str
    tier: str | None
    birthday: str | None


@dataclass(frozen=True, slots=True)
class PresentedCoupon:
    """A coupon presented at the till: ``code`` as keyed/scanned (matched case-insensitively);
    ``promotion_id`` is known for a member's single-use coupon from the member cache."""

    code: str
    promotion_id: str | None


@dataclass(frozen=True, slots=True)
class PricingContext:
    """Everything about the moment of the sale that promotions depend on.

    ``now`` must be an aware datetime in STORE-LOCAL time: validity dates compare it as an
    instant, time windows its wall clock (a naive ``now`` is refused rather than guessed).
    """

    now: datetime
    store_id: str
    member: MemberInfo | None
    coupons: tuple[PresentedCoupon, ...] = ()


@dataclass(frozen=True, slots=True)
class TaxSettings:
    """How tax is computed: see :mod:`edge.checkout.tax`."""

    prices_include_tax: bool
    per_receipt: bool
    rates_ppm: Mapping[str, int]


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class AppliedDiscount:
    """One promotion's discount on one line (positive; reduces the line)."""

    promotion_id: str
    promotion_version: int
    name: str
    amount: int
    coupon: str | None


@dataclass(frozen=True, slots=True)
class PricedLine:
    """A line as charged: ``net == gross - sum(discounts)``; ``tax`` is its (share of) tax."""

    line_no: int
    gross: int
    discounts: tuple[AppliedDiscount, ...]
    net: int
    tax: int


@dataclass(frozen=True, slots=True)
class TaxBreakdown:
    """One tax class of the receipt: ``net`` excluding tax + ``tax`` == ``gross`` including."""

    tax_class: str
    rate_ppm: int
    net: int
    tax: int
    gross: int


@dataclass(frozen=True, slots=True)
class PricedBasket:
    """The priced basket; ``total`` is owed before any cash rounding (``round_cash``).

    ``coupons_used`` lists, in presentation order, the presented codes that unlocked a
    promotion which actually granted a discount — a single-use coupon that gained nothing is
    not consumed.
    """

    lines: tuple[PricedLine, ...]
    taxes: tuple[TaxBreakdown, ...]
    subtotal: int
    discount_total: int
    tax_total: int
    total: int
    coupons_used: tuple[str, ...]


# The pricer builds one PricedLine per line and one AppliedDiscount per discount on every call.
# A frozen dataclass's generated __init__ sets each field with object.__setattr__(self, name,
# value), which looks the slot up by name each time; setting the slots through their
# descriptors directly builds the identical object (same type, same field values: ==, hash,
# repr and pickling cannot tell) in half the time. Valid only while these two classes have no
# __post_init__, defaults that matter or validation — which is why they get these builders and
# the inputs and rarer outputs do not.

_new = object.__new__
_LINE_FIELDS = tuple(
    getattr(PricedLine, name).__set__ for name in ("line_no", "gross", "discounts", "net", "tax")
)
_DISCOUNT_FIELDS = tuple(
    getattr(AppliedDiscount, name).__set__
    for name in ("promotion_id", "promotion_version", "name", "amount", "coupon")
)


def _priced_line(
    line_no: int, gross: int, discounts: tuple[AppliedDiscount, ...], net: int, tax: int
) -> PricedLine:
    """``PricedLine(line_no, gross, discounts, net, tax)``, built faster (see above)."""
    line = _new(PricedLine)
    set_line_no, set_gross, set_discounts, set_net, set_tax = _LINE_FIELDS
    set_line_no(line, line_no)
    set_gross(line, gross)
    set_discounts(line, discounts)
    set_net(line, net)
    set_tax(line, tax)
    return line


def _applied_discount(
    promotion_id: str, version: int, name: str, amount: int, coupon: str | None
) -> AppliedDiscount:
    """``AppliedDiscount(promotion_id, version, name, amount, coupon)``, built faster."""
    discount = _new(AppliedDiscount)
    set_id, set_version, set_name, set_amount, set_coupon = _DISCOUNT_FIELDS
    set_id(discount, promotion_id)
    set_version(discount, version)
    set_name(discount, name)
    set_amount(discount, amount)
    set_coupon(discount, coupon)
    return discount


# --------------------------------------------------------------------------- the pricer


def _check_int(value: object, what: str, line_no: int) -> int:
    if type(value) is not int:  # exactly int: bool, float, Decimal are refused
        raise PricingError(f"line {line_no}: {what} must be an int, got {type(value).__name__}")
    return value


def _facts(pos: int, line: BasketLine, rates: Mapping[str, int]) -> LineFacts:
    """Validate one line and work out its gross and units (see :mod:`edge.checkout.rewards`)."""
    no = line.line_no
    qty, unit_price, price_per = line.qty, line.unit_price, line.price_per
    if type(qty) is not int or type(unit_price) is not int or type(price_per) is not int:
        _check_int(qty, "qty", no)  # raises for the first one that is not an int
        _check_int(unit_price, "unit_price", no)
        _check_int(price_per, "price_per", no)
    rate = rates.get(line.tax_class)
    if rate is None:
        raise PricingError(
            f"line {no}: unknown tax class {line.tax_class!r} (known: {', '.join(sorted(rates))})"
        )
    if qty < 0 or unit_price < 0:
        raise PricingError(f"line {no}: qty and unit_price must be >= 0 (refunds are not priced)")
    if price_per < 1:
        raise PricingError(f"line {no}: price_per must be >= 1, got {price_per}")
    override = line.gross_override
    if override is not None:
        gross = _check_int(override, "gross_override", no)
        if gross < 0:
            raise PricingError(f"line {no}: gross_override must be >= 0, got {gross}")
    elif price_per == 1:
        gross = unit_price * qty  # exact: nothing to round
    else:
        gross = divide(unit_price * qty, price_per, Rounding.HALF_UP)
    if gross > MAX_ABS_MINOR:
        raise PricingError(f"line {no}: gross {gross} is beyond {MAX_ABS_MINOR} minor units")
    pieces = line.uom == "ea" and override is None
    units: tuple[int, ...]
    if not line.discountable:
        units = ()
    elif pieces:
        units = (unit_price,) * qty if price_per == 1 else tuple(allocate(gross, [1] * qty))
    else:
        units = (gross,)
    return LineFacts(
        pos, gross, rate, line.tax_class, pieces, override is not None, qty, price_per, units
    )


class Pricer:
    """Prices baskets against one promotion set; build one per set (indexes are built once).

    Construction compiles every promotion and files it under the SKUs and categories it
    targets (plus an ``all_items`` list, which holds the basket-wide offers), so pricing a
    basket looks only at the promotions its lines can match — a 100-line basket against
    thousands of promotions stays within milliseconds on a Pi.
    """

    def __init__(self, promotions: Iterable[Promotion]) -> None:
        self._rules = compile_rules(promotions)
        self._index = RuleIndex(self._rules)

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The compiled promotions in evaluation order (descending priority, ties by id)."""
        return self._rules

    def price(
        self, lines: Sequence[BasketLine], ctx: PricingContext, tax: TaxSettings
    ) -> PricedBasket:
        """Price ``lines`` at ``ctx`` with ``tax``; raises :class:`PricingError` if it cannot."""
        if ctx.now.tzinfo is None or ctx.now.utcoffset() is None:
            raise PricingError("the pricing time must be an aware datetime in store-local time")
        rates = tax.rates_ppm
        for cls, rate in rates.items():
            if isinstance(rate, bool) or not isinstance(rate, int) or not 0 <= rate <= MAX_RATE_PPM:
                raise PricingError(
                    f"tax class {cls!r}: rate must be 0..{MAX_RATE_PPM} ppm, got {rate!r}"
                )
        if len({line.line_no for line in lines}) != len(lines):
            seen: set[int] = set()
            for line in lines:  # find the first repeated number, for the message
                if line.line_no in seen:
                    raise PricingError(f"line number {line.line_no} appears twice in the basket")
                seen.add(line.line_no)
        facts = [_facts(pos, line, rates) for pos, line in enumerate(lines)]
        subtotal = sum(f.gross for f in facts)
        if subtotal > MAX_ABS_MINOR:
            raise PricingError(f"basket subtotal {subtotal} is beyond {MAX_ABS_MINOR} minor units")
        try:
            return self._price(lines, facts, subtotal, ctx, tax)
        except MoneyError as exc:  # pragma: no cover - inputs are bounded above
            raise PricingError(str(exc)) from exc

    # --- candidates -----------------------------------------------------------------------------

    def _candidates(
        self,
        lines: Sequence[BasketLine],
        facts: Sequence[LineFacts],
        subtotal: int,
        ctx: PricingContext,
    ) -> list[Candidate]:
        index = self._index
        # Which discountable lines each rule targets (and, for buy-get, rewards), in line order.
        # All-items rules target every discountable line: one shared list, not one per line.
        discountable = [f.pos for f in facts if f.units]
        targeted: dict[int, list[int]] = dict.fromkeys(index.everything, discountable)
        rewarded: dict[int, list[int]] = dict.fromkeys(index.reward_everything, discountable)
        for table, by_sku, by_category in (
            (targeted, index.by_sku, index.by_category),
            (rewarded, index.reward_by_sku, index.reward_by_category),
        ):
            if not by_sku and not by_category:
                continue  # nothing to look up (no buy-get names a reward target, typically)
            for pos in discountable:
                line = lines[pos]
                category = line.category
                for hits in (
                    by_sku.get(line.sku, ()),
                    by_category.get(category, ()) if category is not None else (),
                ):
                    for rank in hits:
                        found = table.get(rank)
                        if found is None:
                            table[rank] = [pos]
                        elif found[-1] != pos:  # a line may match by SKU and by category
                            found.append(pos)

        group_bits: dict[str, int] = {}
        cands: list[Candidate] = []
        trusted = True  # see "trusted arithmetic" in edge.checkout.rewards
        for rank in sorted(targeted):
            rule = self._rules[rank]
            target = targeted[rank]
            ok, coupon = conditions_met(rule, ctx, subtotal)
            if not ok:
                continue
            min_qty = rule.promotion.conditions.min_qty
            if min_qty is not None and sum(len(facts[p].units) for p in target) < min_qty:
                continue
            reward = rule.reward
            per_piece = rule.per_piece_only
            reward_reach: tuple[int, ...] | None = None
            if per_piece:
                buy = tuple(p for p in target if facts[p].pieces)
                if isinstance(reward, BuyGet) and reward.reward_target is not None:
                    reward_reach = tuple(p for p in rewarded.get(rank, ()) if facts[p].pieces)
                    if not reward_reach:
                        continue
                reach = tuple(sorted({*buy, *(reward_reach or ())}))
            elif isinstance(reward, FixedPrice):
                buy = reach = tuple(p for p in target if not facts[p].fixed_gross)
            else:
                buy = reach = tuple(target)
            if not buy:
                continue
            group = rule.group
            gbit = 0
            if group is not None:
                gbit = group_bits.get(group, 0)
                if not gbit:
                    gbit = group_bits[group] = 4 << len(group_bits)
            if rule.exclusive:
                block, claim = ANY, TOUCHED | EXCLUSIVE | gbit
            else:
                block, claim = EXCLUSIVE | gbit, TOUCHED | gbit
            trusted = trusted and trusted_reward(reward)
            cands.append(
                Candidate(  # positional (keywords nearly triple the call's cost): fields in order
                    len(cands),  # order
                    rule,
                    coupon,
                    reach,
                    buy,  # buy_reach
                    reward_reach,
                    block,
                    claim,
                    rule.basket,
                    rule.exclusive,
                    rule.cap is None and not per_piece,  # separable
                    True,  # trusted (see below)
                )
            )
        if not trusted:  # one untrusted reward: the whole sale's arithmetic stays checked
            cands = [c._replace(trusted=False) for c in cands]
        return cands

    # --- the result -----------------------------------------------------------------------------

    def _price(
        self,
        lines: Sequence[BasketLine],
        facts: Sequence[LineFacts],
        subtotal: int,
        ctx: PricingContext,
        tax: TaxSettings,
    ) -> PricedBasket:
        cands = self._candidates(lines, facts, subtotal, ctx)
        resolution = resolve(
            facts, cands, inclusive=tax.prices_include_tax, per_receipt=tax.per_receipt
        )
        priced_discounts: list[tuple[AppliedDiscount, ...]] = []
        nets: list[int] = []
        used: set[str] = set()
        states = resolution.states
        # AppliedDiscount is immutable, so lines that got the same amount from the same
        # promotion (common for basket offers split over many lines) share one instance.
        made: list[dict[int, AppliedDiscount]] = [{} for _ in cands]
        for f in facts:
            st = states[f.pos]
            if st is None or not st.disc:  # a line no promotion touched
                priced_discounts.append(())
                nets.append(f.gross)
                continue
            applied: list[AppliedDiscount] = []
            net = f.gross
            for order, amount in st.disc.items():
                if amount <= 0:
                    continue
                discount = made[order].get(amount)
                if discount is None:
                    c = cands[order]
                    p = c.rule.promotion
                    discount = _applied_discount(p.id, p.version, p.name, amount, c.coupon)
                    made[order][amount] = discount
                    if c.coupon is not None:
                        used.add(c.coupon)
                applied.append(discount)
                net -= amount
            priced_discounts.append(tuple(applied))
            nets.append(net)
        line_tax, rows = compute_taxes(
            [line.tax_class for line in lines],
            nets,
            tax.rates_ppm,
            prices_include_tax=tax.prices_include_tax,
            per_receipt=tax.per_receipt,
        )
        tax_total = sum(r.tax for r in rows)
        net_total = sum(nets)
        coupons: list[str] = []
        for coupon in ctx.coupons:
            if coupon.code in used and coupon.code not in coupons:
                coupons.append(coupon.code)
        return PricedBasket(
            lines=tuple(
                map(
                    _priced_line,
                    [line.line_no for line in lines],
                    [f.gross for f in facts],
                    priced_discounts,
                    nets,
                    line_tax,
                )
            ),
            taxes=tuple(TaxBreakdown(r.tax_class, r.rate_ppm, r.net, r.tax, r.gross) for r in rows),
            subtotal=subtotal,
            discount_total=subtotal - net_total,
            tax_total=tax_total,
            total=net_total if tax.prices_include_tax else net_total + tax_total,
            coupons_used=tuple(coupons),
        )
