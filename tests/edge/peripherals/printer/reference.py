"""The reference sale and store the receipt tests print (hand-built, internally consistent).

Five lines: a single item, three of an item with a multi-buy discount, a weighed item with a
member discount, a long name with a coupon, and a name with characters only some code pages
have. Prices include tax at 7 % and 19 %; paid with points, a card and cash with 5-cent cash
rounding.
"""

from __future__ import annotations

import datetime as dt
import uuid

from edge.peripherals.printer import StoreInfo
from protocol.messages.uplink import (
    Discount,
    RefundCompleted,
    RefundLine,
    SaleCompleted,
    SaleLine,
    TaxLine,
    Tender,
)

AT = dt.datetime(2026, 11, 22, 12, 0, 45, tzinfo=dt.UTC)

STORE = StoreInfo(
    name="Corner Shop",
    address=("Main Street 1", "12345 Springfield"),
    tax_id="DE123456789",
    footer=("Thank you for shopping!", "Returns within 30 days with receipt"),
    timezone="Europe/Berlin",
)


def _line(
    no: int,
    name: str,
    qty: int,
    unit_price: int,
    gross: int,
    tax: int,
    tax_class: str,
    *,
    uom: str = "ea",
    price_per: int = 1,
    discounts: tuple[Discount, ...] = (),
) -> SaleLine:
    return SaleLine(
        line_no=no,
        sku=f"SKU-{no}",
        gtin=None,
        name=name,
        category=None,
        tax_class=tax_class,
        qty=qty,
        uom=uom,  # type: ignore[arg-type]
        unit_price=unit_price,
        price_per=price_per,
        price_source="book",
        gross=gross,
        discounts=list(discounts),
        net=gross - sum(d.amount for d in discounts),
        tax=tax,
        points_earned=0,
    )


def _discount(name: str, amount: int, coupon: str | None = None) -> Discount:
    return Discount(
        promotion_id="p-1", promotion_version=1, name=name, amount=amount, coupon=coupon
    )


def _tender(kind: str, amount: int, **kw: object) -> Tender:
    fields: dict[str, object] = {
        "tendered": amount,
        "change": 0,
        "reference": None,
        "approval_code": None,
        "masked_pan": None,
        "card_scheme": None,
        "points": None,
    }
    fields.update(kw)
    return Tender(kind=kind, amount=amount, **fields)  # type: ignore[arg-type]


LINES = [
    _line(1, "Milk 1l", 1, 119, 119, 8, "reduced"),
    _line(
        2, "Apples Braeburn", 3, 99, 297, 16, "reduced", discounts=(_discount("3 for 2.50", 47),)
    ),
    _line(
        3,
        "Bananas",
        1234,
        199,
        246,
        14,
        "reduced",
        uom="g",
        price_per=1000,
        discounts=(_discount("Member 10% fruit", 25),),
    ),
    _line(
        4,
        "Extra long product name that certainly will not fit on one line of the paper roll",
        1,
        1499,
        1499,
        160,
        "standard",
        discounts=(_discount("5.00 off first visit", 500, "WELCOME5"),),
    ),
    _line(5, "Chocolate Grüße €-Edition", 2, 250, 500, 80, "standard"),
]

SALE = SaleCompleted(
    sale_id=uuid.UUID("01900000-0000-7000-8000-000000000001"),
    receipt_no="S001-T1-000042",
    opened_at=AT - dt.timedelta(minutes=2),
    completed_at=AT,
    cashier_id="c-7",
    shift_id=uuid.UUID("01900000-0000-7000-8000-000000000002"),
    currency="EUR",
    prices_include_tax=True,
    lines=LINES,
    subtotal=2661,
    discount_total=572,
    tax_total=278,
    total=2089,
    rounding=1,
    taxes=[
        TaxLine(tax_class="reduced", rate_ppm=70_000, net=552, tax=38, gross=590),
        TaxLine(tax_class="standard", rate_ppm=190_000, net=1259, tax=240, gross=1499),
    ],
    tenders=[
        _tender("points", 200, points=200),
        _tender(
            "card",
            800,
            reference="T-998877",
            approval_code="A1B2C3",
            masked_pan="************1234",
            card_scheme="VISA",
        ),
        _tender("cash", 1090, tendered=2000, change=910),
    ],
    change=910,
    member_id="M-1001",
    points_earned=20,
    points_redeemed=200,
    coupons=["WELCOME5"],
    price_book_version=42,
    promotion_set_version=7,
)

REFUND = RefundCompleted(
    refund_id=uuid.UUID("01900000-0000-7000-8000-000000000003"),
    receipt_no="R001-T1-000007",
    original_sale_id=SALE.sale_id,
    original_receipt_no=SALE.receipt_no,
    completed_at=AT + dt.timedelta(days=1),
    cashier_id="c-9",
    authorised_by="m-1",
    shift_id=uuid.UUID("01900000-0000-7000-8000-000000000004"),
    currency="EUR",
    reason="damaged",
    lines=[
        RefundLine(original_line_no=2, sku="SKU-2", qty=2, amount=167, tax=11, points_reversed=1),
        RefundLine(original_line_no=1, sku="SKU-1", qty=1, amount=119, tax=8, points_reversed=1),
    ],
    taxes=[TaxLine(tax_class="reduced", rate_ppm=70_000, net=267, tax=19, gross=286)],
    total=286,
    rounding=-1,
    tenders=[_tender("cash", 285)],
    member_id="M-1001",
    points_reversed=2,
    points_returned=0,
)

# The reference sale on 80 mm paper, written out by hand, as the test decoder places it.
# Double-width lines (store name, total) show each character once; their centring counts two
# columns per character. "[CODE128 ...]" is where the barcode is printed.
EXPECTED_42 = [
    "          Corner Shop",
    "              Main Street 1",
    "            12345 Springfield",
    "            Tax ID DE123456789",
    "",
    "Receipt                     S001-T1-000042",
    "2026-11-22 13:00               Cashier c-7",
    "------------------------------------------",
    "Milk 1l                               1.19",
    "Apples Braeburn",
    "  3 x 0.99                            2.97",
    "  3 for 2.50                         -0.47",
    "Bananas",
    "  1.234 kg x 1.99/kg                  2.46",
    "  Member 10% fruit                   -0.25",
    "Extra long product name that",
    "certainly will not fit on one li...  14.99",
    "  5.00 off first visit WELCOME5      -5.00",
    "Chocolate Grüße €-Edition",
    "  2 x 2.50                            5.00",
    "------------------------------------------",
    "Subtotal                             26.61",
    "Discounts                            -5.72",
    "TOTAL EUR       20.89",
    "Rounding                              0.01",
    "To pay                               20.90",
    "------------------------------------------",
    "Points (200 pts)                      2.00",
    "Card VISA ************1234            8.00",
    "Auth A1B2C3 Ref T-998877",
    "Cash                                 20.00",
    "Change                                9.10",
    "------------------------------------------",
    "Tax included               Net   Tax Gross",
    "reduced 7%                5.52  0.38  5.90",
    "standard 19%             12.59  2.40 14.99",
    "------------------------------------------",
    "Member                              M-1001",
    "Points earned                           20",
    "Points redeemed                        200",
    "",
    "[CODE128 S001-T1-000042]",
    "              S001-T1-000042",
    "",
    "         Thank you for shopping!",
    "   Returns within 30 days with receipt",
]
