"""Domain events: the till's journal, the only record of what happened.

Each accepted command yields events; they are committed to the ``journal`` table before anything
is shown, printed or sent, and the state of a sale or a shift is a pure fold of them. So an event
records *facts as they were at the time* — the price the item had when scanned, the member's
balance when attached — never a reference to something that may change later.

Events are msgspec structs tagged by ``event`` so the journal is plain JSON a person can read.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from protocol.messages.uplink import (
    MemberEnrolled as MemberEnrolledRecord,
)
from protocol.messages.uplink import (
    RefundCompleted as RefundRecord,
)
from protocol.messages.uplink import (
    SaleCompleted as SaleRecord,
)
from protocol.messages.uplink import (
    ShiftClosed as ShiftRecord,
)
from protocol.messages.uplink import (
    StockItem,
)


class DomainEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="event"):
    """Base of every journal event; ``at`` is the till's clock when it happened."""

    at: datetime


# --- the sale stream (stream = sale id) -------------------------------------------------------


class SaleOpened(DomainEvent, frozen=True, tag="sale.opened"):
    sale_id: uuid.UUID
    shift_id: uuid.UUID
    cashier_id: str
    price_book_version: int
    promotion_set_version: int
    prices_include_tax: bool


class ItemAdded(DomainEvent, frozen=True, tag="item.added"):
    """An item as it was priced in the book when scanned; later price changes do not touch it."""

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


class QuantityChanged(DomainEvent, frozen=True, tag="item.qty"):
    line_no: int
    qty: int


class LineVoided(DomainEvent, frozen=True, tag="item.voided"):
    line_no: int
    by: str


class MemberAttached(DomainEvent, frozen=True, tag="member.attached"):
    """The member as the cache knew them when attached (balance net of pending entries)."""

    member_id: str
    first_name: str | None
    tier: str | None
    birthday: str | None
    points: int
    redeemable_offline: int
    stored_value: int
    recommendation: str | None


class MemberDetached(DomainEvent, frozen=True, tag="member.detached"):
    pass


class CouponAdded(DomainEvent, frozen=True, tag="coupon.added"):
    code: str
    promotion_id: str | None


class TenderAdded(DomainEvent, frozen=True, tag="tender.added"):
    """A payment taken. ``amount`` counts toward the sale; ``rounding`` is the cash rounding
    this tender settled (non-zero only on the cash tender that completes the sale)."""

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


class SaleSuspended(DomainEvent, frozen=True, tag="sale.suspended"):
    by: str


class SaleResumed(DomainEvent, frozen=True, tag="sale.resumed"):
    by: str


class SaleVoided(DomainEvent, frozen=True, tag="sale.voided"):
    by: str
    authorised_by: str
    reason: str


class SaleCompleted(DomainEvent, frozen=True, tag="sale.completed"):
    """The sale closed; ``record`` is exactly what goes to HQ, frozen for reprints and refunds."""

    record: SaleRecord


class FeedbackRecorded(DomainEvent, frozen=True, tag="feedback.recorded"):
    rating: int


# --- the till stream (stream = "till") -------------------------------------------------------


class CashierLoggedIn(DomainEvent, frozen=True, tag="cashier.login"):
    cashier_id: str
    role: str


class CashierLoggedOut(DomainEvent, frozen=True, tag="cashier.logout"):
    cashier_id: str


class ShiftOpened(DomainEvent, frozen=True, tag="shift.opened"):
    shift_id: uuid.UUID
    cashier_id: str
    opening_float: int


class CashMoved(DomainEvent, frozen=True, tag="cash.moved"):
    """Cash in or out of the drawer outside a sale: drop, pickup, or a no-sale opening (0)."""

    shift_id: uuid.UUID
    movement: str
    amount: int
    by: str
    authorised_by: str | None
    reason: str | None


class ShiftClosed(DomainEvent, frozen=True, tag="shift.closed"):
    record: ShiftRecord


class XReportTaken(DomainEvent, frozen=True, tag="x.report"):
    """An X report printed mid-shift; the record has the shape of a Z report."""

    record: ShiftRecord


class StockAdjusted(DomainEvent, frozen=True, tag="stock.adjusted"):
    reason: str
    reference: str | None
    by: str
    items: list[StockItem]


class RefundCompleted(DomainEvent, frozen=True, tag="refund.completed"):
    record: RefundRecord


class MemberEnrolled(DomainEvent, frozen=True, tag="member.enrolled"):
    record: MemberEnrolledRecord
    phone_hash: str | None


SaleEvent = (
    SaleOpened
    | ItemAdded
    | QuantityChanged
    | LineVoided
    | MemberAttached
    | MemberDetached
    | CouponAdded
    | TenderAdded
    | SaleSuspended
    | SaleResumed
    | SaleVoided
    | SaleCompleted
    | FeedbackRecorded
)
TillEvent = (
    CashierLoggedIn
    | CashierLoggedOut
    | ShiftOpened
    | CashMoved
    | ShiftClosed
    | XReportTaken
    | StockAdjusted
    | RefundCompleted
    | MemberEnrolled
)
AnyEvent = SaleEvent | TillEvent

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)


def encode(event: DomainEvent) -> bytes:
    """The journal form of an event."""
    return _encoder.encode(event)


def decode(data: bytes) -> AnyEvent:
    """Read an event back from the journal."""
    return _decoder.decode(data)


def kind_of(event: DomainEvent) -> str:
    """The event's tag, as stored in the journal's ``kind`` column."""
    tag = type(event).__struct_config__.tag
    assert isinstance(tag, str)
    return tag
