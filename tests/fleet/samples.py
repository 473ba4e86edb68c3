"""Uplink events as a till sends them, one realistic body of every type, and wire helpers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from protocol.ids import uuid7
from protocol.messages import Body, Event, encode_event, make_event
from protocol.messages.uplink import (
    CashMovement,
    DeviceHealth,
    Discount,
    DocumentRejected,
    FeedbackGiven,
    MemberEnrolled,
    PeripheralHealth,
    PriceApplied,
    RefundCompleted,
    RefundLine,
    RunningDocument,
    SaleCompleted,
    SaleVoided,
    ShiftClosed,
    ShiftTender,
    StockDelta,
    StockItem,
    TaxLine,
    Tender,
)
from tests.factories import NOW, sale_completed

TENANT, STORE, DEVICE = "acme", "s-001", "till-1"
BASE_MS = 1_763_812_800_000
SHIFT = uuid7(BASE_MS - 3_600_000, b"\x22" * 10)


def event_id(seq: int, device: str = DEVICE) -> uuid.UUID:
    """A deterministic UUIDv7 per (device, seq).

    The device's share is 42 bits (UUIDv7 keeps 12 of the first two random bytes and 30 of the
    next four). It was 12: tests that make a fresh till per hypothesis example saw two tills
    share event ids in about one run in twenty-five, and the second till's events were "duplicates".
    """
    salt = uuid.uuid5(uuid.NAMESPACE_DNS, device).bytes[:6]
    return uuid7(BASE_MS + seq, salt + seq.to_bytes(4, "big"))


def event(
    body: Body,
    seq: int,
    *,
    store: str = STORE,
    device: str = DEVICE,
    tenant: str = TENANT,
    eid: uuid.UUID | None = None,
    occurred_at: dt.datetime = NOW,
) -> Event[Body]:
    return make_event(
        body,
        event_id=eid or event_id(seq, device),
        tenant=tenant,
        store=store,
        device=device,
        seq=seq,
        occurred_at=occurred_at,
    )


def wire(body: Body, seq: int, **kwargs: Any) -> bytes:
    return encode_event(event(body, seq, **kwargs))


def sale(
    seq: int = 1, *, member: str | None = "m-42", lines: int = 3, till_no: int = 0
) -> SaleCompleted:
    """A card+points sale with a member, discounts and a weighed line (ids unique per till)."""
    base = sale_completed(lines=lines, seq=seq).body
    weighed = msgspec.structs.replace(
        base.lines[0],
        qty=1234,
        uom="g",
        unit_price=899,
        price_per=1000,
        gross=1109,
        net=1109,
        tax=177,
        discounts=[],
        gtin=None,
        price_source="barcode",
    )
    coupon = Discount(
        promotion_id="p-coupon", promotion_version=2, name="Coupon 5%", amount=10, coupon="C-123"
    )
    second = msgspec.structs.replace(
        base.lines[1], discounts=[*base.lines[1].discounts, coupon], net=base.lines[1].net - 10
    )
    lines_ = [weighed, second, *base.lines[2:]]
    total = sum(ln.net for ln in lines_)
    tax = sum(ln.tax for ln in lines_)
    return msgspec.structs.replace(
        base,
        sale_id=uuid7(BASE_MS + seq, b"\x51" + till_no.to_bytes(1, "big") + seq.to_bytes(8, "big")),
        lines=lines_,
        subtotal=sum(ln.gross for ln in lines_),
        discount_total=sum(ln.gross - ln.net for ln in lines_),
        tax_total=tax,
        total=total,
        taxes=[TaxLine(tax_class="std", rate_ppm=190_000, net=total - tax, tax=tax, gross=total)],
        tenders=[
            Tender(
                kind="points",
                amount=200,
                tendered=200,
                change=0,
                reference=None,
                approval_code=None,
                masked_pan=None,
                card_scheme=None,
                points=200,
            ),
            Tender(
                kind="card",
                amount=total - 200,
                tendered=total - 200,
                change=0,
                reference="T-998",
                approval_code="A1B2",
                masked_pan="411111******1111",
                card_scheme="visa",
                points=None,
            ),
        ],
        change=0,
        member_id=member,
        points_earned=total // 100,
        points_redeemed=200 if member else 0,
        coupons=["C-123"],
    )


def refund(original: SaleCompleted, seq: int = 2) -> RefundCompleted:
    line = original.lines[0]
    return RefundCompleted(
        refund_id=uuid7(BASE_MS + seq, b"\x52" + seq.to_bytes(9, "big")),
        receipt_no=f"R001-T1-{seq:06d}",
        original_sale_id=original.sale_id,
        original_receipt_no=original.receipt_no,
        completed_at=NOW + dt.timedelta(hours=1),
        cashier_id="c-7",
        authorised_by="mgr-1",
        shift_id=SHIFT,
        currency="EUR",
        reason="damaged",
        lines=[
            RefundLine(
                original_line_no=line.line_no,
                sku=line.sku,
                qty=line.qty,
                amount=line.net,
                tax=line.tax,
                points_reversed=line.points_earned,
            )
        ],
        taxes=[
            TaxLine(
                tax_class="std",
                rate_ppm=190_000,
                net=line.net - line.tax,
                tax=line.tax,
                gross=line.net,
            )
        ],
        total=line.net,
        rounding=1,
        tenders=[
            Tender(
                kind="cash",
                amount=line.net + 1,
                tendered=line.net + 1,
                change=0,
                reference=None,
                approval_code=None,
                masked_pan=None,
                card_scheme=None,
                points=None,
            )
        ],
        member_id=original.member_id,
        points_reversed=line.points_earned,
        points_returned=50,
    )


def voided(seq: int = 3) -> SaleVoided:
    return SaleVoided(
        sale_id=uuid7(BASE_MS + seq, b"\x53" * 10),
        opened_at=NOW,
        voided_at=NOW + dt.timedelta(minutes=2),
        cashier_id="c-7",
        authorised_by="mgr-1",
        shift_id=SHIFT,
        reason="customer left",
        line_count=4,
        total=1234,
    )


def stock_count() -> StockDelta:
    return StockDelta(
        reason="count",
        reference="inventory-2026-11",
        at=NOW,
        by="c-9",
        items=[
            StockItem(sku="SKU-00001", delta=-3, uom="ea", counted=17),
            StockItem(sku="SKU-00002", delta=0, uom="g", counted=5000),
            StockItem(sku="SKU-00003", delta=12, uom="ea", counted=None),
        ],
    )


def shift_closed() -> ShiftClosed:
    return ShiftClosed(
        shift_id=SHIFT,
        z_no=77,
        cashier_id="c-7",
        closed_by="mgr-1",
        opened_at=NOW - dt.timedelta(hours=8),
        closed_at=NOW,
        currency="EUR",
        opening_float=10_000,
        movements=[
            CashMovement(
                kind="drop", amount=50_000, at=NOW - dt.timedelta(hours=2), by="c-7", reason="safe"
            ),
            CashMovement(
                kind="no_sale", amount=0, at=NOW - dt.timedelta(hours=1), by="c-7", reason=None
            ),
        ],
        tenders=[
            ShiftTender(kind="cash", expected=60_000, counted=59_990, over_short=-10),
            ShiftTender(kind="card", expected=120_000, counted=120_000, over_short=0),
        ],
        sales_count=123,
        sales_total=180_000,
        refunds_count=2,
        refunds_total=1_500,
        voids_count=1,
        discount_total=3_000,
        tax_total=28_000,
        rounding_total=-3,
    )


def member_enrolled() -> MemberEnrolled:
    return MemberEnrolled(
        member_id="m-77",
        phone="+4915112345678",
        card_no="CARD7777",
        first_name="Jürgen",
        consent_marketing=True,
        enrolled_at=NOW,
        cashier_id="c-7",
    )


def feedback(rating: int = 5) -> FeedbackGiven:
    return FeedbackGiven(
        sale_id=uuid7(BASE_MS, b"\x54" * 10), rating=rating, member_id="m-42", given_at=NOW
    )


def device_health(at: dt.datetime = NOW, price_book: int = 42) -> DeviceHealth:
    return DeviceHealth(
        at=at,
        uptime_s=86_400,
        software_version="0.1.0",
        firmware_versions={"ioboard": "1.2.3"},
        peripherals=[
            PeripheralHealth(
                name="printer",
                kind="printer",
                state="error",
                power="online",
                detail="paper out",
                counters={"lines": 1234},
            )
        ],
        outbox_depth=3,
        oldest_unacked_seq=17,
        disk_free_bytes=10**10,
        disk_total_bytes=3 * 10**10,
        clock_synced=True,
        documents=[
            RunningDocument(kind="price_book", scope_level="fleet", version=40),
            RunningDocument(kind="price_book", scope_level="store", version=price_book),
            RunningDocument(kind="promotion_set", scope_level="fleet", version=7),
            RunningDocument(kind="device_config", scope_level="device", version=3),
        ],
    )


def price_applied(version: int = 43, at: dt.datetime = NOW) -> PriceApplied:
    return PriceApplied(
        kind="price_book",
        scope_level="store",
        version=version,
        doc_id=uuid7(BASE_MS, b"\x55" * 10),
        applied_at=at,
    )


def document_rejected() -> DocumentRejected:
    return DocumentRejected(
        kind="promotion_set",
        version=8,
        doc_id=uuid7(BASE_MS, b"\x56" * 10),
        reason="bad_signature",
        detail="signature does not verify under key 'hq-1'",
        at=NOW,
    )


def every_type() -> list[Body]:
    """One body of every uplink type (a test checks the list is complete)."""
    s = sale(1)
    return [
        s,
        voided(),
        refund(s),
        stock_count(),
        shift_closed(),
        member_enrolled(),
        feedback(),
        device_health(),
        price_applied(),
        document_rejected(),
    ]


def to_builtins(body: Body) -> Any:
    return msgspec.to_builtins(body)
