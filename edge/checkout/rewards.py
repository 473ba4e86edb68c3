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

Every amount is an ``int`` of minor units; every split is :func:`protocol.money.allocate`'s
and every percentage :func:`protocol.money.percent_of`'s with ``HALF_UP`` (computed inline,
with identical results, where their argument checks cannot fail: see "trusted arithmetic"
below). A discount is always split by current unit prices, and a share of an amount no larger
than the sum of the weights never exceeds its own weight, so no unit (and no line) ever goes
below zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import NamedTuple

from edge.checkout.promotion_rules import Rule
from protocol.messages.promotions import AmountOff, BuyGet, FixedPrice, MultiBuy, PercentOff
from protocol.money import MAX_ABS_MINOR, MAX_BASIS_POINTS, Rounding, allocate, divide, percent_of

__all__ = [
    "EXCLUSIVE",
    "TOUCHED",
    "Candidate",
    "LineFacts",
    "LineState",
    "apply_basket",
    "apply_item",
    "compute_basket",
    "percent_checked",
    "percent_trusted",
    "reserve",
    "trusted_reward",
]

TOUCHED = 1
EXCLUSIVE = 2
ANY = -1  # as a block mask: every bit blocks (an exclusive promotion needs untouched units)

_HALF_UP = Rounding.HALF_UP
_BP = 10_000  # basis points in 100 %


# --------------------------------------------------------------------------- trusted arithmetic
#
# Pricing calls percent_of and allocate thousands of times per basket, and each call re-checks
# that its arguments are ints within range. When every reward of the sale is trusted (see
# :func:`trusted_reward`) those checks cannot fail: unit prices start as non-negative ints (the
# pricer validates the lines and that the subtotal is within MAX_ABS_MINOR) and a trusted
# reward only ever takes off a part of a unit's price, so every amount stays an int between 0
# and MAX_ABS_MINOR and every weight is a non-negative int. Such a sale's candidates are marked
# ``trusted`` and use the two functions below, which compute exactly what protocol.money
# computes (same HALF_UP rounding via divmod, same largest-remainder split and tie-break) without
# the checks. A sale with any other reward (only possible for structs built in-process, never
# for ones decoded from the wire) keeps protocol.money's checking functions throughout.


def percent_trusted(amount: int, basis_points: int) -> int:
    """``percent_of(amount, basis_points, HALF_UP)`` for an amount and rate known valid.

    :func:`protocol.money.divide` rounds the magnitude up iff twice the remainder is at least
    the divisor (a zero remainder never is), then applies the sign: exactly this.
    """
    if amount < 0:  # never for trusted amounts; kept so the function is exact for any int
        return -percent_trusted(-amount, basis_points)
    quotient, remainder = divmod(amount * basis_points, _BP)
    return quotient + 1 if 2 * remainder >= _BP else quotient


def _split(total: int, weights: list[int]) -> list[int]:
    """``allocate(total, weights)`` for ``0 <= total <= MAX_ABS_MINOR`` and int weights >= 0.

    Largest remainder, ties to the earliest index, exactly as :func:`protocol.money.allocate`:
    a stable sort by descending remainder keeps equal remainders in index order. Equal weights
    (the units of a line) and a single weight have closed forms; all-zero weights (and a
    negative total, which trusted amounts never are) go to ``allocate`` itself.
    """
    n = len(weights)
    if n == 1 and weights[0] > 0 and total >= 0:
        return [total]
    weight_sum = sum(weights)
    if not weight_sum or total < 0:
        return allocate(total, weights)
    if weights.count(weights[0]) == n:  # every share floor(total / n), the first ones + 1
        share, left_over = divmod(total, n)
        return [share + 1] * left_over + [share] * (n - left_over)
    shares = [total * w // weight_sum for w in weights]
    left_over = total - sum(shares)
    if left_over:
        remainders = [total * w % weight_sum for w in weights]
        for i in sorted(range(n), key=remainders.__getitem__, reverse=True)[:left_over]:
            shares[i] += 1
    return shares


def percent_checked(amount: int, basis_points: int) -> int:
    """``percent_of(amount, basis_points, HALF_UP)``, checks and all (an untrusted sale)."""
    return percent_of(amount, basis_points, _HALF_UP)


def trusted_reward(reward: object) -> bool:
    """True if every parameter of ``reward`` that feeds an amount is an int in the wire's range.

    Decoded structs always pass (the wire schema bounds them); one built in-process may not,
    and then the sale's arithmetic goes through :mod:`protocol.money`'s checking functions
    (see above). Parameters that only count units (multi-buy ``quantity``, buy-get ``buy`` and
    ``get``) never reach money's functions, so they do not matter here.
    """
    if type(reward) is PercentOff:
        return _valid_bp(reward.basis_points)
    if type(reward) is AmountOff:
        return _valid_amount(reward.amount)
    if type(reward) is FixedPrice:
        return _valid_amount(reward.unit_price)
    if type(reward) is MultiBuy:
        return _valid_amount(reward.price)
    if type(reward) is BuyGet:
        return _valid_bp(reward.discount_bp)
    return False


def _valid_amount(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_ABS_MINOR


def _valid_bp(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_BASIS_POINTS


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
        lazy: list[tuple[Sequence[int], int]] | None = None,
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
        total = sum(self.prices)
        for _, share in self.lazy:
            total -= share
        return total

    def materialize(self) -> None:
        """Split every pending basket share over its units, in the order they were granted."""
        prices = self.prices
        for idxs, share in self.lazy:
            for i, part in zip(idxs, allocate(share, [prices[i] for i in idxs]), strict=True):
                prices[i] -= part
        self.lazy = []

    def base(self, idxs: Sequence[int]) -> int:
        """The current amount of units ``idxs`` (splitting pending shares only if it must).

        ``idxs`` are distinct unit indices, so as many of them as units means every unit: then
        every pending share lies inside them and nothing needs splitting.
        """
        prices = self.prices
        if len(idxs) == len(prices):
            total = sum(prices)
            for _, share in self.lazy:
                total -= share
            return total
        total = sum(prices[i] for i in idxs)
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
    ``basket``, ``exclusive`` and ``separable`` are the rule's, computed once per sale because
    the search reads them in its inner loops; ``trusted`` says every candidate of the sale has a
    trusted reward, so the arithmetic may skip protocol.money's checks ("trusted arithmetic").
    """

    order: int
    rule: Rule
    coupon: str | None
    reach: tuple[int, ...]
    buy_reach: tuple[int, ...]
    reward_reach: tuple[int, ...] | None
    block: int
    claim: int
    basket: bool
    exclusive: bool
    separable: bool
    """True if what it does to a line depends on that line alone (no groups, no cap).

    Percent off (rounded per line), amount off and fixed price (per unit) without
    ``max_applications`` are separable; multi-buy, buy-get and capped rewards look across
    lines, so lines they share must be decided together.
    """
    trusted: bool


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


def _most_expensive_first(pool: list[tuple[int, int, int]]) -> None:
    """Sort ``(price, pos, unit)`` triples by descending price, ties by line, then unit.

    The order of the key ``(-price, pos, unit)``, without a Python call per element: sort
    ascending, then stably by price alone, descending (``reverse`` keeps equal keys in order).
    """
    pool.sort()
    pool.sort(key=itemgetter(0), reverse=True)


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
    """:func:`_per_unit` without ``max_applications``: every eligible unit, line by line.

    One loop per reward type (the type is the same on every line). A line of one unit — most
    lines — is handled inline with exactly what :meth:`LineState.take` would do for it.
    """
    reward = c.rule.reward
    if isinstance(reward, PercentOff):
        _percent_off_lines(c, reward.basis_points, states)
    elif isinstance(reward, AmountOff):
        _amount_off_lines(c, reward.amount, states)
    elif isinstance(reward, FixedPrice):
        _fixed_price_lines(c, reward.unit_price, states, facts)
    # multi-buy and buy-get have their own functions


def _percent_off_lines(c: Candidate, bp: int, states: States) -> None:
    """Percent off every eligible unit, taken per line on the line's eligible units (HALF_UP)."""
    if not bp:
        return
    pct = percent_trusted if c.trusted else percent_checked
    split = _split if c.trusted else allocate
    block, order, claim = c.block, c.order, c.claim
    for pos in c.reach:
        st = states[pos]
        if st is None:
            continue
        prices, masks = st.prices, st.masks
        if len(prices) == 1:
            price = prices[0]
            if price > 0 and not masks[0] & block:
                share = pct(price, bp)
                if share > 0:
                    prices[0] = price - share
                    masks[0] |= claim
                    st.disc[order] = st.disc.get(order, 0) + share
            continue
        idxs = [i for i, p in enumerate(prices) if p > 0 and not masks[i] & block]
        if not idxs:
            continue
        if len(idxs) == 1:  # one unit takes the line's whole amount: nothing to split
            shares = [pct(prices[idxs[0]], bp)]
        else:
            weights = [prices[i] for i in idxs]
            shares = split(pct(sum(weights), bp), weights)
        st.take(order, idxs, shares, claim)


def _amount_off_lines(c: Candidate, a: int, states: States) -> None:
    """The same amount off every eligible unit (at most the unit's price)."""
    block, order, claim = c.block, c.order, c.claim
    for pos in c.reach:
        st = states[pos]
        if st is None:
            continue
        prices, masks = st.prices, st.masks
        if len(prices) == 1:
            price = prices[0]
            if price > 0 and not masks[0] & block:
                share = min(a, price)
                if share > 0:
                    prices[0] = price - share
                    masks[0] |= claim
                    st.disc[order] = st.disc.get(order, 0) + share
            continue
        idxs = [i for i, p in enumerate(prices) if p > 0 and not masks[i] & block]
        if idxs:
            st.take(order, idxs, [min(a, prices[i]) for i in idxs], claim)


def _fixed_price_lines(
    c: Candidate, unit_price: int, states: States, facts: Sequence[LineFacts]
) -> None:
    """Every eligible unit down to its fixed price (never up)."""
    block, order, claim = c.block, c.order, c.claim
    for pos in c.reach:
        st = states[pos]
        if st is None:
            continue
        prices, masks = st.prices, st.masks
        targets = _fixed_targets(facts[pos], unit_price)
        idxs = [i for i, p in enumerate(prices) if p > targets[i] and not masks[i] & block]
        if idxs:
            st.take(order, idxs, [prices[i] - targets[i] for i in idxs], claim)


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
            if c.trusted:
                shares = _split(percent_trusted(sum(prices), reward.basis_points), prices)
            else:
                shares = allocate(percent_of(sum(prices), reward.basis_points, _HALF_UP), prices)
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
    split = _split if c.trusted else allocate
    for g in range(groups):
        group = units[g * size : (g + 1) * size]
        prices = [-u[0] for u in group]
        saving = sum(prices) - reward.price
        if saving <= 0:
            break
        for (_, pos, i), share in zip(group, split(saving, prices), strict=True):
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
    _most_expensive_first(buy_pool)
    if c.reward_reach is None:
        reward_pool = list(buy_pool)
    else:
        reward_pool = _free(states, c.reward_reach, c.block)
    if reward.cheapest:
        reward_pool.sort()  # (price, pos, unit) ascending
    else:
        _most_expensive_first(reward_pool)
    used: set[tuple[int, int]] = set()
    rewarded: list[tuple[int, int, int]] = []
    bought: list[tuple[int, int, int]] = []
    ri = bi = 0
    groups = 0
    cap = c.rule.cap
    get, buy = reward.get, reward.buy
    reward_end, buy_end = len(reward_pool), len(buy_pool)
    while cap is None or groups < cap:
        got: list[tuple[int, int, int]] = []
        r = ri
        while len(got) < get and r < reward_end:
            unit = reward_pool[r]
            r += 1
            if (unit[1], unit[2]) not in used:
                got.append(unit)
        if len(got) < get:
            break
        taken = {(u[1], u[2]) for u in got}
        paid: list[tuple[int, int, int]] = []
        b = bi
        while len(paid) < buy and b < buy_end:
            unit = buy_pool[b]
            b += 1
            key = (unit[1], unit[2])
            if key not in used and key not in taken:
                paid.append(unit)
        if len(paid) < buy:
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
    pct = percent_trusted if c.trusted else percent_checked
    split = _split if c.trusted else allocate
    for pos in sorted(per_line):
        st = states[pos]
        assert st is not None
        idxs = sorted(per_line[pos])
        prices = [st.prices[i] for i in idxs]
        plan.append((pos, idxs, split(pct(sum(prices), reward.discount_bp), prices)))
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
    """Apply item-level candidate ``c`` to the units of ``states`` it may use (in place).

    Dispatches straight to the function for its reward (the uncapped per-unit ones are what
    :func:`_per_unit` would call): this runs for every promotion of every arrangement.
    """
    reward = c.rule.reward
    if c.rule.cap is None:
        if isinstance(reward, PercentOff):
            _percent_off_lines(c, reward.basis_points, states)
            return
        if isinstance(reward, AmountOff):
            _amount_off_lines(c, reward.amount, states)
            return
    if isinstance(reward, MultiBuy):
        _multi_buy(c, reward, states)
    elif isinstance(reward, BuyGet):
        _buy_get(c, reward, states)
    else:
        _per_unit(c, states, facts)


Reservation = list[tuple[int, Sequence[int]]]

_FIRST_UNIT = range(1)  # the units of a one-unit line (never mutated, so shared)


def reserve(c: Candidate, states: States) -> Reservation:
    """Claim the units a basket-level candidate will discount; returns them by line.

    A basket-level promotion claims at its turn (so stack-group mates and exclusive promotions
    after it see its units as taken) but is computed after all item-level promotions, on the
    units' current prices then. The unit indices returned are never mutated by anyone.
    """
    out: Reservation = []
    block, claim = c.block, c.claim
    for pos in c.reach:
        st = states[pos]
        if st is None:
            continue
        masks = st.masks
        if len(masks) == 1:
            mask = masks[0]
            if not mask & block:
                masks[0] = mask | claim
                out.append((pos, _FIRST_UNIT))
            continue
        idxs = [i for i, m in enumerate(masks) if not m & block]
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
    lines: list[tuple[LineState, Sequence[int]]] = []
    bases: list[int] = []
    for pos, idxs in reserved:
        st = states[pos]
        assert st is not None
        lines.append((st, idxs))
        bases.append(st.base(idxs))
    _grant_basket(c, lines, bases)


def apply_basket(c: Candidate, states: States) -> None:
    """``compute_basket(c, states, reserve(c, states))`` in one pass over the lines.

    Claiming a unit changes no price and no pending share, and reading a line's base changes
    nothing on any other line, so reading each line's base right after claiming its units gives
    exactly the amounts (and the same claims) as reserving everything first.
    """
    block, claim = c.block, c.claim
    lines: list[tuple[LineState, Sequence[int]]] = []
    bases: list[int] = []
    for pos in c.reach:
        st = states[pos]
        if st is None:
            continue
        masks = st.masks
        idxs: Sequence[int]
        if len(masks) == 1:
            mask = masks[0]
            if mask & block:
                continue
            masks[0] = mask | claim
            idxs = _FIRST_UNIT
            base = st.prices[0]
            for _, share in st.lazy:  # st.base(idxs): every pending share is on this unit
                base -= share
        else:
            idxs = [i for i, m in enumerate(masks) if not m & block]
            if not idxs:
                continue
            for i in idxs:
                masks[i] |= claim
            if len(idxs) == len(masks):  # every unit: st.base(idxs), inline
                base = sum(st.prices)
                for _, share in st.lazy:
                    base -= share
            else:
                base = st.base(idxs)
        lines.append((st, idxs))
        bases.append(base)
    _grant_basket(c, lines, bases)


def _grant_basket(
    c: Candidate, lines: Sequence[tuple[LineState, Sequence[int]]], bases: list[int]
) -> None:
    """The discount of basket-level ``c`` on reserved ``lines`` (their current ``bases``)."""
    reward = c.rule.reward
    total = sum(bases)
    if isinstance(reward, PercentOff):
        if c.trusted:
            amount = percent_trusted(total, reward.basis_points)
        else:
            amount = percent_of(total, reward.basis_points, _HALF_UP)
    elif isinstance(reward, AmountOff):
        amount = min(reward.amount, total)
    else:  # pragma: no cover - excluded by Rule.usable
        return
    if amount <= 0:
        return
    order = c.order
    shares = _split(amount, bases) if c.trusted else allocate(amount, bases)
    for (st, idxs), share in zip(lines, shares, strict=True):
        if share:
            st.lazy.append((idxs, share))
            disc = st.disc
            disc[order] = disc.get(order, 0) + share
