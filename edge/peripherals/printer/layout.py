"""The receipt as the customer reads it, from the record the till committed (pure).

A receipt is laid out from the very ``sale.completed`` / ``refund.completed`` record that goes
to HQ, never from the till's live state, so a reprint next week prints what was sold, and what
HQ has is what the customer holds. Amounts sit right-aligned in one column, at least two spaces
after their label, so the customer (and a test) can add them up; record text (item names,
promotion names) is cleaned of control characters and whitespace runs, then wrapped or
truncated, so no line ever exceeds the paper and nothing in a name can become a printer command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.peripherals.printer.codepages import printable
from edge.peripherals.printer.document import (
    DOTS_PER_COLUMN,
    Align,
    Barcode,
    Block,
    Document,
    Text,
    code128_modules,
)
from protocol import money
from protocol.messages.downlink import DeviceConfig
from protocol.messages.uplink import RefundCompleted, SaleCompleted, SaleLine, TaxLine, Tender

GAP = 2
"""Spaces at least between a label and its amount."""
NAME_LINES = 2
"""An item or promotion name takes at most this many lines; longer ones are cut with "..."."""
BARCODE_MODULES = (3, 2)
"""Bar widths tried for the receipt-number barcode, widest first (2 is the narrowest that
printers accept and scanners read reliably)."""


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """What the receipt says about the store (from HQ's ``device_config``)."""

    name: str
    address: tuple[str, ...] = ()
    tax_id: str | None = None
    footer: tuple[str, ...] = ()
    timezone: str = "UTC"
    decimal_sep: str = "."
    group_sep: str | None = None

    @classmethod
    def from_device_config(cls, doc: DeviceConfig) -> StoreInfo:
        return cls(
            name=doc.store_name,
            address=tuple(doc.store_address),
            tax_id=doc.tax_id,
            footer=tuple(doc.receipt_footer),
            timezone=doc.timezone,
        )


def render_sale(
    sale: SaleCompleted, store: StoreInfo, width: int, *, copy: bool = False
) -> Document:
    """The customer's receipt for ``sale`` on paper ``width`` characters wide."""
    out = _Out(width, money.currency(sale.currency), store)
    out.header(store, copy)
    out.row("Receipt", sale.receipt_no)
    out.row(out.when(sale.completed_at), f"Cashier {sale.cashier_id}")
    out.rule()
    for line in sale.lines:
        out.sale_line(line)
    out.rule()
    out.row("Subtotal", out.amount(sale.subtotal))
    if sale.discount_total:
        out.row("Discounts", out.amount(-sale.discount_total))
    if not sale.prices_include_tax:
        out.row("Tax", out.amount(sale.tax_total))
    out.total("TOTAL", sale.total)
    if sale.rounding:
        out.row("Rounding", out.amount(sale.rounding))
        out.row("To pay", out.amount(sale.total + sale.rounding))
    out.rule()
    for tender in sale.tenders:
        out.tender(tender)
    if sale.change or any(t.kind == "cash" for t in sale.tenders):
        out.row("Change", out.amount(sale.change))
    out.taxes(sale.taxes, sale.prices_include_tax)
    if sale.member_id is not None or sale.points_earned or sale.points_redeemed:
        out.rule()
        if sale.member_id is not None:
            out.row("Member", sale.member_id)
        out.row("Points earned", str(sale.points_earned))
        if sale.points_redeemed:
            out.row("Points redeemed", str(sale.points_redeemed))
    out.footer(sale.receipt_no, store)
    return out.document()


def render_refund(
    refund: RefundCompleted,
    store: StoreInfo,
    width: int,
    *,
    original: SaleCompleted | None = None,
    copy: bool = False,
) -> Document:
    """The customer's refund slip; ``original`` (the refunded sale) supplies item names."""
    out = _Out(width, money.currency(refund.currency), store)
    out.header(store, copy)
    out.emit(Text("REFUND", Align.CENTER, bold=True, double=True))
    out.row("Refund", refund.receipt_no)
    out.row("Original receipt", refund.original_receipt_no)
    out.row(out.when(refund.completed_at), f"Cashier {refund.cashier_id}")
    if refund.authorised_by is not None:
        out.row("Authorised by", refund.authorised_by)
    if refund.reason.strip():
        out.wrapped(f"Reason: {refund.reason}")
    out.rule()
    sold = {line.line_no: line for line in original.lines} if original is not None else {}
    for line in refund.lines:
        was = sold.get(line.original_line_no)
        name = was.name if was is not None else f"{line.sku} (line {line.original_line_no})"
        uom = was.uom if was is not None else "ea"
        if line.qty == 1 and uom == "ea":
            out.row(name, out.amount(line.amount), name_lines=NAME_LINES)
        else:
            out.row(name, "", name_lines=NAME_LINES)
            qty = f"Qty {line.qty}" if uom == "ea" else _quantity(line.qty, uom)
            out.row(f"  {qty}", out.amount(line.amount))
    out.rule()
    out.total("REFUND", refund.total)
    if refund.rounding:
        out.row("Rounding", out.amount(refund.rounding))
        out.row("Paid back", out.amount(refund.total + refund.rounding))
    out.rule()
    for tender in refund.tenders:
        out.tender(tender, refund=True)
    out.taxes(refund.taxes, include=True)
    if refund.member_id is not None:
        out.rule()
        out.row("Member", refund.member_id)
        out.row("Points reversed", str(refund.points_reversed))
        out.row("Points returned", str(refund.points_returned))
    out.footer(refund.receipt_no, store)
    return out.document()


# --------------------------------------------------------------------------- text helpers


def clean(text: str) -> str:
    """Record text as it may be printed: printable characters, single spaces, no ends."""
    return " ".join(printable(text).split())


def wrap(text: str, width: int, max_lines: int | None = None) -> list[str]:
    """``text`` broken at spaces (words longer than ``width`` are split) into lines that fit.

    With ``max_lines``, a longer text is cut and its last line ends in ``...``.
    """
    lines: list[str] = []
    current = ""
    for whole in clean(text).split(" "):
        word = whole
        while len(word) > width:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= width:
            current = f"{current} {word}"
        else:
            lines.append(current)
            current = word
    if current or not lines:
        lines.append(current)
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        cut = lines[-1][: width - 3].rstrip() + "..." if width > 3 else lines[-1][:width]
        lines[-1] = cut
    return lines


def rate_text(rate_ppm: int) -> str:
    """A tax rate as people write it: 190000 ppm is ``19%``, 77000 is ``7.7%``."""
    whole, frac = divmod(rate_ppm, 10_000)
    if not frac:
        return f"{whole}%"
    return f"{whole}.{f'{frac:04d}'.rstrip('0')}%"


_UNITS = {"g": ("kg", 1000), "ml": ("l", 1000), "cm": ("m", 100)}


def _quantity(qty: int, uom: str) -> str:
    """How much was sold: pieces as a count, weights and volumes in kg, l or m."""
    if uom == "ea":
        return str(qty)
    unit, scale = _UNITS[uom]
    digits = len(str(scale)) - 1
    whole, part = divmod(abs(qty), scale)
    sign = "-" if qty < 0 else ""
    return f"{sign}{whole}.{part:0{digits}d} {unit}"


def _per(price_per: int, uom: str) -> str:
    """The unit a price is quoted for: ``/kg`` for 1000 g, ``/100g``, nothing for one piece."""
    if uom == "ea":
        return "" if price_per == 1 else f"/{price_per}"
    unit, scale = _UNITS[uom]
    if price_per == scale:
        return f"/{unit}"
    return f"/{uom}" if price_per == 1 else f"/{price_per}{uom}"


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class _Out:
    """Accumulates the blocks of one receipt; every method keeps lines within the width."""

    def __init__(self, width: int, currency: money.Currency, store: StoreInfo) -> None:
        self.width = width
        self.currency = currency
        self.store = store
        self.blocks: list[Block] = []

    def document(self) -> Document:
        return Document(self.width, tuple(self.blocks))

    def emit(self, block: Block) -> None:
        if isinstance(block, Text) and block.columns > self.width:
            block = Text(block.text, block.align, block.bold, double=False)
        self.blocks.append(block)

    def amount(self, minor: int) -> str:
        sep, group = self.store.decimal_sep, self.store.group_sep
        if abs(minor) <= money.MAX_ABS_MINOR:
            return money.format(minor, self.currency, decimal_sep=sep, group_sep=group)
        # Only a sum of two extreme amounts gets here (a total plus its rounding); print it
        # exactly rather than refuse the receipt.
        scale = 10**self.currency.exponent
        whole, part = divmod(abs(minor), scale)
        head = f"{whole:,}".replace(",", group) if group else str(whole)
        text = f"{head}{sep}{part:0{self.currency.exponent}d}" if self.currency.exponent else head
        return f"-{text}" if minor < 0 else text

    def when(self, at: datetime) -> str:
        return at.astimezone(_zone(self.store.timezone)).strftime("%Y-%m-%d %H:%M")

    def rule(self) -> None:
        self.emit(Text("-" * self.width))

    def wrapped(self, text: str, align: Align = Align.LEFT, bold: bool = False) -> None:
        for part in wrap(text, self.width):
            self.emit(Text(part, align, bold))

    def row(self, label: str, value: str, *, name_lines: int | None = None) -> None:
        """``label`` left and ``value`` right on the last line; the label wraps if need be."""
        value = clean(value)
        room = self.width - len(value) - GAP if value else self.width
        if room < min(8, self.width):
            for part in wrap(label, self.width, name_lines):
                self.emit(Text(part))
            for part in wrap(value, self.width) if value else []:
                self.emit(Text(part.rjust(self.width)))
            return
        indent = len(label) - len(label.lstrip(" "))
        parts = [" " * indent + p for p in wrap(label, room - indent, name_lines)]
        for part in parts[:-1]:
            self.emit(Text(part))
        last = parts[-1]
        self.emit(Text(last + value.rjust(self.width - len(last)) if value else last))

    def header(self, store: StoreInfo, copy: bool) -> None:
        name = clean(store.name)
        if 2 * len(name) <= self.width:
            self.emit(Text(name, Align.CENTER, bold=True, double=True))
        else:
            self.wrapped(name, Align.CENTER, bold=True)
        for line in store.address:
            self.wrapped(line, Align.CENTER)
        if store.tax_id:
            self.wrapped(f"Tax ID {store.tax_id}", Align.CENTER)
        if copy:
            self.emit(Text("*** COPY ***", Align.CENTER, bold=True))
        self.emit(Text(""))

    def sale_line(self, line: SaleLine) -> None:
        gross = self.amount(line.gross)
        if line.qty == 1 and line.uom == "ea" and line.price_per == 1:
            self.row(line.name, gross, name_lines=NAME_LINES)
        else:
            self.row(line.name, "", name_lines=NAME_LINES)
            qty = _quantity(line.qty, line.uom)
            price = self.amount(line.unit_price) + _per(line.price_per, line.uom)
            self.row(f"  {qty} x {price}", gross)
        for discount in line.discounts:
            label = (
                discount.name if discount.coupon is None else f"{discount.name} {discount.coupon}"
            )
            self.row(f"  {label}", self.amount(-discount.amount), name_lines=NAME_LINES)

    def total(self, label: str, minor: int) -> None:
        text = f"{label} {self.currency.code}"
        value = self.amount(minor)
        half = self.width // 2
        if len(text) + GAP + len(value) <= half:
            self.emit(Text(text + value.rjust(half - len(text)), bold=True, double=True))
        else:
            self.row(text, value)
            last = self.blocks[-1]
            assert isinstance(last, Text)
            self.blocks[-1] = Text(last.text, bold=True)

    def tender(self, tender: Tender, *, refund: bool = False) -> None:
        label = _TENDER_LABELS[tender.kind]
        if tender.kind == "card":
            label = " ".join(p for p in (label, tender.card_scheme, tender.masked_pan) if p)
        elif tender.kind == "points" and tender.points is not None:
            label = f"{label} ({tender.points} pts)"
        shown = tender.tendered if tender.kind == "cash" and not refund else tender.amount
        self.row(label, self.amount(shown))
        refs = [
            f"{name} {value}"
            for name, value in (("Auth", tender.approval_code), ("Ref", tender.reference))
            if value
        ]
        if refs:
            self.wrapped("  " + " ".join(refs))

    def taxes(self, rows: Sequence[TaxLine], include: bool) -> None:
        if not rows:
            return
        self.rule()
        cells = [
            (
                f"{row.tax_class} {rate_text(row.rate_ppm)}",
                self.amount(row.net),
                self.amount(row.tax),
                self.amount(row.gross),
            )
            for row in rows
        ]
        col = max(5, *(len(c) for cell in cells for c in cell[1:]))
        label_room = self.width - 3 * (col + 1)
        title = "Tax included" if include else "Tax"
        if label_room >= 8:
            head = "".join(h.rjust(col + 1) for h in _TAX_HEAD)
            self.emit(Text(title[:label_room].ljust(label_room) + head))
            for label, *amounts in cells:
                left = clean(label)[:label_room].ljust(label_room)
                self.emit(Text(left + "".join(a.rjust(col + 1) for a in amounts)))
            return
        self.emit(Text(title))
        for label, *amounts in cells:
            self.wrapped(label)
            for head, value in zip(_TAX_HEAD, amounts, strict=True):
                self.row(f"  {head}", value)

    def footer(self, receipt_no: str, store: StoreInfo) -> None:
        self.emit(Text(""))
        room = self.width * DOTS_PER_COLUMN
        module = next((m for m in BARCODE_MODULES if code128_modules(receipt_no) * m <= room), 0)
        if module:
            self.emit(Barcode(receipt_no, module))
        self.wrapped(receipt_no, Align.CENTER)
        if store.footer:
            self.emit(Text(""))
        for line in store.footer:
            self.wrapped(line, Align.CENTER)


_TAX_HEAD = ("Net", "Tax", "Gross")
_TENDER_LABELS = {
    "cash": "Cash",
    "card": "Card",
    "wallet": "Wallet",
    "stored_value": "Stored value",
    "points": "Points",
}
