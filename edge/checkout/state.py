"""The state of a sale as a pure fold of its events.

``fold(events)`` is the whole truth: the till service keeps a live :class:`Sale` by applying each
event it commits, and after a power cut rebuilds the same value from the journal — which is how
the cashier gets back the exact screen they had. A test checks the two never differ.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

import msgspec

from edge.checkout import events as ev
from protocol.messages.uplink import SaleCompleted as SaleRecord

SaleStatus = Literal["open", "suspended", "completed", "voided"]


class FoldError(Exception):
    """The journal holds an event that cannot follow the ones before it (a bug or tampering)."""


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the basket, with the facts captured when it was added."""

    line_no: int
    sku: str
    gtin: str | None
    name: str
    short_name: str
    category: str | None
    tax_class: str
    tax_rate_ppm: int
    qty: int
    uom: str
    unit_price: int
    price_per: int
    price_source: str
    gross_override: int | None
    discountable: bool
    voided: bool = False


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    first_name: str | None
    tier: str | None
    birthday: str | None
    points: int
    redeemable_offline: int
    stored_value: int
    recommendation: str | None


@dataclass(frozen=True, slots=True)
class Tender:
    kind: str
    amount: int
    tendered: int
    change: int
    rounding: int
    reference: str | None
    approval_code: str | None
    masked_pan: str | None
    card_scheme: str | None
    points: int | None


@dataclass(frozen=True, slots=True)
class Sale:
    sale_id: uuid.UUID
    shift_id: uuid.UUID
    cashier_id: str
    opened_at: datetime
    price_book_version: int
    promotion_set_version: int
    prices_include_tax: bool
    lines: tuple[Line, ...] = ()
    member: Member | None = None
    coupons: tuple[tuple[str, str | None], ...] = ()
    tenders: tuple[Tender, ...] = ()
    status: SaleStatus = "open"
    record: SaleRecord | None = None
    feedback: int | None = None

    @property
    def live_lines(self) -> tuple[Line, ...]:
        """Lines that count: not voided, quantity above zero."""
        return tuple(line for line in self.lines if not line.voided and line.qty > 0)

    @property
    def paid(self) -> int:
        """Sum of tender amounts (what counts toward the sale, change excluded)."""
        return sum(t.amount for t in self.tenders)

    @property
    def rounding(self) -> int:
        """Cash rounding settled so far (added to what is due)."""
        return sum(t.rounding for t in self.tenders)

    @property
    def next_line_no(self) -> int:
        return len(self.lines) + 1

    def line(self, line_no: int) -> Line | None:
        """The line with ``line_no`` (voided or not), or ``None``."""
        if 1 <= line_no <= len(self.lines):
            return self.lines[line_no - 1]
        return None


def apply(sale: Sale | None, event: ev.AnyEvent) -> Sale:
    """The sale after ``event``. Raises :class:`FoldError` if the event cannot follow."""
    if isinstance(event, ev.SaleOpened):
        if sale is not None:
            raise FoldError("sale.opened in a stream that already has a sale")
        return Sale(
            sale_id=event.sale_id,
            shift_id=event.shift_id,
            cashier_id=event.cashier_id,
            opened_at=event.at,
            price_book_version=event.price_book_version,
            promotion_set_version=event.promotion_set_version,
            prices_include_tax=event.prices_include_tax,
        )
    if sale is None:
        raise FoldError(f"{ev.kind_of(event)} before sale.opened")
    if isinstance(event, ev.FeedbackRecorded):
        if sale.status != "completed":
            raise FoldError("feedback on a sale that is not completed")
        return replace(sale, feedback=event.rating)
    if sale.status in ("completed", "voided"):
        raise FoldError(f"{ev.kind_of(event)} after the sale was {sale.status}")
    if isinstance(event, ev.SaleResumed):
        return replace(sale, status="open", cashier_id=event.by)
    if sale.status == "suspended":
        raise FoldError(f"{ev.kind_of(event)} on a suspended sale")
    return _apply_open(sale, event)


def _apply_open(sale: Sale, event: ev.AnyEvent) -> Sale:
    if isinstance(event, ev.ItemAdded):
        if event.line_no != sale.next_line_no:
            raise FoldError(f"line {event.line_no} added where {sale.next_line_no} was next")
        line = Line(**_fields(event))
        return replace(sale, lines=(*sale.lines, line))
    if isinstance(event, ev.QuantityChanged):
        return _replace_line(sale, event.line_no, qty=event.qty)
    if isinstance(event, ev.LineVoided):
        return _replace_line(sale, event.line_no, voided=True)
    if isinstance(event, ev.MemberAttached):
        member = Member(**_fields(event))
        return replace(sale, member=member)
    if isinstance(event, ev.MemberDetached):
        return replace(sale, member=None)
    if isinstance(event, ev.CouponAdded):
        return replace(sale, coupons=(*sale.coupons, (event.code, event.promotion_id)))
    if isinstance(event, ev.TenderAdded):
        tender = Tender(**_fields(event))
        return replace(sale, tenders=(*sale.tenders, tender))
    if isinstance(event, ev.SaleSuspended):
        return replace(sale, status="suspended")
    if isinstance(event, ev.SaleVoided):
        return replace(sale, status="voided")
    if isinstance(event, ev.SaleCompleted):
        return replace(sale, status="completed", record=event.record)
    raise FoldError(f"{ev.kind_of(event)} does not belong to a sale")


def _fields(event: ev.DomainEvent) -> dict[str, Any]:
    """An event's fields without its timestamp: the state keeps facts, the journal keeps when."""
    out = msgspec.structs.asdict(event)
    del out["at"]
    return out


def _replace_line(sale: Sale, line_no: int, **changes: object) -> Sale:
    line = sale.line(line_no)
    if line is None or line.voided:
        raise FoldError(f"line {line_no} does not exist or is voided")
    lines = list(sale.lines)
    lines[line_no - 1] = replace(line, **changes)  # type: ignore[arg-type]
    return replace(sale, lines=tuple(lines))


def fold(events: Iterable[ev.AnyEvent]) -> Sale | None:
    """The sale a stream of events describes (``None`` for an empty stream)."""
    sale: Sale | None = None
    for event in events:
        sale = apply(sale, event)
    return sale
