"""Applying HQ's documents to the store, each in one transaction.

These take documents that were already verified (``protocol.signing``) and decoded; the sync
client calls them. A snapshot replaces what it covers; a delta applies only on top of exactly its
base version. Either the whole document lands with its version recorded, or nothing does, so a
till never sells from half a price book.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

import msgspec

from edge.store.db import transaction
from protocol.messages.downlink import DeviceConfig, MemberCache, PriceBook
from protocol.messages.promotions import PromotionSet

Then = Callable[[sqlite3.Connection], None]
"""More writes for the same transaction (the sync client reports ``price.applied`` with them)."""


class DocumentError(Exception):
    """The document cannot be applied to this store (e.g. a delta on the wrong base)."""


def running_version(conn: sqlite3.Connection, kind: str, scope_level: str) -> int | None:
    """The version of ``kind`` at ``scope_level`` the till runs, or ``None``."""
    row = conn.execute(
        "SELECT version FROM documents WHERE kind = ? AND scope_level = ?", (kind, scope_level)
    ).fetchone()
    return int(row[0]) if row else None


def record_version(
    conn: sqlite3.Connection, kind: str, scope: str, *, version: int, doc_id: str, at: datetime
) -> None:
    """Remember that ``kind`` at ``scope`` now runs ``version`` (acks and commands too, so a
    replayed one is refused as a duplicate or rollback)."""
    _record(conn, kind, scope, version=version, doc_id=doc_id, at=at)


def _record(
    conn: sqlite3.Connection, kind: str, scope: str, *, version: int, doc_id: str, at: datetime
) -> None:
    conn.execute(
        "INSERT INTO documents (kind, scope_level, version, doc_id, applied_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, scope_level) DO UPDATE SET "
        "version = excluded.version, doc_id = excluded.doc_id, applied_at = excluded.applied_at",
        (kind, scope, version, doc_id, at.isoformat()),
    )


def _check_base(conn: sqlite3.Connection, kind: str, scope: str, base: int | None) -> None:
    if base is None:
        return
    running = running_version(conn, kind, scope)
    if running != base:
        raise DocumentError(f"{kind} delta applies to version {base}, the till runs {running}")


def apply_price_book(
    conn: sqlite3.Connection,
    book: PriceBook,
    *,
    version: int,
    doc_id: str,
    at: datetime,
    scope_level: str = "store",
    then: Then | None = None,
) -> None:
    """Replace (snapshot) or patch (delta) the catalog, tax classes and codes."""
    with transaction(conn):
        _check_base(conn, "price_book", scope_level, book.base_version)
        if book.mode == "snapshot":
            conn.execute("DELETE FROM item_codes")
            conn.execute("DELETE FROM items")
            conn.execute("DELETE FROM tax_classes")
        for tax in book.tax_classes:
            conn.execute(
                "INSERT INTO tax_classes (id, name, rate_ppm) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, rate_ppm = excluded.rate_ppm",
                (tax.id, tax.name, tax.rate_ppm),
            )
        for sku in book.removed:
            conn.execute("DELETE FROM items WHERE sku = ?", (sku,))
        for item in book.items:
            conn.execute("DELETE FROM item_codes WHERE sku = ?", (item.sku,))
            conn.execute(
                "INSERT INTO items (sku, name, short_name, category, tax_class, unit_price, "
                "price_per, uom, open_price, weighed, min_age, active) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sku) DO UPDATE SET "
                "name = excluded.name, short_name = excluded.short_name, "
                "category = excluded.category, tax_class = excluded.tax_class, "
                "unit_price = excluded.unit_price, price_per = excluded.price_per, "
                "uom = excluded.uom, open_price = excluded.open_price, "
                "weighed = excluded.weighed, min_age = excluded.min_age, active = excluded.active",
                (
                    item.sku,
                    item.name,
                    item.short_name,
                    item.category,
                    item.tax_class,
                    item.unit_price,
                    item.price_per,
                    item.uom,
                    int(item.open_price),
                    int(item.weighed),
                    item.min_age,
                    int(item.active),
                ),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO item_codes (code, kind, sku) VALUES (?, 'gtin', ?)",
                [(g, item.sku) for g in item.gtins],
            )
            if item.plu:
                conn.execute(
                    "INSERT OR REPLACE INTO item_codes (code, kind, sku) VALUES (?, 'plu', ?)",
                    (item.plu, item.sku),
                )
        conn.execute(
            "INSERT INTO settings (key, value) VALUES ('prices_include_tax', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            ("1" if book.prices_include_tax else "0",),
        )
        if then is not None:
            then(conn)
        _record(conn, "price_book", scope_level, version=version, doc_id=doc_id, at=at)


def apply_promotion_set(
    conn: sqlite3.Connection,
    promotions: PromotionSet,
    *,
    version: int,
    doc_id: str,
    at: datetime,
    scope_level: str = "store",
    then: Then | None = None,
) -> None:
    """Store the promotions as a new set version; older sets stay while open sales use them."""
    with transaction(conn):
        _check_base(conn, "promotion_set", scope_level, promotions.base_version)
        current: dict[str, object] = {}
        if promotions.mode == "delta":
            running = running_version(conn, "promotion_set", scope_level)
            row = conn.execute(
                "SELECT body FROM promotion_sets WHERE version = ?", (running,)
            ).fetchone()
            if row is not None:
                for p in msgspec.json.decode(row[0]):
                    current[p["id"]] = p
        for pid in promotions.removed:
            current.pop(pid, None)
        for p in promotions.promotions:
            current[p.id] = msgspec.to_builtins(p)
        body = msgspec.json.encode([current[k] for k in sorted(current)])
        conn.execute(
            "INSERT OR REPLACE INTO promotion_sets (version, body) VALUES (?, ?)", (version, body)
        )
        conn.execute(
            "DELETE FROM promotion_sets WHERE version < ? AND version NOT IN "
            "(SELECT DISTINCT cast(json_extract(j.data, '$.promotion_set_version') AS INTEGER) "
            " FROM sales s JOIN journal j ON j.stream = s.sale_id AND j.kind = 'sale.opened' "
            " WHERE s.status IN ('open', 'suspended'))",
            (version,),
        )
        if then is not None:
            then(conn)
        _record(conn, "promotion_set", scope_level, version=version, doc_id=doc_id, at=at)


def apply_member_cache(
    conn: sqlite3.Connection,
    cache: MemberCache,
    *,
    version: int,
    doc_id: str,
    at: datetime,
    scope_level: str = "store",
    then: Then | None = None,
) -> None:
    """Replace or patch the member cache (balances as HQ's ledger has them)."""
    with transaction(conn):
        _check_base(conn, "member_cache", scope_level, cache.base_version)
        if cache.mode == "snapshot":
            conn.execute("DELETE FROM members")
        for member_id in cache.removed:
            conn.execute("DELETE FROM members WHERE member_id = ?", (member_id,))
        for m in cache.members:
            conn.execute(
                "INSERT OR REPLACE INTO members (member_id, phone_hash, card_no, first_name, "
                "tier, points, offline_redeem_limit, stored_value, birthday, recommendation, "
                "coupons) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    m.member_id,
                    m.phone_hash,
                    m.card_no,
                    m.first_name,
                    m.tier,
                    m.points,
                    m.offline_redeem_limit,
                    m.stored_value,
                    m.birthday,
                    m.recommendation,
                    msgspec.json.encode(m.coupons),
                ),
            )
        if then is not None:
            then(conn)
        _record(conn, "member_cache", scope_level, version=version, doc_id=doc_id, at=at)


def add_cashier(
    conn: sqlite3.Connection, cashier_id: str, name: str, role: str, pin_hash: str
) -> None:
    """Create or update a cashier (PIN already hashed with ``edge.checkout.auth``)."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO cashiers (cashier_id, name, role, pin_hash, active) "
            "VALUES (?, ?, ?, ?, 1) "
            "ON CONFLICT (cashier_id) DO UPDATE SET name = excluded.name, role = excluded.role, "
            "pin_hash = excluded.pin_hash, active = 1",
            (cashier_id, name, role, pin_hash),
        )


def apply_device_config(
    conn: sqlite3.Connection,
    config: DeviceConfig,
    *,
    version: int,
    doc_id: str,
    at: datetime,
    scope_level: str = "device",
    then: Then | None = None,
) -> None:
    """Store HQ's settings for this till; the till reads them at start."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO settings (key, value) VALUES ('device_config', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (msgspec.json.encode(config).decode(),),
        )
        if then is not None:
            then(conn)
        _record(conn, "device_config", scope_level, version=version, doc_id=doc_id, at=at)


def device_config(conn: sqlite3.Connection) -> DeviceConfig | None:
    """The device config last applied, if any."""
    row = conn.execute("SELECT value FROM settings WHERE key = 'device_config'").fetchone()
    return msgspec.json.decode(row[0], type=DeviceConfig) if row else None
