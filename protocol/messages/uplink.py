"""Uplink event bodies (till -> HQ), schema version 1 of each.

Each body is a record of something that happened on a till and was committed to its journal. They
carry everything HQ needs to account for the event without asking the till again: a sale carries
its lines, each discount with the promotion that caused it, the tax breakdown, the tenders and the
loyalty movement. All money is integer minor units in the sale's ``currency``.

Conventions:
- ``qty`` is in the line's unit of measure (``ea`` for pieces, ``g`` for weighed goods); the
  ``unit_price`` is per ``price_per`` of those units (``price_per=1000`` with ``uom="g"`` is a
  price per kilogram), and ``gross = unit_price * qty / price_per`` rounded half-up.
- A discount ``amount`` is positive and reduces the price:
  ``net = gross - sum(discount amounts)``.
- Refund amounts are positive numbers of money going back to the customer.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

from protocol.messages.base import (
    Amount,
    Body,
    Count,
    CurrencyCode,
    Gtin,
    Id,
    Name,
    NonNegAmount,
    NonNegPoints,
    Points,
    Quantity,
    RatePpm,
    Registry,
    Seq,
    ShortText,
    Sku,
    Text,
    Timestamp,
    TypeName,
    Version,
    Wire,
    exact,
)

UPLINK = Registry("uplink")
"""Every uplink event type the current code understands."""

UnitOfMeasure = Literal["ea", "g", "ml", "cm"]
TenderKind = Literal["cash", "card", "wallet", "stored_value", "points"]
ReceiptNo = Annotated[
    str,
    msgspec.Meta(pattern=exact(r"[A-Za-z0-9][A-Za-z0-9-]{0,39}"), description="Receipt number."),
]
MaskedPan = Annotated[
    str,
    msgspec.Meta(
        pattern=exact(r"[0-9]{0,6}[*]{4,13}[0-9]{0,4}"),
        description="A card number with at most the first 6 and last 4 digits visible.",
    ),
]
PhoneE164 = Annotated[str, msgspec.Meta(pattern=exact(r"\+[1-9][0-9]{6,14}"))]


class Discount(Wire, frozen=True):
    """One discount on a line, attributed to the promotion (and coupon) that caused it."""

    promotion_id: Id
    promotion_version: Version
    name: Name
    amount: NonNegAmount
    coupon: ShortText | None


class SaleLine(Wire, frozen=True):
    """One line of a completed sale, priced as the customer saw it."""

    line_no: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    sku: Sku
    gtin: Gtin | None
    name: Name
    category: Id | None
    tax_class: Id
    qty: Quantity
    uom: UnitOfMeasure
    unit_price: Amount
    price_per: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    price_source: Literal["book", "open", "barcode", "override"]
    gross: Amount
    discounts: Annotated[list[Discount], msgspec.Meta(max_length=50)]
    net: Amount
    tax: Amount
    points_earned: Points


class TaxLine(Wire, frozen=True):
    """One row of the receipt's tax breakdown; rows add up to the sale's tax total to the cent."""

    tax_class: Id
    rate_ppm: RatePpm
    net: Amount
    tax: Amount
    gross: Amount


class Tender(Wire, frozen=True):
    """One payment (or, on a refund, one repayment).

    ``amount`` is what this tender contributes to the sale; for cash ``tendered`` is what the
    customer handed over and ``change`` what went back (``tendered - amount``). Card and wallet
    tenders carry the terminal's reference and approval code and never a full card number.
    """

    kind: TenderKind
    amount: Amount
    tendered: Amount
    change: NonNegAmount
    reference: ShortText | None
    approval_code: Annotated[str, msgspec.Meta(max_length=32)] | None
    masked_pan: MaskedPan | None
    card_scheme: Annotated[str, msgspec.Meta(max_length=32)] | None
    points: NonNegPoints | None


class SaleCompleted(Body, frozen=True):
    """A sale paid in full and closed on the till."""

    TYPE = "sale.completed"
    VERSION = 1

    sale_id: uuid.UUID
    receipt_no: ReceiptNo
    opened_at: Timestamp
    completed_at: Timestamp
    cashier_id: Id
    shift_id: uuid.UUID
    currency: CurrencyCode
    prices_include_tax: bool
    lines: Annotated[list[SaleLine], msgspec.Meta(max_length=2000)]
    subtotal: Amount
    discount_total: NonNegAmount
    tax_total: Amount
    total: Amount
    rounding: Amount
    taxes: Annotated[list[TaxLine], msgspec.Meta(max_length=50)]
    tenders: Annotated[list[Tender], msgspec.Meta(min_length=1, max_length=20)]
    change: NonNegAmount
    member_id: Id | None
    points_earned: NonNegPoints
    points_redeemed: NonNegPoints
    coupons: Annotated[list[ShortText], msgspec.Meta(max_length=20)]
    price_book_version: Version
    promotion_set_version: Version


class SaleVoided(Body, frozen=True):
    """An open sale cancelled before payment, with who authorised it and why."""

    TYPE = "sale.voided"
    VERSION = 1

    sale_id: uuid.UUID
    opened_at: Timestamp
    voided_at: Timestamp
    cashier_id: Id
    authorised_by: Id
    shift_id: uuid.UUID
    reason: ShortText
    line_count: Count
    total: Amount


class RefundLine(Wire, frozen=True):
    """A (part of a) line of the original sale being refunded."""

    original_line_no: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    sku: Sku
    qty: Quantity
    amount: NonNegAmount
    tax: Amount
    points_reversed: NonNegPoints


class RefundCompleted(Body, frozen=True):
    """Money returned against a receipt, with the stock and points it reverses.

    ``total`` is what the refunded lines were worth; the tenders add up to ``total + rounding``,
    ``rounding`` being the cash rounding of a cash refund to the smallest coin.
    """

    TYPE = "refund.completed"
    VERSION = 1

    refund_id: uuid.UUID
    receipt_no: ReceiptNo
    original_sale_id: uuid.UUID
    original_receipt_no: ReceiptNo
    completed_at: Timestamp
    cashier_id: Id
    authorised_by: Id | None
    shift_id: uuid.UUID
    currency: CurrencyCode
    reason: ShortText
    lines: Annotated[list[RefundLine], msgspec.Meta(min_length=1, max_length=2000)]
    taxes: Annotated[list[TaxLine], msgspec.Meta(max_length=50)]
    total: NonNegAmount
    rounding: Amount
    tenders: Annotated[list[Tender], msgspec.Meta(min_length=1, max_length=20)]
    member_id: Id | None
    points_reversed: NonNegPoints
    points_returned: NonNegPoints


class StockItem(Wire, frozen=True):
    """One item's change of stock; ``counted`` is the counted level for a stock count."""

    sku: Sku
    delta: Quantity
    uom: UnitOfMeasure
    counted: Quantity | None


class StockDelta(Body, frozen=True):
    """A change of stock on the store's shelves and why it happened."""

    TYPE = "stock.delta"
    VERSION = 1

    reason: Literal["sale", "return", "receiving", "count", "waste", "adjust"]
    reference: ShortText | None
    at: Timestamp
    by: Id
    items: Annotated[list[StockItem], msgspec.Meta(min_length=1, max_length=5000)]


class CashMovement(Wire, frozen=True):
    """Cash put into or taken out of the drawer outside a sale."""

    kind: Literal["float", "drop", "pickup", "no_sale"]
    amount: NonNegAmount
    at: Timestamp
    by: Id
    reason: ShortText | None


class ShiftTender(Wire, frozen=True):
    """Per tender kind: what the till expects in the drawer or batch, what was counted."""

    kind: TenderKind
    expected: Amount
    counted: Amount
    over_short: Amount


class ShiftClosed(Body, frozen=True):
    """The Z report of a closed shift."""

    TYPE = "shift.closed"
    VERSION = 1

    shift_id: uuid.UUID
    z_no: Annotated[int, msgspec.Meta(ge=1, le=10**9)]
    cashier_id: Id
    closed_by: Id
    opened_at: Timestamp
    closed_at: Timestamp
    currency: CurrencyCode
    opening_float: NonNegAmount
    movements: Annotated[list[CashMovement], msgspec.Meta(max_length=1000)]
    tenders: Annotated[list[ShiftTender], msgspec.Meta(max_length=10)]
    sales_count: Count
    sales_total: Amount
    refunds_count: Count
    refunds_total: NonNegAmount
    voids_count: Count
    discount_total: NonNegAmount
    tax_total: Amount
    rounding_total: Amount


class MemberEnrolled(Body, frozen=True):
    """A customer who joined the loyalty programme at the till.

    The phone number travels in clear here (over TLS) because HQ's CRM needs it to reach the
    member; the till keeps it only until HQ acknowledges this event, and its member cache holds
    phone numbers only as keyed hashes.
    """

    TYPE = "member.enrolled"
    VERSION = 1

    member_id: Id
    phone: PhoneE164
    card_no: Annotated[str, msgspec.Meta(pattern=exact(r"[0-9A-Za-z]{4,32}"))] | None
    first_name: Annotated[str, msgspec.Meta(max_length=60)] | None
    consent_marketing: bool
    enrolled_at: Timestamp
    cashier_id: Id


class FeedbackGiven(Body, frozen=True):
    """The customer's 1-5 rating of a visit, keyed on the till's keypad after payment."""

    TYPE = "feedback.given"
    VERSION = 1

    sale_id: uuid.UUID
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)]
    member_id: Id | None
    given_at: Timestamp


class PeripheralHealth(Wire, frozen=True):
    """The state of one device attached to the till."""

    name: Id
    kind: Literal["drawer", "printer", "scanner", "scale", "display", "ioboard", "terminal"]
    state: Literal["closed", "idle", "busy", "error"]
    power: Literal["online", "offline", "unknown"]
    detail: ShortText | None
    counters: Annotated[dict[Id, Count], msgspec.Meta(max_length=32)]


class RunningDocument(Wire, frozen=True):
    """A downlink document the till runs now."""

    kind: TypeName
    scope_level: Literal["fleet", "store", "device"]
    version: Version


class DeviceHealth(Body, frozen=True):
    """Periodic vital signs of a till, for HQ's device pages and alerts."""

    TYPE = "device.health"
    VERSION = 1

    at: Timestamp
    uptime_s: Count
    software_version: Annotated[str, msgspec.Meta(max_length=64)]
    firmware_versions: Annotated[
        dict[Id, Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=16)
    ]
    peripherals: Annotated[list[PeripheralHealth], msgspec.Meta(max_length=32)]
    outbox_depth: Count
    oldest_unacked_seq: Seq | None
    disk_free_bytes: Annotated[int, msgspec.Meta(ge=0)]
    disk_total_bytes: Annotated[int, msgspec.Meta(ge=0)]
    clock_synced: bool
    documents: Annotated[list[RunningDocument], msgspec.Meta(max_length=32)]


class PriceApplied(Body, frozen=True):
    """A downlink document went live on the till (the rollout status HQ shows)."""

    TYPE = "price.applied"
    VERSION = 1

    kind: TypeName
    scope_level: Literal["fleet", "store", "device"]
    version: Version
    doc_id: uuid.UUID
    applied_at: Timestamp


class DocumentRejected(Body, frozen=True):
    """A downlink document the till refused, with the reason, so HQ can see a failed rollout."""

    TYPE = "document.rejected"
    VERSION = 1

    kind: TypeName | None
    version: Version | None
    doc_id: uuid.UUID | None
    reason: Literal[
        "malformed",
        "unknown_key",
        "bad_signature",
        "wrong_scope",
        "expired",
        "not_yet_valid",
        "rollback",
        "duplicate",
        "unsupported",
    ]
    detail: Text
    at: Timestamp


for _body in (
    SaleCompleted,
    SaleVoided,
    RefundCompleted,
    StockDelta,
    ShiftClosed,
    MemberEnrolled,
    FeedbackGiven,
    DeviceHealth,
    PriceApplied,
    DocumentRejected,
):
    UPLINK.register(_body)

__all__ = [
    "UPLINK",
    "CashMovement",
    "DeviceHealth",
    "Discount",
    "DocumentRejected",
    "FeedbackGiven",
    "MemberEnrolled",
    "PeripheralHealth",
    "PriceApplied",
    "RefundCompleted",
    "RefundLine",
    "RunningDocument",
    "SaleCompleted",
    "SaleLine",
    "SaleVoided",
    "ShiftClosed",
    "ShiftTender",
    "StockDelta",
    "StockItem",
    "TaxLine",
    "Tender",
]
