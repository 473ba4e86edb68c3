"""Tax on a priced basket: per line or per receipt, prices with or without tax.

All rounding is :mod:`protocol.money`'s (``tax_inclusive`` / ``tax_exclusive``, HALF_UP), and
every split is :func:`protocol.money.allocate`, so the receipt adds up to the cent:

* **per line** (``per_receipt=False``): each line's tax is computed on its own net; a class's
  tax is the sum of its lines'.
* **per receipt** (``per_receipt=True``): a class's tax is computed once on the sum of its
  lines' nets, then split back over those lines in proportion to their nets (largest
  remainder, ties to the earliest line), so the lines' taxes add up to the class tax exactly.
  The two methods can differ by a cent per class, which is why a till must know which one its
  tax authority expects.

Prices *including* tax (EU shelf prices): a line's net already contains its tax and the
customer pays the net. Prices *excluding* tax (US sales tax, B2B): the tax is added on top.
Either way each :class:`TaxRow` satisfies ``net + tax == gross`` exactly, where ``net`` is
excluding tax and ``gross`` including it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from protocol.money import MAX_ABS_MINOR, MAX_RATE_PPM, allocate, tax_exclusive, tax_inclusive

__all__ = ["TaxRow", "compute_taxes"]

_PPM = 1_000_000


@dataclass(frozen=True, slots=True)
class TaxRow:
    """One tax class of a receipt: amounts excluding tax, the tax, and including tax."""

    tax_class: str
    rate_ppm: int
    net: int
    tax: int
    gross: int


def compute_taxes(
    classes: Sequence[str],
    nets: Sequence[int],
    rates_ppm: Mapping[str, int],
    *,
    prices_include_tax: bool,
    per_receipt: bool,
) -> tuple[list[int], list[TaxRow]]:
    """Each line's tax and one row per tax class present (sorted by class).

    ``classes[i]`` and ``nets[i]`` are line ``i``'s tax class and amount after discounts (the
    price as charged: including tax when ``prices_include_tax``). Every class must be in
    ``rates_ppm`` (the caller checks and refuses unknown classes).
    """
    tax_of = tax_inclusive if prices_include_tax else tax_exclusive
    line_tax = [0] * len(nets)
    members: dict[str, list[int]] = {}
    for i, cls in enumerate(classes):
        members.setdefault(cls, []).append(i)
    rows = []
    for cls in sorted(members):
        rate = rates_ppm[cls]
        idxs = members[cls]
        class_net = sum(nets[i] for i in idxs)
        if per_receipt:
            class_tax = tax_of(class_net, rate)
            for i, share in zip(idxs, allocate(class_tax, [nets[i] for i in idxs]), strict=True):
                line_tax[i] = share
        elif type(rate) is int and 0 <= rate <= MAX_RATE_PPM:
            # Per line, the tax of each net inline: money's checks, re-done for every line, cost
            # more than the arithmetic. This is tax_of's exact HALF_UP division (divmod, up on
            # a remainder of at least half) for a valid rate and a net in 0..MAX_ABS_MINOR; any
            # other net goes through tax_of itself, which computes or refuses it as always.
            divisor = _PPM + rate if prices_include_tax else _PPM
            class_tax = 0
            for i in idxs:
                net = nets[i]
                if type(net) is int and 0 <= net <= MAX_ABS_MINOR:
                    tax, remainder = divmod(net * rate, divisor)
                    if 2 * remainder >= divisor:
                        tax += 1
                else:
                    tax = tax_of(net, rate)
                line_tax[i] = tax
                class_tax += tax
        else:
            for i in idxs:
                line_tax[i] = tax_of(nets[i], rate)
            class_tax = sum(line_tax[i] for i in idxs)
        if prices_include_tax:
            rows.append(TaxRow(cls, rate, class_net - class_tax, class_tax, class_net))
        else:
            rows.append(TaxRow(cls, rate, class_net, class_tax, class_net + class_tax))
    return line_tax, rows
