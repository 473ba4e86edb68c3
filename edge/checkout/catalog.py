"""Finding what was scanned or keyed: barcode, PLU or SKU to a catalog item.

The scan is parsed by ``protocol.barcodes`` (so the same product gets the same key whatever
symbology printed it); variable-measure labels and GS1 element strings bring their own weight or
price, which the sale takes from the label rather than from the scale or the book.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from protocol import barcodes
from protocol.errors import BarcodeError


class CatalogError(Exception):
    """Nothing in the catalog matches; the message is for the cashier."""


@dataclass(frozen=True, slots=True)
class CatalogItem:
    sku: str
    name: str
    short_name: str
    category: str | None
    tax_class: str
    tax_rate_ppm: int
    unit_price: int
    price_per: int
    uom: str
    open_price: bool
    weighed: bool
    min_age: int | None
    active: bool


@dataclass(frozen=True, slots=True)
class Found:
    """An item and what the scanned code itself said about this unit."""

    item: CatalogItem
    gtin: str | None
    label_weight_g: int | None = None
    label_price: int | None = None


_ITEM_SQL = """
SELECT i.sku, i.name, i.short_name, i.category, i.tax_class, t.rate_ppm, i.unit_price,
       i.price_per, i.uom, i.open_price, i.weighed, i.min_age, i.active
FROM items i JOIN tax_classes t ON t.id = i.tax_class
"""


def _item(conn: sqlite3.Connection, where: str, arg: str) -> CatalogItem | None:
    row = conn.execute(_ITEM_SQL + where, (arg,)).fetchone()
    if row is None:
        return None
    return CatalogItem(
        sku=row[0],
        name=row[1],
        short_name=row[2],
        category=row[3],
        tax_class=row[4],
        tax_rate_ppm=row[5],
        unit_price=row[6],
        price_per=row[7],
        uom=row[8],
        open_price=bool(row[9]),
        weighed=bool(row[10]),
        min_age=row[11],
        active=bool(row[12]),
    )


def by_sku(conn: sqlite3.Connection, sku: str) -> CatalogItem | None:
    return _item(conn, "WHERE i.sku = ?", sku)


def by_plu(conn: sqlite3.Connection, plu: str) -> CatalogItem | None:
    return _item(
        conn, "JOIN item_codes c ON c.sku = i.sku WHERE c.kind = 'plu' AND c.code = ?", plu
    )


def by_gtin(conn: sqlite3.Connection, gtin14: str) -> CatalogItem | None:
    return _item(
        conn, "JOIN item_codes c ON c.sku = i.sku WHERE c.kind = 'gtin' AND c.code = ?", gtin14
    )


def by_scan(
    conn: sqlite3.Connection,
    code: str,
    *,
    layouts: tuple[barcodes.VariableMeasureLayout, ...] = (),
    currency_exponent: int = 2,
) -> Found:
    """Resolve a scanned code; raises :class:`CatalogError` with a message for the cashier."""
    try:
        scan = barcodes.parse_scan(code, layouts=layouts, currency_exponent=currency_exponent)
    except BarcodeError as exc:
        raise CatalogError(f"unreadable barcode: {exc}") from None
    if isinstance(scan, barcodes.Gtin):
        item = by_gtin(conn, scan.gtin14)
        if item is None:
            raise CatalogError(f"no item with barcode {scan.gtin14.lstrip('0') or '0'}")
        return Found(item, scan.gtin14)
    if isinstance(scan, barcodes.VariableMeasure):
        item = by_gtin(conn, scan.lookup_key)
        if item is None:
            raise CatalogError(f"no item for label {code}")
        if scan.kind is barcodes.MeasureKind.WEIGHT:
            return Found(item, scan.lookup_key, label_weight_g=scan.value)
        if scan.kind is barcodes.MeasureKind.PRICE:
            return Found(item, scan.lookup_key, label_price=scan.value)
        return Found(item, scan.lookup_key)
    gtin = scan.gtin
    if gtin is None:
        raise CatalogError("this GS1 code carries no product number (AI 01)")
    item = by_gtin(conn, gtin)
    if item is None:
        raise CatalogError(f"no item with barcode {gtin.lstrip('0')}")
    if scan.price_currency is not None:
        raise CatalogError("this label is priced in another currency")
    try:
        weight = scan.net_weight_g
        price = scan.price_minor(currency_exponent)
    except BarcodeError as exc:
        raise CatalogError(f"unreadable label: {exc}") from None
    return Found(item, gtin, label_weight_g=weight, label_price=price)
