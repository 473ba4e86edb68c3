"""The receipt as printed: the reference receipt line by line, and properties of any receipt.

Receipts are checked on paper: rendered, encoded to ESC/POS, and decoded by the independent
test decoder, so what is compared is what a printer would print.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.peripherals.printer import (
    CODE_PAGES,
    StoreInfo,
    code_page,
    encode_document,
    render_refund,
    render_sale,
)
from edge.peripherals.printer.layout import clean, rate_text, wrap
from protocol import money
from protocol.messages.uplink import (
    Discount,
    RefundCompleted,
    SaleCompleted,
    SaleLine,
    TaxLine,
    Tender,
    UnitOfMeasure,
)
from tests.edge.peripherals.printer.escpos_decoder import Decoded, decode
from tests.edge.peripherals.printer.reference import EXPECTED_42, REFUND, SALE, STORE
from tests.strategies import instances_of

CP858 = code_page("cp858")


def _paper(doc_bytes: bytes, width: int) -> tuple[Decoded, list[str]]:
    decoded = decode(doc_bytes)
    return decoded, decoded.paper(width)


def test_reference_receipt_on_80mm_paper_exactly() -> None:
    data = encode_document(render_sale(SALE, STORE, 42), CP858)
    decoded, paper = _paper(data, 42)
    assert paper == EXPECTED_42
    styled = [(line.text, line.bold, line.width, line.height) for line in decoded.lines]
    assert [s for s in styled if s[1] or s[2] > 1] == [
        ("Corner Shop", True, 2, 2),
        ("TOTAL EUR       20.89", True, 2, 2),
    ]
    (barcode,) = decoded.barcodes
    assert (barcode.symbology, barcode.data, barcode.module) == ("CODE128", SALE.receipt_no, 2)
    assert barcode.hri == 0  # the number is printed as text below it instead
    items = decoded.items
    assert type(items[0]).__name__ == "Init"
    assert [type(i).__name__ for i in items[-2:]] == ["Feed", "Cut"]
    assert items[-1].partial  # type: ignore[union-attr]


def test_reference_receipt_on_58mm_paper_exactly() -> None:
    data = encode_document(render_sale(SALE, STORE, 32), CP858)
    _, paper = _paper(data, 32)
    assert paper == [
        "     Corner Shop",
        "         Main Street 1",
        "       12345 Springfield",
        "       Tax ID DE123456789",
        "",
        "Receipt           S001-T1-000042",
        "2026-11-22 13:00     Cashier c-7",
        "--------------------------------",
        "Milk 1l                     1.19",
        "Apples Braeburn",
        "  3 x 0.99                  2.97",
        "  3 for 2.50               -0.47",
        "Bananas",
        "  1.234 kg x 1.99/kg        2.46",
        "  Member 10% fruit         -0.25",
        "Extra long product name",
        "that certainly will no...  14.99",
        "  5.00 off first visit",
        "  WELCOME5                 -5.00",
        "Chocolate Grüße €-Edition",
        "  2 x 2.50                  5.00",
        "--------------------------------",
        "Subtotal                   26.61",
        "Discounts                  -5.72",
        "TOTAL EUR  20.89",
        "Rounding                    0.01",
        "To pay                     20.90",
        "--------------------------------",
        "Points (200 pts)            2.00",
        "Card VISA ************1234  8.00",
        "Auth A1B2C3 Ref T-998877",
        "Cash                       20.00",
        "Change                      9.10",
        "--------------------------------",
        "Tax included     Net   Tax Gross",
        "reduced 7%      5.52  0.38  5.90",
        "standard 19%   12.59  2.40 14.99",
        "--------------------------------",
        "Member                    M-1001",
        "Points earned                 20",
        "Points redeemed              200",
        "",
        "[CODE128 S001-T1-000042]",
        "         S001-T1-000042",
        "",
        "    Thank you for shopping!",
        "  Returns within 30 days with",
        "            receipt",
    ]


def test_reference_refund_slip_exactly() -> None:
    data = encode_document(render_refund(REFUND, STORE, 42, original=SALE), CP858)
    decoded, paper = _paper(data, 42)
    assert paper == [
        "          Corner Shop",
        "              Main Street 1",
        "            12345 Springfield",
        "            Tax ID DE123456789",
        "",
        "               REFUND",
        "Refund                      R001-T1-000007",
        "Original receipt            S001-T1-000042",
        "2026-11-23 13:00               Cashier c-9",
        "Authorised by                          m-1",
        "Reason: damaged",
        "------------------------------------------",
        "Apples Braeburn",
        "  Qty 2                               1.67",
        "Milk 1l                               1.19",
        "------------------------------------------",
        "REFUND EUR       2.86",
        "Rounding                             -0.01",
        "Paid back                             2.85",
        "------------------------------------------",
        "Cash                                  2.85",
        "------------------------------------------",
        "Tax included               Net   Tax Gross",
        "reduced 7%                2.67  0.19  2.86",
        "------------------------------------------",
        "Member                              M-1001",
        "Points reversed                          2",
        "Points returned                          0",
        "",
        "[CODE128 R001-T1-000007]",
        "              R001-T1-000007",
        "",
        "         Thank you for shopping!",
        "   Returns within 30 days with receipt",
    ]
    assert decoded.barcodes[0].data == "R001-T1-000007"


def test_a_refund_without_its_sale_names_lines_by_sku() -> None:
    paper = decode(encode_document(render_refund(REFUND, STORE, 42), CP858)).paper(42)
    assert "SKU-2 (line 2)" in paper
    assert "  Qty 2                               1.67" in paper


def test_a_copy_says_so_under_the_header() -> None:
    paper = decode(encode_document(render_sale(SALE, STORE, 42, copy=True), CP858)).paper(42)
    assert paper[4] == "               *** COPY ***"


def test_the_euro_sign_on_a_page_without_it_becomes_a_question_mark() -> None:
    data = encode_document(render_sale(SALE, STORE, 42), code_page("cp437"))
    assert "Chocolate Grüße ?-Edition" in decode(data).paper(42)


def test_store_info_comes_from_device_config() -> None:
    from protocol.messages.downlink import DeviceConfig, LoyaltyRules, TrustedKey

    cfg = DeviceConfig(
        store_name="Corner Shop",
        store_address=["Main Street 1"],
        tax_id="DE1",
        receipt_footer=["Bye"],
        currency="EUR",
        timezone="Europe/Berlin",
        tax_rounding="per_line",
        cash_rounding=None,
        feedback_enabled=False,
        max_discount_bp_without_manager=0,
        loyalty=LoyaltyRules(
            points_per_unit=1,
            category_multipliers_pct={},
            redeem_minor_per_point=1,
            tiers=[],
            rolling_window_days=365,
            default_offline_redeem_limit=0,
        ),
        trusted_keys=[TrustedKey(key_id="k1", public_key="A" * 43)],
        phone_hash_keys=[],
        country_code="49",
        status_interval_s=60,
    )
    info = StoreInfo.from_device_config(cfg)
    assert info == StoreInfo("Corner Shop", ("Main Street 1",), "DE1", ("Bye",), "Europe/Berlin")


@pytest.mark.parametrize(
    ("ppm", "text"), [(190_000, "19%"), (77_000, "7.7%"), (88_750, "8.875%"), (0, "0%")]
)
def test_rate_text(ppm: int, text: str) -> None:
    assert rate_text(ppm) == text


@given(st.text(max_size=300), st.integers(1, 64), st.integers(1, 4))
def test_wrap_fits_and_keeps_every_word_when_it_may(text: str, width: int, limit: int) -> None:
    lines = wrap(text, width)
    assert all(len(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == clean(text).replace(" ", "")
    assert all(len(line) <= width for line in wrap(text, width, limit))
    assert len(wrap(text, width, limit)) <= limit


# --------------------------------------------------------------------------- properties

WIDTHS = st.integers(24, 64)
# Schema-derived records take ~50 ms each to generate; a fifth of the profile's examples keeps
# this file fast by default and still runs a thousand under HYPOTHESIS_PROFILE=thorough.
FEWER = settings(max_examples=max(20, settings().max_examples // 5))


@FEWER
@given(instances_of(SaleCompleted), WIDTHS, st.sampled_from(sorted(CODE_PAGES)))
def test_any_valid_sale_renders_and_every_line_fits(
    sale: SaleCompleted, width: int, page: str
) -> None:
    doc = render_sale(sale, STORE, width)
    assert all(len(line) <= width for line in doc.lines)
    decoded = decode(encode_document(doc, code_page(page)))  # strict: no stray control bytes
    decoded.paper(width)  # raises on a line wider than the paper


@FEWER
@given(instances_of(RefundCompleted), WIDTHS)
def test_any_valid_refund_renders_and_every_line_fits(refund: RefundCompleted, width: int) -> None:
    decode(encode_document(render_refund(refund, STORE, width), CP858)).paper(width)


_AMOUNT = r"-?[0-9]+(?:\.[0-9]+)?"
_ROW = re.compile(rf"(?:.*\S)? {{2,}}({_AMOUNT})")


def _amounts(lines: Sequence[str], width: int, cur: money.Currency) -> list[int]:
    """Amounts in the amount column: rows filling the width that end in an amount."""
    found = []
    for line in lines:
        m = _ROW.fullmatch(line)
        if m and len(line) == width:
            found.append(money.parse(m.group(1), cur))
    return found


def _labelled(lines: Sequence[str], label: str, cur: money.Currency) -> int:
    """The amount on the row labelled ``label`` (on its line or, if it did not fit, the next)."""
    i = next(i for i, line in enumerate(lines) if line.startswith(label))
    for line in lines[i : i + 2]:
        m = re.search(rf"\s({_AMOUNT})$", line)
        if m:
            return money.parse(m.group(1), cur)
    raise AssertionError(f"no amount for {label!r} in {lines[i : i + 2]}")


UOMS: list[UnitOfMeasure] = ["ea", "g", "ml", "cm"]
_NAMES = st.text(
    alphabet=st.characters(blacklist_characters="-"),
    min_size=1,
    max_size=120,
)


@st.composite
def consistent_sales(draw: st.DrawFn) -> SaleCompleted:
    """Sales whose amounts add up as the checkout guarantees (``edge.checkout.pricing``)."""
    code = draw(st.sampled_from(["EUR", "JPY", "KWD", "CHF"]))
    lines = []
    for no in range(1, draw(st.integers(1, 6)) + 1):
        uom = draw(st.sampled_from(UOMS))
        per = draw(st.sampled_from([1, 10, 100, 1000]))
        qty = draw(st.integers(-3, 5000).filter(bool))
        unit = draw(st.integers(0, 10**7))
        gross = money.divide(unit * qty, per, money.Rounding.HALF_UP)
        discounts = [
            Discount(
                promotion_id="p", promotion_version=1, name=draw(_NAMES), amount=a, coupon=None
            )
            for a in draw(st.lists(st.integers(0, max(0, gross)), max_size=2))
        ]
        lines.append(
            SaleLine(
                line_no=no,
                sku=f"S{no}",
                gtin=None,
                name=draw(_NAMES),
                category=None,
                tax_class="t",
                qty=qty,
                uom=uom,
                unit_price=unit,
                price_per=per,
                price_source="book",
                gross=gross,
                discounts=discounts,
                net=gross - sum(d.amount for d in discounts),
                tax=0,
                points_earned=0,
            )
        )
    include = draw(st.booleans())
    net = sum(line.net for line in lines)
    tax = draw(st.integers(0, 10**6))
    total = net if include else net + tax
    rounding = draw(st.integers(-4, 4))
    due = total + rounding
    card = draw(st.integers(min(0, due), max(0, due)))
    cash = due - card
    change = draw(st.integers(0, 10**5))

    def tender(kind: str, amount: int, tendered: int, change: int) -> Tender:
        return Tender(
            kind=kind,  # type: ignore[arg-type]
            amount=amount,
            tendered=tendered,
            change=change,
            reference=None,
            approval_code=None,
            masked_pan="****4242" if kind == "card" else None,
            card_scheme=None,
            points=None,
        )

    return SaleCompleted(
        sale_id=SALE.sale_id,
        receipt_no="R-1",
        opened_at=SALE.opened_at,
        completed_at=SALE.completed_at,
        cashier_id="c",
        shift_id=SALE.shift_id,
        currency=code,
        prices_include_tax=include,
        lines=lines,
        subtotal=sum(line.gross for line in lines),
        discount_total=sum(line.gross - line.net for line in lines),
        tax_total=tax,
        total=total,
        rounding=rounding,
        taxes=[TaxLine(tax_class="t", rate_ppm=190_000, net=net - tax, tax=tax, gross=net)],
        tenders=[tender("card", card, card, 0), tender("cash", cash, cash + change, change)],
        change=change,
        member_id=None,
        points_earned=0,
        points_redeemed=0,
        coupons=[],
        price_book_version=1,
        promotion_set_version=1,
    )


@FEWER
@given(consistent_sales(), WIDTHS)
def test_the_amounts_printed_add_up_to_the_total(sale: SaleCompleted, width: int) -> None:
    cur = money.currency(sale.currency)
    paper = decode(encode_document(render_sale(sale, STORE, width), CP858)).paper(width)
    rules = [i for i, line in enumerate(paper) if line == "-" * width]
    items = paper[rules[0] + 1 : rules[1]]
    totals = paper[rules[1] + 1 : rules[2]]
    tenders = paper[rules[2] + 1 : rules[3]]

    subtotal = _labelled(totals, "Subtotal", cur)
    discounts = _labelled(totals, "Discounts", cur) if sale.discount_total else 0
    tax = _labelled(totals, "Tax", cur) if not sale.prices_include_tax else 0
    total = _labelled(totals, f"TOTAL {sale.currency}", cur)
    to_pay = _labelled(totals, "To pay", cur) if sale.rounding else total

    assert sum(_amounts(items, width, cur)) == subtotal + discounts
    assert subtotal + discounts + tax == total == sale.total
    assert to_pay == total + (_labelled(totals, "Rounding", cur) if sale.rounding else 0)
    *paid, change = _amounts(tenders, width, cur)
    assert tenders[-1].startswith("Change") or tenders[-2].startswith("Change")
    assert sum(paid) - change == to_pay
