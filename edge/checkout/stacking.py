"""Which promotions win when they conflict, decided by searching for the customer's best outcome.

The rules (``protocol.messages.promotions``): promotions are considered in descending priority
(ties by id); an exclusive promotion that applies claims its units — or, at basket level, the
basket — so nothing else applies to them; within a stack group at most one promotion applies
to a unit; and the engine picks what is worth most to the customer.

**Evaluation of one arrangement.** An arrangement says, for each *conflicting* promotion,
whether it runs in its normal place (``NORMAL``), goes first (``BOOST``) or — exclusive item
promotions only — is left out (``OFF``). Promotions then run in this order, each taking the
units still free for it (see :mod:`edge.checkout.rewards` for the claim masks):

1. boosted promotions, by rank;
2. exclusive item-level promotions, by rank — so an exclusive offer by default gets first pick
   of its units, and a shop's "10 % off everything" does not silently knock out every
   exclusive deal it overlaps;
3. the other item-level promotions, by rank;
4. basket-level promotions, by rank (boosted ones claimed their units in step 1), each computed
   on the current net of its units after all item-level discounts.

Exclusive *basket-level* promotions claim the whole basket, so each one is its own outcome:
that promotion alone on the undiscounted basket.

**Which arrangement.** Promotions that cannot conflict in this basket have one arrangement.
The conflicting ones are (a) an exclusive item promotion overlapping any other promotion
(``NORMAL``/``OFF``, and ``BOOST`` when it overlaps another exclusive one), (b) any item
promotion overlapping an exclusive item promotion (``NORMAL``/``BOOST``: going first it touches
the units and so keeps the exclusive off them), and (c) stack-group members overlapping a
group mate (``NORMAL``/``BOOST``). "Overlap" means sharing a basket line the promotion may
touch. The engine picks the arrangement with

1. the lowest ``total`` the customer pays (for tax-inclusive prices exactly the largest total
   discount; with tax added on top it also counts the tax a discount saves), then
2. the larger total discount, then
3. the larger discount for the highest-ranked promotion, then the next (priority, then id —
   so on equal value the higher-priority promotion wins), then
4. the arrangement closest to the normal order: options compared promotion by promotion
   (clusters in rank order of their first conflicting promotion, promotions by rank within a
   cluster) with ``NORMAL`` before ``BOOST`` before ``OFF``.

Keys 1-4 form a total order, and every step above depends only on the basket, the context and
the promotions' own fields, never on input order: the result is deterministic.

**What "best" is guaranteed.** Lines are grouped into *clusters*: lines linked by a
conflicting promotion or by a promotion that looks across lines (multi-buy, buy-get, anything
with ``max_applications``). Promotions of different clusters touch different lines.

* A cluster with at most :data:`CLUSTER_LIMIT` arrangements is searched exhaustively; a larger
  one one promotion at a time (coordinate search from the normal order, repeated until
  nothing changes, at most :data:`COORDINATE_PASSES` passes) — a local optimum.
* Without basket-level offers (and unless tax is added per receipt on top of prices) clusters
  cannot affect each other's totals, so deciding each on its own is deciding them jointly.
  With basket offers they interact through the basket total: the combinations of the
  clusters' distinct outcomes are searched exhaustively while they number at most
  :data:`JOINT_LIMIT`, otherwise clusters are decided one at a time in order, each given the
  others.

So when every search is exhaustive (``Resolution.exact``; in practice: a few conflicts per
basket) the result is the exact optimum over *all* arrangements; beyond the limits it is the
best per cluster given the others — never worse than the normal (priority) order. Either way
"all arrangements" is a family of orders, not every conceivable split of units between
promotions: the general problem is weighted set packing (NP-hard), and a till answers on every
scan.

Because an exhaustive search is exact, adding a promotion without stacking restrictions (not
exclusive, no stack group, item-level) never raises the total when the search stays
exhaustive: every old arrangement is still available with the new promotion in its normal
place, where it only lowers prices and blocks nothing (the exclusives ran before it). The
property tests check this (and "never worse than any single promotion alone") in that regime.

**How it stays fast** (none of this changes a result): an arrangement is evaluated once per
*order signature* — which of each pair of promotions sharing a line runs first; promotions
on disjoint lines commute — and each promotion application is remembered by the exact state
of the lines it reads. With tax-inclusive prices and plain basket offers the whole basket's
key is computed from a few sums per cluster (see "incremental scoring"), and only
arrangements tied on keys 1-2 have their key 3 built.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import add, neg
from typing import TypeVar

from edge.checkout.rewards import (
    EXCLUSIVE,
    Candidate,
    LineFacts,
    LineState,
    Reservation,
    States,
    apply_basket,
    apply_item,
    compute_basket,
    percent_checked,
    percent_trusted,
    reserve,
)
from protocol.messages.promotions import AmountOff, PercentOff
from protocol.money import tax_exclusive

__all__ = ["BOOST", "CLUSTER_LIMIT", "JOINT_LIMIT", "NORMAL", "OFF", "Resolution", "resolve"]

NORMAL, BOOST, OFF = 0, 1, 2

CLUSTER_LIMIT = 16
"""A cluster with at most this many arrangements is searched exhaustively."""

JOINT_LIMIT = 64
"""Clusters that interact are searched jointly while their combinations number at most this."""

COORDINATE_PASSES = 3
"""Passes of the one-promotion-at-a-time search for a cluster beyond :data:`CLUSTER_LIMIT`."""

Key = tuple[int, int, tuple[int, ...], tuple[int, ...]]
_Totals = tuple[int, list[int], list[int], int]  # net, avail per basket offer, vector, its sum
_Combo = tuple[tuple[tuple[int, ...], ...], int, int, tuple[int, ...]]  # configs, net, disc, avail
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Var:
    cand: Candidate
    options: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Cluster:
    lines: tuple[int, ...]
    vars: tuple[_Var, ...]
    relevant: tuple[Candidate, ...]  # rank order: item candidates touching it, basket vars in it

    @property
    def size(self) -> int:
        return math.prod(len(v.options) for v in self.vars)

    def configs(self) -> Iterable[tuple[int, ...]]:
        return itertools.product(*(v.options for v in self.vars))


@dataclass(frozen=True, slots=True)
class _Summary:
    """A cluster's outcome as the basket offers see it (see "incremental scoring")."""

    net: int
    avail: tuple[int, ...]  # per plain basket offer: current amount of the units it may take
    vec: tuple[tuple[int, int], ...]  # (candidate order, item-level discount) on these lines
    disc: int  # the sum of those discounts


@dataclass(frozen=True, slots=True)
class Resolution:
    """The final line states, and how they were found (for tests and diagnostics)."""

    states: States
    exclusive_basket: Candidate | None  # the exclusive basket promotion that won, if one did
    exact: bool  # True if the search was exhaustive (the optimum over all arrangements)
    choice: list[tuple[int, ...]]  # the arrangement chosen per cluster


class _Search:
    def __init__(
        self,
        facts: Sequence[LineFacts],
        cands: Sequence[Candidate],
        *,
        inclusive: bool,
        per_receipt: bool,
    ) -> None:
        self.facts = facts
        self.cands = cands
        self.n = len(facts)
        self.inclusive = inclusive
        self.per_receipt = per_receipt
        self.item = [c for c in cands if not c.basket]
        self.basket = [c for c in cands if c.basket and not c.exclusive]
        self.outer = [c for c in cands if c.basket and c.exclusive]
        self._tax_memo: dict[tuple[int, int], int] = {}
        self._summaries: dict[tuple[int, tuple[int, ...]], _Summary] = {}
        self._cluster_pairs: dict[int, list[tuple[int, int]]] = {}
        self._by_signature: dict[object, tuple[States, dict[int, Reservation]]] = {}
        self._seen: set[object] = set()
        self._signatures: dict[tuple[int, tuple[int, ...]], object] = {}
        self._step_cache: dict[tuple[int, tuple[int, ...]], list[Candidate]] = {}
        # _apply's memo: (order, *(prices, masks) per line it may touch) -> what it left there.
        self._applied: dict[tuple[object, ...], list[tuple[list[int], list[int], int]]] = {}
        self._basket_reach = [frozenset(c.reach) for c in self.basket]
        self._offers_on: list[list[int]] = [[] for _ in range(self.n)]
        for j, c in enumerate(self.basket):
            for pos in c.reach:
                self._offers_on[pos].append(j)
        # For each basket offer, the earlier ones whose lines it contains (incremental scoring).
        self._nested = [
            [jj for jj in range(j) if self._basket_reach[jj] <= self._basket_reach[j]]
            for j in range(len(self.basket))
        ]
        # Per plain basket offer, for _takes: (nested offers, is percent off, bp or amount).
        self._offer_terms: list[tuple[list[int], bool, int]] = []
        for c, nested in zip(self.basket, self._nested, strict=True):
            reward = c.rule.reward
            if isinstance(reward, PercentOff):
                self._offer_terms.append((nested, True, reward.basis_points))
            else:
                assert isinstance(reward, AmountOff)
                self._offer_terms.append((nested, False, reward.amount))
        trusted = all(c.trusted for c in cands)
        self._percent = percent_trusted if trusted else percent_checked
        self._options_by_order: dict[int, tuple[int, ...]] = {}
        self._cache: dict[tuple[int, tuple[int, ...]], tuple[States, dict[int, Reservation]]] = {}
        self.exact = True

    # --- conflicts ------------------------------------------------------------------------------

    def _options(self) -> dict[int, tuple[int, ...]]:
        """The arrangement options of each conflicting candidate, by ``order``."""
        if not any(c.rule.group is not None or (c.exclusive and not c.basket) for c in self.cands):
            return {}  # nothing can conflict
        # Only lines an exclusive item promotion or a stack-group member may touch can hold a
        # conflict; index the candidates of those lines only.
        hot: set[int] = set()
        for c in self.cands:
            if c.rule.group is not None or (c.exclusive and not c.basket):
                hot.update(c.reach)
        on_line: dict[int, list[Candidate]] = {}
        for c in (*self.item, *self.basket):
            # (Only which candidates share a line matters below, not the order of the lines.)
            for pos in hot.intersection(c.reach):
                on_line.setdefault(pos, []).append(c)
        opts: dict[int, set[int]] = {}
        for cs in on_line.values():
            if len(cs) < 2:
                continue
            exclusive = [c for c in cs if not c.basket and c.exclusive]
            if exclusive:
                for c in cs:
                    if c.basket:
                        continue  # runs after every item promotion: blocks none of them
                    o = opts.setdefault(c.order, {NORMAL})
                    if c.exclusive:
                        o.add(OFF)
                        if len(exclusive) > 1:
                            o.add(BOOST)
                    else:
                        o.add(BOOST)
            groups: dict[str, int] = {}
            for c in cs:
                if c.rule.group is not None:
                    groups[c.rule.group] = groups.get(c.rule.group, 0) + 1
            for c in cs:
                if c.rule.group is not None and groups[c.rule.group] > 1:
                    opts.setdefault(c.order, {NORMAL}).add(BOOST)
        return {k: tuple(sorted(v)) for k, v in opts.items()}

    def _clusters(self) -> tuple[list[_Cluster], _Cluster]:
        options = self._options_by_order = self._options()
        parent = list(range(self.n))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for c in (*self.item, *self.basket):
            if c.order in options or (not c.basket and not c.separable):
                first = find(c.reach[0])
                for pos in c.reach[1:]:
                    root = find(pos)
                    if root != first:
                        parent[max(root, first)] = min(root, first)
                        first = min(root, first)
        var_roots: dict[int, list[_Var]] = {}
        for c in self.cands:
            if c.order in options:
                var_roots.setdefault(find(c.reach[0]), []).append(_Var(c, options[c.order]))
        members: dict[int, list[int]] = {}
        static_lines: list[int] = []
        for pos in range(self.n):
            root = pos if parent[pos] == pos else find(pos)
            if root in var_roots:
                members.setdefault(root, []).append(pos)
            else:
                static_lines.append(pos)
        cluster_of = [-1] * self.n
        roots = sorted(var_roots, key=lambda r: var_roots[r][0].cand.order)
        for k, root in enumerate(roots):
            for pos in members[root]:
                cluster_of[pos] = k
        relevant: list[list[Candidate]] = [[] for _ in range(len(roots) + 1)]
        for c in self.cands:
            if c.basket and c.order not in options:
                continue
            if c.exclusive and c.basket:
                continue
            for k in {cluster_of[pos] for pos in c.reach}:
                relevant[k].append(c)  # k == -1 is the static block (last list)
        clusters = [
            _Cluster(tuple(members[root]), tuple(var_roots[root]), tuple(relevant[k]))
            for k, root in enumerate(roots)
        ]
        static = _Cluster(tuple(static_lines), (), tuple(relevant[-1]))
        return clusters, static

    # --- evaluation -----------------------------------------------------------------------------

    def _steps(self, cluster: _Cluster, config: tuple[int, ...]) -> list[Candidate]:
        """The execution order of one arrangement (see the module docstring)."""
        key = (id(cluster), config)
        done = self._step_cache.get(key)
        if done is not None:
            return done
        steps = self._order(cluster, config)
        self._step_cache[key] = steps
        return steps

    def _order(self, cluster: _Cluster, config: tuple[int, ...]) -> list[Candidate]:
        status = {v.cand.order: o for v, o in zip(cluster.vars, config, strict=True)}
        steps: list[tuple[int, int, Candidate]] = []
        for c in cluster.relevant:
            o = status.get(c.order, NORMAL)
            if o == OFF:
                continue
            if c.basket:
                if o == BOOST:
                    steps.append((0, c.order, c))
                continue
            steps.append((0 if o == BOOST else 1 if c.exclusive else 2, c.order, c))
        steps.sort(key=lambda s: (s[0], s[1]))
        return [c for _, _, c in steps]

    def _pairs(self, index: int, cluster: _Cluster) -> list[tuple[int, int]]:
        """The pairs of the cluster's promotions that share a line of the cluster."""
        pairs = self._cluster_pairs.get(index)
        if pairs is None:
            inside = set(cluster.lines)
            reach = [(c.order, inside.intersection(c.reach)) for c in cluster.relevant]
            pairs = [
                (a, b)
                for i, (a, ra) in enumerate(reach)
                for b, rb in reach[i + 1 :]
                if not ra.isdisjoint(rb)
            ]
            self._cluster_pairs[index] = pairs
        return pairs

    def _order_signature(
        self, index: int, cluster: _Cluster, steps: Sequence[Candidate]
    ) -> tuple[tuple[int, ...], tuple[bool, ...]]:
        """Which promotions run, and which of each overlapping pair runs first.

        Promotions that share no line touch disjoint state, so they commute: two execution
        orders that agree on every overlapping pair give the same outcome. Arrangements with
        the same signature are therefore evaluated once.
        """
        at = {c.order: i for i, c in enumerate(steps)}
        order = tuple(at[a] < at[b] for a, b in self._pairs(index, cluster) if a in at and b in at)
        return tuple(sorted(at)), order

    def _evaluate(
        self, index: int, cluster: _Cluster, config: tuple[int, ...]
    ) -> tuple[States, dict[int, Reservation]]:
        """Run the item-level promotions of one cluster in one arrangement (cached)."""
        cached = self._cache.get((index, config))
        if cached is not None:
            return cached
        steps = self._steps(cluster, config)
        sig: object = None
        if index >= 0:  # the static block has one arrangement: no signature needed
            sig = self._signature_of(index, cluster, config)
            same = self._by_signature.get(sig)
            if same is not None:
                self._cache[(index, config)] = same
                return same
        states: States = [None] * self.n
        facts = self.facts
        for pos in cluster.lines:
            units = facts[pos].units
            if units:  # discountable: LineState.fresh, inline
                states[pos] = LineState(list(units), [0] * len(units), {}, [])
        reservations: dict[int, Reservation] = {}
        for c in steps:
            if c.basket:
                reservations[c.order] = reserve(c, states)
            elif index < 0:  # the static block runs once: nothing to remember
                apply_item(c, states, self.facts)
            else:
                self._apply(c, states)
        result = (states, reservations)
        self._cache[(index, config)] = result
        if sig is not None:
            self._by_signature[sig] = result
        return result

    def _signature_of(self, index: int, cluster: _Cluster, config: tuple[int, ...]) -> object:
        """``(index, order signature)`` of one arrangement of cluster ``index`` (cached)."""
        sig = self._signatures.get((index, config))
        if sig is None:
            steps = self._steps(cluster, config)
            sig = self._signatures[(index, config)] = (
                index,
                self._order_signature(index, cluster, steps),
            )
        return sig

    def _is_new(self, index: int, cluster: _Cluster, config: tuple[int, ...]) -> bool:
        """False if an earlier arrangement of the cluster has the same signature (same outcome)."""
        sig = self._signature_of(index, cluster, config)
        if sig in self._seen:
            return False
        self._seen.add(sig)
        return True

    def _apply(self, c: Candidate, states: States) -> None:
        """Apply item-level ``c``, reusing the result if it met the same line states before.

        What a promotion does depends only on its own rule and the prices and claims of the
        lines it may touch, so the arrangements of a cluster — which keep applying the same
        promotion to the same states — share one computation per distinct input.

        A separable percent or amount off is simply applied: per line it is a function of that
        line's prices and claims alone, so a remembered result would be the one computed
        anyway, and for it the lookup costs as much as the computation.

        The key names the lines as well as their prices and claims: a fixed price's target
        depends on the line's facts (``qty``, ``price_per``, weighed or not), so what it did to
        one line must never be reused on another line that merely costs the same.
        """
        if c.separable and isinstance(c.rule.reward, PercentOff | AmountOff):
            apply_item(c, states, self.facts)
            return
        placed = [(pos, st) for pos in c.reach if (st := states[pos]) is not None]
        lines = [st for _, st in placed]
        key = (c.order, *[(pos, tuple(st.prices), tuple(st.masks)) for pos, st in placed])
        done = self._applied.get(key)
        if done is None:
            apply_item(c, states, self.facts)
            self._applied[key] = [
                (st.prices[:], st.masks[:], st.disc.get(c.order, 0)) for st in lines
            ]
            return
        for st, (prices, masks, amount) in zip(lines, done, strict=True):
            st.prices = prices[:]
            st.masks = masks[:]
            if amount:
                st.disc[c.order] = amount

    def _assemble(
        self,
        clusters: Sequence[_Cluster],
        static: _Cluster,
        choice: Sequence[tuple[int, ...]],
        *,
        final: bool = False,
    ) -> States:
        """The whole basket for one arrangement per cluster, basket-level promotions applied."""
        composed: States = [None] * self.n
        reservations: dict[int, Reservation] = {}
        boosted: set[int] = set()
        parts = [(k, cl, cfg) for k, (cl, cfg) in enumerate(zip(clusters, choice, strict=True))]
        parts.append((-1, static, ()))
        for k, cl, cfg in parts:
            states, res = self._evaluate(k, cl, cfg)
            for pos in cl.lines:
                composed[pos] = states[pos]
            reservations.update(res)
            boosted.update(v.cand.order for v, o in zip(cl.vars, cfg, strict=True) if o == BOOST)
        if not self.basket:
            return composed
        # Cached cluster outcomes are shared between arrangements: work on copies, except for
        # the final assembly, after which nothing reads the caches again.
        out = composed if final else [st.copy() if st is not None else None for st in composed]
        for c in self.basket:
            if c.order in boosted:
                compute_basket(c, out, reservations.get(c.order, []))
        for c in self.basket:
            if c.order not in boosted:
                apply_basket(c, out)  # reserve, then compute_basket
        return out

    def _alone(self, c: Candidate) -> States:
        """An exclusive basket-level promotion: it claims the basket, nothing else applies."""
        states: States = [LineState.fresh(f) if f.discountable else None for f in self.facts]
        reserved: Reservation = []
        for pos in c.reach:
            st = states[pos]
            if st is not None:
                reserved.append((pos, list(range(len(st.prices)))))
        compute_basket(c, states, reserved)
        return states

    # --- scoring --------------------------------------------------------------------------------

    def _tax(self, net: int, rate: int) -> int:
        key = (net, rate)
        tax = self._tax_memo.get(key)
        if tax is None:
            tax = self._tax_memo[key] = tax_exclusive(net, rate)
        return tax

    def key(self, states: States, positions: Iterable[int], choice: tuple[int, ...]) -> Key:
        """The ranking key of an outcome over ``positions`` (smaller is better)."""
        vec = [0] * len(self.cands)
        payable = 0
        by_class: dict[tuple[str, int], int] = {}
        for pos in positions:
            f = self.facts[pos]
            st = states[pos]
            if st is None:
                net = f.gross
            else:
                net = st.net
                for order, amount in st.disc.items():
                    vec[order] += amount
            payable += net
            if not self.inclusive:
                if self.per_receipt:
                    k = (f.tax_class, f.rate_ppm)
                    by_class[k] = by_class.get(k, 0) + net
                else:
                    payable += self._tax(net, f.rate_ppm)
        for (_, rate), net in by_class.items():
            payable += self._tax(net, rate)
        return (payable, -sum(vec), tuple(map(neg, vec)), choice)

    # --- incremental scoring -------------------------------------------------------------------
    #
    # With tax-inclusive prices and plain basket offers whose lines nest (each later offer covers
    # all or none of an earlier offer's lines), the whole basket's key follows from a few sums
    # per cluster: its net after item-level promotions, per basket offer the current amount of
    # the units that offer may take (not owned by an exclusive promotion), and its item-level
    # discounts. An earlier offer's discount then lies entirely inside a later offer's units or
    # entirely outside them, so no per-line split is needed to know the later offer's base. The
    # key is identical to :meth:`key` of the assembled basket (a test checks this), at a cost
    # per alternative of the cluster's size instead of the basket's.

    def _fast_ok(self) -> bool:
        if not self.inclusive or not self.basket:
            return False
        groups: dict[str, int] = {}
        for c in self.cands:
            if c.rule.group is not None:
                groups[c.rule.group] = groups.get(c.rule.group, 0) + 1
        reaches = self._basket_reach
        for j, c in enumerate(self.basket):
            if c.order in self._options_by_order:
                return False
            if c.rule.group is not None and groups[c.rule.group] > 1:
                return False
            for earlier in reaches[:j]:
                if not (earlier <= reaches[j] or earlier.isdisjoint(reaches[j])):
                    return False
        return True

    def _summary(self, index: int, cluster: _Cluster, config: tuple[int, ...]) -> _Summary:
        cached = self._summaries.get((index, config))
        if cached is not None:
            return cached
        states = self._evaluate(index, cluster, config)[0]
        facts = self.facts
        offers_on = self._offers_on
        net = 0
        avail = [0] * len(self.basket)
        vec: dict[int, int] = {}
        for pos in cluster.lines:
            st = states[pos]
            if st is None:
                net += facts[pos].gross
                continue
            prices = st.prices
            amount = sum(prices)
            net += st.net if st.lazy else amount
            for order, taken in st.disc.items():
                vec[order] = vec.get(order, 0) + taken
            offers = offers_on[pos]
            if offers:
                # What the basket offers may take: the units no exclusive promotion owns.
                masks = st.masks
                if len(masks) == 1:
                    free = 0 if masks[0] & EXCLUSIVE else amount
                elif max(masks) >= EXCLUSIVE and any(m & EXCLUSIVE for m in masks):
                    free = sum(p for p, m in zip(prices, masks, strict=True) if not m & EXCLUSIVE)
                else:
                    free = amount
                for j in offers:
                    avail[j] += free
        summary = _Summary(net, tuple(avail), tuple(sorted(vec.items())), sum(vec.values()))
        self._summaries[(index, config)] = summary
        return summary

    def _totals(self, parts: Iterable[_Summary]) -> _Totals:
        """Net, per-offer available amounts, discount vector and its sum, over summaries."""
        net = disc = 0
        avail = [0] * len(self.basket)
        vec = [0] * len(self.cands)
        for part in parts:
            net += part.net
            disc += part.disc
            for j, a in enumerate(part.avail):
                avail[j] += a
            for order, amount in part.vec:
                vec[order] += amount
        return net, avail, vec, disc

    def _takes(self, avail: Sequence[int]) -> list[int]:
        """What each plain basket offer takes, given the amounts available to each."""
        taken: list[int] = []
        percent = self._percent
        for amount, (nested, is_percent, value) in zip(avail, self._offer_terms, strict=True):
            base = amount
            for jj in nested:
                base -= taken[jj]
            taken.append(percent(base, value) if is_percent else min(value, base))
        return taken

    def _primary(self, parts: Iterable[_Summary], rest: _Totals) -> tuple[int, int]:
        """Keys 1 and 2 (payable, minus total discount) of ``rest`` plus ``parts``: cheap."""
        net, avail, disc = rest[0], list(rest[1]), rest[3]
        for part in parts:
            net += part.net
            disc += part.disc
            avail = list(map(add, avail, part.avail))
        return self._primary_of(net, disc, avail)

    def _primary_of(self, net: int, disc: int, avail: Sequence[int]) -> tuple[int, int]:
        """Keys 1 and 2 given the item-level net and discount and the offers' amounts."""
        taken = sum(self._takes(avail))
        return (net - taken, -(disc + taken))

    def _fast_primary(self, part: _Summary, rest: _Totals) -> tuple[int, int]:
        return self._primary((part,), rest)

    def _fast_key(self, part: _Summary, rest: _Totals, choice: tuple[int, ...]) -> Key:
        """The full key of ``rest`` plus one summary."""
        net, avail, vec, _ = self._totals([part])
        net += rest[0]
        avail = [a + b for a, b in zip(avail, rest[1], strict=True)]
        vec = [a + b for a, b in zip(vec, rest[2], strict=True)]
        for c, d in zip(self.basket, self._takes(avail), strict=True):
            vec[c.order] += d
            net -= d
        return (net, -sum(vec), tuple(map(neg, vec)), choice)

    def _signature(self, index: int, cluster: _Cluster, config: tuple[int, ...]) -> object:
        """Everything about a cluster's outcome that the rest of the basket can see."""
        states, reservations = self._evaluate(index, cluster, config)
        lines = []
        for pos in cluster.lines:
            st = states[pos]
            if st is not None:
                lines.append((tuple(st.prices), tuple(st.masks), tuple(st.disc.items())))
        boosted = tuple(
            v.cand.order for v, o in zip(cluster.vars, config, strict=True) if o == BOOST
        )
        res = tuple(
            (k, tuple((p, tuple(i)) for p, i in r)) for k, r in sorted(reservations.items())
        )
        return (tuple(lines), boosted, res)

    def _distinct(self, index: int, cluster: _Cluster, fast: bool) -> list[tuple[int, ...]]:
        """The cluster's arrangements with distinct outcomes, the first (smallest) of each.

        Two arrangements with the same outcome differ only in key 4 (the arrangement itself),
        where the earlier one in enumeration (lexicographic) order wins, so dropping the later
        ones never changes the choice — it only shrinks the joint search.
        """
        seen: set[object] = set()
        out = []
        for config in cluster.configs():
            if not self._is_new(index, cluster, config):
                continue
            sig = (
                self._summary(index, cluster, config)
                if fast
                else self._signature(index, cluster, config)
            )
            if sig not in seen:
                seen.add(sig)
                out.append(config)
        return out

    # --- search ---------------------------------------------------------------------------------

    def _best_in_cluster(self, index: int, cluster: _Cluster) -> tuple[int, ...]:
        """Separable case: the cluster's best arrangement, judged on its own lines."""

        def score(config: tuple[int, ...]) -> Key:
            return self.key(self._evaluate(index, cluster, config)[0], cluster.lines, config)

        if cluster.size <= CLUSTER_LIMIT:
            return _argmin(
                (cfg for cfg in cluster.configs() if self._is_new(index, cluster, cfg)), score
            )
        self.exact = False
        return _coordinate(cluster, score)

    def _coupled(self, clusters: list[_Cluster], static: _Cluster) -> list[tuple[int, ...]]:
        """Clusters interact through basket offers or receipt tax: judge the whole basket."""
        if not clusters:
            return []
        fast = self._fast_ok()
        everything = range(self.n)
        reps = [
            self._distinct(k, cl, fast) if cl.size <= CLUSTER_LIMIT else None
            for k, cl in enumerate(clusters)
        ]
        joint = (
            all(r is not None for r in reps)
            and math.prod(len(r or ()) for r in reps) <= JOINT_LIMIT
        )

        if not fast:

            def full(combo: Sequence[tuple[int, ...]]) -> Key:
                flat = tuple(o for cfg in combo for o in cfg)
                return self.key(self._assemble(clusters, static, combo), everything, flat)

            if joint:
                combos: Iterable[tuple[tuple[int, ...], ...]] = itertools.product(
                    *(r or () for r in reps)
                )
                best_combo = _argmin(combos, full)
                return list(best_combo)
            self.exact = False
            choice = [tuple(NORMAL for _ in cl.vars) for cl in clusters]
            for k, cl in enumerate(clusters):

                def within(config: tuple[int, ...], k: int = k) -> Key:
                    return full([*choice[:k], config, *choice[k + 1 :]])

                rep = reps[k]
                choice[k] = _argmin(rep, within) if rep is not None else _coordinate(cl, within)
            return choice

        # Incremental scoring: a combination's key from summaries (see "incremental scoring").
        static_part = self._summary(-1, static, ())
        if joint:
            rest = self._totals([static_part])
            # Every combination with its sums (net, discount, offers' amounts), in the order of
            # itertools.product (the last cluster varies fastest); each prefix is summed once.
            sums: list[_Combo] = [((), rest[0], rest[3], tuple(rest[1]))]
            for k, cl in enumerate(clusters):
                parts = [(cfg, self._summary(k, cl, cfg)) for cfg in reps[k] or ()]
                sums = [
                    ((*chosen, cfg), net + s.net, disc + s.disc, tuple(map(add, avail, s.avail)))
                    for chosen, net, disc, avail in sums
                    for cfg, s in parts
                ]

            def primary(combo: _Combo) -> tuple[int, int]:
                return self._primary_of(combo[1], combo[2], combo[3])

            def whole(combo: _Combo) -> Key:
                # _fast_key of the merged summaries, from the sums already at hand.
                chosen, net, _, avail = combo
                vec = list(rest[2])
                for k, (cl, cfg) in enumerate(zip(clusters, chosen, strict=True)):
                    for order, amount in self._summary(k, cl, cfg).vec:
                        vec[order] += amount
                for c, d in zip(self.basket, self._takes(avail), strict=True):
                    vec[c.order] += d
                    net -= d
                flat = tuple(o for cfg in chosen for o in cfg)
                return (net, -sum(vec), tuple(map(neg, vec)), flat)

            return list(_argmin_two_phase(sums, primary, whole)[0])
        self.exact = False
        choice = [tuple(NORMAL for _ in cl.vars) for cl in clusters]
        for k, cl in enumerate(clusters):
            # Everything but cluster k is fixed while it is decided: sum the rest once.
            others = self._totals(
                [static_part]
                + [self._summary(j, c, choice[j]) for j, c in enumerate(clusters) if j != k]
            )

            def cheap(
                config: tuple[int, ...], k: int = k, cl: _Cluster = cl, rest: _Totals = others
            ) -> tuple[int, int]:
                return self._fast_primary(self._summary(k, cl, config), rest)

            def exact_key(
                config: tuple[int, ...], k: int = k, cl: _Cluster = cl, rest: _Totals = others
            ) -> Key:
                flat = tuple(o for cfg in (*choice[:k], config, *choice[k + 1 :]) for o in cfg)
                return self._fast_key(self._summary(k, cl, config), rest, flat)

            rep = reps[k]
            if rep is not None:
                choice[k] = _argmin_two_phase(rep, cheap, exact_key)
            else:
                choice[k] = _coordinate(cl, exact_key)
        return choice

    def _merge(self, parts: Sequence[_Summary]) -> _Summary:
        """One summary for several clusters' summaries."""
        if len(parts) == 1:
            return parts[0]
        net, avail, vec, disc = self._totals(parts)
        return _Summary(net, tuple(avail), tuple((o, v) for o, v in enumerate(vec) if v), disc)

    def run(self) -> Resolution:
        clusters, static = self._clusters()
        coupled = bool(self.basket) or (not self.inclusive and self.per_receipt)
        if coupled:
            choice = self._coupled(clusters, static)
        else:
            choice = [self._best_in_cluster(k, cl) for k, cl in enumerate(clusters)]
        states = self._assemble(clusters, static, choice, final=True)
        # The final assembly worked on the cached states in place: forget them, so nothing can
        # ever build on an outcome that already carries basket discounts.
        self._cache.clear()
        self._by_signature.clear()
        if not self.outer:
            return Resolution(states, None, self.exact, choice)
        everything = range(self.n)
        best: tuple[Key, States, Candidate | None] = (
            self.key(states, everything, (0,)),
            states,
            None,
        )
        for c in self.outer:
            alone = self._alone(c)
            alone_key = self.key(alone, everything, (1, c.order))
            if alone_key < best[0]:
                best = (alone_key, alone, c)
        return Resolution(best[1], best[2], self.exact, choice)


def _argmin(items: Iterable[T], score: Callable[[T], Key]) -> T:
    """The item with the smallest key; the first one on equal keys (keys here never tie)."""
    best: tuple[Key, T] | None = None
    for item in items:
        key = score(item)
        if best is None or key < best[0]:
            best = (key, item)
    if best is None:  # pragma: no cover - every search has at least one arrangement
        raise ValueError("nothing to choose from")
    return best[1]


def _argmin_two_phase(
    items: Iterable[T], primary: Callable[[T], tuple[int, int]], full: Callable[[T], Key]
) -> T:
    """:func:`_argmin` by ``full``, whose first two parts are ``primary`` (cheap to compute).

    Only the items tied on ``primary`` need their full key, so the result is the same as
    ranking every item by ``full`` — at a fraction of the cost.
    """
    best: tuple[int, int] | None = None
    ties: list[T] = []
    for item in items:
        p = primary(item)
        if best is None or p < best:
            best, ties = p, [item]
        elif p == best:
            ties.append(item)
    return ties[0] if len(ties) == 1 else _argmin(ties, full)


def _coordinate(cluster: _Cluster, score: Callable[[tuple[int, ...]], Key]) -> tuple[int, ...]:
    """Too many arrangements: settle one promotion at a time, in rank order, others fixed.

    Starts from the normal order and keeps a change only if it ranks better; repeats the pass
    until nothing changes (at most :data:`COORDINATE_PASSES` times). Deterministic, and never
    worse than the normal order, but only a local optimum.
    """
    config = [NORMAL] * len(cluster.vars)
    for _ in range(COORDINATE_PASSES):
        before = tuple(config)
        for j, var in enumerate(cluster.vars):
            trials: list[tuple[int, ...]] = [
                (*config[:j], o, *config[j + 1 :]) for o in var.options
            ]
            picked = _argmin(trials, score)
            config = list(picked)
        if tuple(config) == before:
            break
    return tuple(config)


def resolve(
    facts: Sequence[LineFacts],
    cands: Sequence[Candidate],
    *,
    inclusive: bool,
    per_receipt: bool,
) -> Resolution:
    """Apply ``cands`` (in rank order, ``order`` == index) to the basket, conflicts resolved."""
    return _Search(facts, cands, inclusive=inclusive, per_receipt=per_receipt).run()
