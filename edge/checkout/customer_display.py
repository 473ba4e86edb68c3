"""What the customer's 2×20 pole display says, derived from the sale.

Pure text: the display driver (``edge.peripherals``) maps it to the device's command set and
code page. Amounts are formatted with ``protocol.money`` so the customer sees exactly the
cents the receipt will show.
"""

from __future__ import annotations

from edge.checkout.state import Sale
from protocol.money import Currency
from protocol.money import format as format_money

WIDTH = 20


def _fit(left: str, right: str = "") -> str:
    """``left`` and ``right`` on one 20-column line, the name shortened when needed."""
    room = WIDTH - len(right) - (1 if right else 0)
    left = left if len(left) <= room else left[: max(0, room - 1)] + "…"
    return (left.ljust(room) + (" " + right if right else ""))[:WIDTH]


def lines(
    sale: Sale | None,
    *,
    total: int,
    due: int,
    currency: Currency,
    store_name: str = "Welcome",
    change: int | None = None,
    greet: bool = False,
) -> tuple[str, str]:
    """The two display lines for the current moment of the sale.

    ``greet`` is set right after a member is attached: the display welcomes them by name and
    shows the recommendation HQ sent for them, until the next item is scanned.
    """
    if sale is None:
        if change:
            return _fit("Change", format_money(change, currency)), _fit("Thank you!")
        return _fit(store_name), _fit("")
    if greet and sale.member is not None:
        name = sale.member.first_name or "member"
        return _fit(f"Hello {name}!"), _fit(sale.member.recommendation or "")
    if sale.tenders:
        paid = format_money(sale.paid, currency)
        return _fit("Paid", paid), _fit("Still due", format_money(due, currency))
    live = sale.live_lines
    if not live:
        return _fit(store_name), _fit("Total", format_money(total, currency))
    last = live[-1]
    return _fit(last.short_name or last.name), _fit("Total", format_money(total, currency))
