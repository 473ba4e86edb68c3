"""The arithmetic of one promotion application, on the units of a basket.

The engine prices *units*, because promotions are granted per unit ("3 for 5.00", "max 2 per
customer", "the cheapest one free") and claims are per unit (an exclusive promotion claims the
units it used, not whole lines):

* a line sold by the piece (``uom == "ea"``, no ``gross_override``) is ``qty`` units; its gross
  is spread over them with :func:`protocol.money.allocate` (so with ``price_per == 1`` every
  unit costs exactly ``unit_price``);
* a weighed/measured line (``uom`` ``g``, ``ml``, ``cm``) is ONE unit — 1234 g of cheese is one
  item on the receipt;
* a line whose gross is fixed (price-embedded barcode, open price: ``gross_override``) is ONE
  unit too: the barcode fixes the amount, not a price per piece;
* a non-discountable line has no units at all: no promotion ever sees it.

Each unit carries its current price (after the discounts applied so far) and a claim mask:
:data:`TOUCHED` (some promotion applied to it), :data:`EXCLUSIVE` (an exclusive promotion owns
it) and one bit per stack group that applied to it. A promotion may use a unit iff
``mask & block == 0``: an exclusive promotion blocks on *any* bit (it needs untouched units),
a stack-group member on :data:`EXCLUSIVE` and its group's bit, any other promotion on
:data:`EXCLUSIVE` only.

Every amount is an ``int`` of minor units; every split uses :func:`protocol.money.allocate`
and every percentage :func:`protocol.money.percent_of` with ``HALF_UP``. A discount is always
split by current unit prices, and a share of an amount no larger than the sum of the weights
never exceeds its own weight, so no unit (and no line) ever goes below zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from edge.checkout.promotion_rules import Rule
from protocol.messages.promotions import AmountOff, BuyGet, FixedPrice, MultiBuy, PercentOff
from protocol.money import Rounding, allocate, divide, percent_of

__all__ = [
    "EXCLUSIVE",
    "TOUCHED",
    "Candidate",
    "LineFacts",
    "LineState",
    "apply_item",
    "compute_basket",
    "reserve",
]

TOUCHED = 1
EXCLUSIVE = 2
ANY = -1  # as a block mask: every bit blocks (an exclusive promotion needs untouched units)

_HALF_UP = Rounding.HALF_UP


class LineFacts(NamedTuple):
    """What the engine needs to know about one basket line, fixed for one pricing call."""

    pos: int
    gross: int
    rate_ppm: int
    tax_class: str
    pieces: bool  # priced per piece: takes part in multi-buy and buy-get
    fixed_gross: bool  # gross_override: no unit price, so no fixed-price reward
    qty: int
    price_per: int
    units: tuple[int, ...]  # initial unit prices; () for a non-discountable line

    @property
    def discountable(self) -> bool:
        return bool(self.units)


class LineState:
    """The mutable state of one discountable line while promotions are applied.

    ``disc`` maps a candidate's ``order`` to the amount it took off this line, in the order the
    discounts were granted (dicts keep insertion order) — that is the receipt's order.

    ``lazy`` holds basket-level shares not yet split over units, as ``(units, amount)``: basket
    promotions run last, so a line's share only needs splitting if a later basket promotion
    looks at part of those units (see :meth:`base`). The split, when it happens, is exactly the
    one made eagerly (by the unit prices at the time, in application order), so laziness never
    changes an amount; it saves an ``allocate`` per line per basket offer.
    """

    __slots__ = ("disc", "lazy", "masks", "prices")

    def __init__(
        self,
        prices: list[int],
        masks: list[int],
        disc: dict[int, int],
        lazy: list[tuple[list[int], int]] | None = None,
    ) -> None:
        self.prices = prices
        self.masks = masks
        self.disc = disc
        self.lazy = lazy if lazy is not None else []

    @classmethod
    def fresh(cls, facts: LineFacts) -> LineState:
        return cls(list(facts.units), [0] * len(facts.units), {})

    def copy(self) -> LineState:
        return LineState(self.prices[:], self.masks[:], dict(self.disc), self.lazy[:])

    @property
    def net(self) -> int:
        """The line's current amount: its units' prices less the shares not yet split."""
        return sum(self.prices) - sum(share for _, share in self.lazy)

    def materialize(self) -> None:
        """Split every pending basket share over its units, in the order they were granted."""
        prices = self.prices
        for idxs, share in self.lazy:
            for i, part in zip(idxs, allocate(share, [prices[i] for i in idxs]), strict=True):
                prices[i] -= part
        self.lazy = []

    def base(self, idxs: Sequence[int]) -> int:
        """The current amount of units ``idxs`` (splitting pending shares only if it must)."""
        prices = self.prices
        total = sum(prices) if len(idxs) == len(prices) else sum(prices[i] for i in idxs)
        if not self.lazy:
            return total
        wanted = set(idxs)
        for units, share in self.lazy:
            if wanted.issuperset(units):
                total -= share
            elif not wanted.isdisjoint(units):
                self.materialize()
                return sum(self.prices[i] for i in idxs)
        return total

    def take(self, order: int, idxs: Sequence[int], shares: Sequence[int], claim: int) -> int:
        """Take ``shares`` off the units ``idxs`` and claim them; nothing if the sum is 0."""
        total = sum(shares)
        if total <= 0:
            return 0
        prices, masks = self.prices, self.masks
        for i, share in zip(idxs, shares, strict=True):
            prices[i] -= share
            masks[i] |= claim
        self.disc[order] = self.disc.get(order, 0) + total
        return total


class Candidate(NamedTuple):
    """A promotion whose conditions hold for this sale, with the lines it may touch.

    ``order`` is its index in the sale's candidate list (global rank order); ``reach`` every
    line it may touch (for buy-get: bought and reward lines), ``buy_reach`` the lines it counts
    as bought (buy-get) and ``reward_reach`` the lines of a buy-get ``reward_target``.
    ``block``/``claim`` are the claim-mask bits it is stopped by and sets (module docstring).
    """

    order: int
    rule: Rule
    coupon: str | None
    reach: tuple[int, ...]
    buy_reach: tuple[int, ...]
    reward_reach: tuple[int, ...] | None
    block: int
    claim: int

    @property
    def exclusive(self) -> bool:
        return self.rule.exclusive

    @property
    def basket(self) -> bool:
        return self.rule.basket

    @property
    def separable(self) -> bool:
        """True if what it does to a line depends on that line alone (no groups, no cap).

        Percent off (rounded per line), amount off and fixed price (per unit) without
        ``max_applications`` are separable; multi-buy, buy-get and capped rewards look across
        lines, so lines they share must be decided together.
        """
        return self.rule.cap is None and not self.rule.per_piece_only


States = list[LineState | None]


def _free(states: States, reach: Sequence[int], block: int) -> list[tuple[int, int, int]]:
    """``(price, pos, unit)`` for every unit of ``reach`` this promotion may still use."""
    out: list[tuple[int, int, int]] = []
    for pos in reach:
        st = states[pos]
        if st is None:
            continue
        masks = st.masks
        for i, price in enumerate(st.prices):
            if not masks[i] & block:
                out.append((price, pos, i))
    return out


def _fixed_targets(facts: LineFacts, unit_price: int) -> list[int]:
    """What each unit of a line costs at a fixed ``unit_price`` (per ``price_per`` uom units).

    Per piece, a fixed price of 1.49 makes every piece 1.49 (``price_per == 1``); otherwise the
    line's fixed amount ``unit_price × qty / price_per`` (HALF_UP, like the gross) is spread over
    its pieces. A weighed line's one unit costs ``unit_price × grams / price_per``.
    """
    if facts.pieces:
        if facts.price_per == 1:
            return [unit_price] * facts.qty
        whole = divide(unit_price * facts.qty, facts.price_per, _HALF_UP)
        return allocate(whole, [1] * facts.qty)
    return [divide(unit_price * facts.qty, facts.price_per, _HALF_UP)]


def _uncapped(c: Candidate, states: States, facts: Sequence[LineFacts]) -> None:
    """:func:`_per_unit` without ``max_applications``: every eligible unit, line by line."""
    reward = c.rule.reward
    block, order, claim = c.block, c.order, c.claim
    for pos in c.reach:
        st = states[pos]
        if st is None:
            continue
        prices, masks = st.prices, st.masks
        shares: list[int]
        if isinstance(reward, PercentOff):
            bp = reward.basis_points
            idxs = [i for i, p in enumerate(prices) if p > 0 and not masks[i] & block]
            if not idxs or not bp:
                continue
            if len(idxs) == 1:  # one unit takes the line's whole amount: nothing to split
                shares = [percent_of(prices[idxs[0]], bp, _HALF_UP)]
            else:
                weights = [prices[i] for i in idxs]
                shares = allocate(percent_of(sum(weights), bp, _HALF_UP), weights)
        elif isinstance(reward, AmountOff):
            a = reward.amount
            idxs = [i for i, p in enumerate(prices) if p > 0 and not masks[i] & block]
            shares = [min(a, prices[i]) for i in idxs]
        elif isinstance(reward, FixedPrice):
            targets = _fixed_targets(facts[pos], reward.unit_price)
            idxs = [i for i, p in enumerate(prices) if p > targets[i] and not masks[i] & block]
            shares = [prices[i] - targets[i] for i in idxs]
        else:  # pragma: no cover - multi-buy and buy-get have their own functions
            return
        if idxs:
            st.take(order, idxs, shares, claim)


def _per_unit(c: Candidate, states: States, facts: Sequence[LineFacts]) -> None:
    """Percent off, amount off, fixed price: each unit on its own, percentages per line.

    Only units the reward makes cheaper are considered, so a capped promotion spends its
    ``max_applications`` where it is worth most to the customer: highest value first, ties by
    line order then unit order.
    """
    reward = c.rule.reward
    if c.rule.cap is None:
        _uncapped(c, states, facts)
        return
    picked: list[tuple[int, int, int]] = []  # (value, pos, unit)
    for pos in c.reach:
        st = states[pos]
        if st is None:
            continue
        masks = st.masks
        if isinstance(reward, PercentOff):
            if reward.basis_points == 0:
                return
            picked += [
                (p, pos, i) for i, p in enumerate(st.prices) if p > 0 and not masks[i] & c.block
            ]
        elif isinstance(reward, AmountOff):
            a = reward.amount
            picked += [
                (min(a, p), pos, i)
                for i, p in enumerate(st.prices)
                if p > 0 and a > 0 and not masks[i] & c.block
            ]
        elif isinstance(reward, FixedPrice):
            targets = _fixed_targets(facts[pos], reward.unit_price)
            picked += [
                (p - targets[i], pos, i)
                for i, p in enumerate(st.prices)
                if p > targets[i] and not masks[i] & c.block
            ]
    if not picked:
        return
    cap = c.rule.cap
    if cap is not None and len(picked) > cap:
        picked.sort(key=lambda t: (-t[0], t[1], t[2]))
        picked = sorted(picked[:cap], key=lambda t: (t[1], t[2]))
    # Group by line (picked is in (pos, unit) order here).
    start = 0
    while start < len(picked):
        pos = picked[start][1]
        end = start
        while end < len(picked) and picked[end][1] == pos:
            end += 1
        chunk = picked[start:end]
        start = end
        st = states[pos]
        assert st is not None
        idxs = [i for _, _, i in chunk]
        if isinstance(reward, PercentOff):
            prices = [st.prices[i] for i in idxs]
            amount = percent_of(sum(prices), reward.basis_points, _HALF_UP)
            shares = allocate(amount, prices)
        else:  # amount off and fixed price: the value is the unit's discount
            shares = [v for v, _, _ in chunk]
        st.take(c.order, idxs, shares, c.claim)


def _multi_buy(c: Candidate, reward: MultiBuy, states: States) -> None:
    """``quantity`` units for ``price``, mixing SKUs of the target, best for the customer.

    Units are ordered most expensive first (ties: line order, unit order) and cut into groups
    of ``quantity``: for a fixed number of groups this gives the largest total saving. A group
    whose units already cost no more than ``price`` saves nothing and is not formed (and,
    the groups being in falling order, neither is any after it). Each group's saving is split
    over its units by current price; every unit of a formed group is claimed, even at a zero
    share (the group used it).
    """
    block = c.block
    units: list[tuple[int, int, int]] = []  # (-price, pos, unit): sorts most expensive first
    for pos in c.reach:
        st = states[pos]
        if st is not None:
            masks = st.masks
            units += [(-p, pos, i) for i, p in enumerate(st.prices) if not masks[i] & block]
    size = reward.quantity
    groups = len(units) // size
    if c.rule.cap is not None:
        groups = min(groups, c.rule.cap)
    if not groups:
        return
    units.sort()
    order, claim = c.order, c.claim
    for g in range(groups):
        group = units[g * size : (g + 1) * size]
        saving = -sum(u[0] for u in group) - reward.price
        if saving <= 0:
            break
        for (_, pos, i), share in zip(group, allocate(saving, [-u[0] for u in group]), strict=True):
            st = states[pos]
            assert st is not None
            st.masks[i] |= claim
            if share:
                st.prices[i] -= share
                st.disc[order] = st.disc.get(order, 0) + share


def _buy_get(c: Candidate, reward: BuyGet, states: States) -> None:
    """Buy ``buy`` units, get ``get`` units at ``discount_bp`` off, group after group.

    As the wire defines it, the discounted units are the *cheapest* eligible ones when
    ``cheapest`` is set, the most expensive otherwise (ties: line order, unit order); they come
    from ``reward_target`` when it is given, else from the target itself. The units counted as
    bought are the most expensive remaining target units. Groups are formed while both kinds
    are available, up to ``max_applications``. The percentage is taken per line on the sum of
    that line's reward units (HALF_UP, as for percent off) and split over them by price. All
    units of the groups — bought and rewarded — are claimed, as the deal used them.
    """
    buy_pool = _free(states, c.buy_reach, c.block)
    buy_pool.sort(key=lambda t: (-t[0], t[1], t[2]))
    if c.reward_reach is None:
        reward_pool = list(buy_pool)
    else:
        reward_pool = _free(states, c.reward_reach, c.block)
    if reward.cheapest:
        reward_pool.sort(key=lambda t: (t[0], t[1], t[2]))
    else:
        reward_pool.sort(key=lambda t: (-t[0], t[1], t[2]))
    used: set[tuple[int, int]] = set()
    rewarded: list[tuple[int, int, int]] = []
    bought: list[tuple[int, int, int]] = []
    ri = bi = 0
    groups = 0
    cap = c.rule.cap
    while cap is None or groups < cap:
        got: list[tuple[int, int, int]] = []
        r = ri
        while len(got) < reward.get and r < len(reward_pool):
            unit = reward_pool[r]
            r += 1
            if (unit[1], unit[2]) not in used:
                got.append(unit)
        if len(got) < reward.get:
            break
        taken = {(u[1], u[2]) for u in got}
        paid: list[tuple[int, int, int]] = []
        b = bi
        while len(paid) < reward.buy and b < len(buy_pool):
            unit = buy_pool[b]
            b += 1
            key = (unit[1], unit[2])
            if key not in used and key not in taken:
                paid.append(unit)
        if len(paid) < reward.buy:
            break
        ri, bi = r, b
        used |= taken
        used |= {(u[1], u[2]) for u in paid}
        rewarded += got
        bought += paid
        groups += 1
    if not rewarded or reward.discount_bp == 0:
        return
    per_line: dict[int, list[int]] = {}
    for _, pos, i in rewarded:
        per_line.setdefault(pos, []).append(i)
    plan: list[tuple[int, list[int], list[int]]] = []
    for pos in sorted(per_line):
        st = states[pos]
        assert st is not None
        idxs = sorted(per_line[pos])
        prices = [st.prices[i] for i in idxs]
        amount = percent_of(sum(prices), reward.discount_bp, _HALF_UP)
        plan.append((pos, idxs, allocate(amount, prices)))
    if sum(sum(shares) for _, _, shares in plan) == 0:
        return
    for pos, idxs, shares in plan:
        st = states[pos]
        assert st is not None
        if sum(shares):
            st.take(c.order, idxs, shares, c.claim)
        else:
            for i in idxs:
                st.masks[i] |= c.claim
    for _, pos, i in bought:
        st = states[pos]
        assert st is not None
        st.masks[i] |= c.claim


def apply_item(c: Candidate, states: States, facts: Sequence[LineFacts]) -> None:
    """Apply item-level candidate ``c`` to the units of ``states`` it may use (in place)."""
    reward = c.rule.reward
    if isinstance(reward, MultiBuy):
        _multi_buy(c, reward, states)
    elif isinstance(reward, BuyGet):
        _buy_get(c, reward, states)
    else:
        _per_unit(c, states, facts)


Reservation = list[tuple[int, list[int]]]


def reserve(c: Candidate, states: States) -> Reservation:
    """Claim the units a basket-level candidate will discount; returns them by line.

    A basket-level promotion claims at its turn (so stack-group mates and exclusive promotions
    after it see its units as taken) but is computed after all item-level promotions, on the
    units' current prices then.
    """
    out: Reservation = []
    block, claim = c.block, c.claim
    for pos in c.reach:
        st = states[pos]
        if st is None:
            continue
        masks = st.masks
        if any(m & block for m in masks):
            idxs = [i for i, m in enumerate(masks) if not m & block]
        else:
            idxs = list(range(len(masks)))
        for i in idxs:
            masks[i] |= claim
        if idxs:
            out.append((pos, idxs))
    return out


def compute_basket(c: Candidate, states: States, reserved: Reservation) -> None:
    """Percent or amount off the reserved units' current total, split over their lines.

    The percentage is taken once on the total (HALF_UP); an amount off is capped at the total.
    The discount is split over the lines by their reserved current amounts with
    :func:`protocol.money.allocate` (largest remainder, ties to the earliest line) so each line
    carries its share — a refund of one line gives back exactly that share. Within a line the
    share is split over the reserved units by price, lazily (:class:`LineState`).
    """
    reward = c.rule.reward
    bases = []
    for pos, idxs in reserved:
        st = states[pos]
        assert st is not None
        bases.append(st.base(idxs))
    total = sum(bases)
    if isinstance(reward, PercentOff):
        amount = percent_of(total, reward.basis_points, _HALF_UP)
    elif isinstance(reward, AmountOff):
        amount = min(reward.amount, total)
    else:  # pragma: no cover - excluded by Rule.usable
        return
    if amount <= 0:
        return
    for (pos, idxs), share in zip(reserved, allocate(amount, bases), strict=True):
        if share == 0:
            continue
        st = states[pos]
        assert st is not None
        st.lazy.append((idxs, share))
        st.disc[c.order] = st.disc.get(c.order, 0) + share
