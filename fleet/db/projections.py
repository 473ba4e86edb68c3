"""Uplink events into HQ's tables: one function per event type, run inside the ingest transaction.

A projection runs only when the ``events`` row was really inserted (a redelivered ``event_id``
changes nothing), in the same transaction, so the tables always say exactly what the stored
events say. The rows keep every field of the event under the same name where SQL allows it
(``at``/``by`` become ``*_at``/``*_by``: timestamp columns end in ``_at`` everywhere), so a
report never has to go back to the raw payload.

Derived rows: HQ books stock movement from sale and refund lines (the till sends
``stock.delta`` only for receiving, counts, waste and adjustments), and loyalty ledger entries
from the points a sale or refund moved for its member. A refund line carries no unit of measure;
its stock row takes the original sale line's if HQ has it, else leaves it NULL (the catalog
knows the item's unit).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from fleet.db.engine import Connection, Row
from protocol.messages import Body, Event
from protocol.messages.uplink import (
    DeviceHealth,
    DocumentRejected,
    FeedbackGiven,
    MemberEnrolled,
    PriceApplied,
    RefundCompleted,
    SaleCompleted,
    SaleVoided,
    ShiftClosed,
    StockDelta,
    TaxLine,
    Tender,
)

Projector = Callable[["Writer", Event[Any]], None]

_VERSION_COLUMNS = {
    "price_book": "price_book_version",
    "promotion_set": "promotion_set_version",
    "member_cache": "member_cache_version",
    "device_config": "device_config_version",
}
_LEVEL_RANK = {"fleet": 0, "store": 1, "device": 2}


def project(conn: Connection, event: Event[Body]) -> None:
    """Write ``event`` (already in ``events``) into the tables of its type."""
    project_many(conn, [event])


def project_many(conn: Connection, events: Sequence[Event[Body]]) -> None:
    """Write ``events`` (already in ``events``), in order, with one multi-row insert per table.

    Exactly what projecting them one after another would write: rows are only buffered, and
    flushed before any projection reads a table (a refund reads its sale's lines). A failure
    leaves some rows written: run it in a savepoint.
    """
    w = Writer(conn)
    for event in events:
        _PROJECTORS[type(event.body)](w, event)
    w.flush()


_INSERT = re.compile(r"INSERT INTO (\w+) \(([\w, ]+)\) VALUES \((?:\?, )*\?\)")


@functools.lru_cache(maxsize=64)
def _parse_insert(sql: str) -> tuple[str, tuple[str, ...]]:
    """Table and columns of one of our ``INSERT`` statements (cached: a projection passes the
    same few statements for every event)."""
    sql = " ".join(sql.split())
    m = _INSERT.fullmatch(sql)
    if m is None:
        raise ValueError(f"not a plain single-row INSERT: {sql}")
    columns = tuple(c.strip() for c in m.group(2).split(","))
    if sql.count("?") != len(columns):
        raise ValueError(f"placeholders and columns differ: {sql}")
    return m.group(1), columns


class Writer:
    """Buffers projection rows per (table, columns), in first-written order, for multi-row inserts.

    A table's parent (its foreign key) is always written earlier by the same projection, so
    first-written order inserts parents before children.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._pending: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = {}

    def insert(self, table: str, row: Mapping[str, Any]) -> None:
        """Buffer one row (column -> value)."""
        self._pending.setdefault((table, tuple(row)), []).append(tuple(row.values()))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Buffer rows for ``INSERT INTO t (cols) VALUES (?, ...)`` (our own SQL, parsed)."""
        table, columns = _parse_insert(sql)
        batch = [tuple(r) for r in rows]
        if batch:
            self._pending.setdefault((table, columns), []).extend(batch)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run a statement after writing everything buffered (so a read sees it)."""
        self.flush()
        return self.conn.execute(sql, params)

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for (table, columns), rows in pending.items():
            self.conn.insert_rows(table, columns, rows)


def _origin(event: Event[Any]) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "tenant": event.tenant,
        "store": event.store,
        "device": event.device,
    }


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode("utf-8")


def _sale_completed(w: Writer, event: Event[SaleCompleted]) -> None:
    b = event.body
    w.insert(
        "sales",
        {
            "sale_id": b.sale_id,
            **_origin(event),
            "receipt_no": b.receipt_no,
            "opened_at": b.opened_at,
            "completed_at": b.completed_at,
            "cashier_id": b.cashier_id,
            "shift_id": b.shift_id,
            "currency": b.currency,
            "prices_include_tax": b.prices_include_tax,
            "subtotal": b.subtotal,
            "discount_total": b.discount_total,
            "tax_total": b.tax_total,
            "total": b.total,
            "rounding": b.rounding,
            "change": b.change,
            "member_id": b.member_id,
            "points_earned": b.points_earned,
            "points_redeemed": b.points_redeemed,
            "coupons": _json(b.coupons),
            "price_book_version": b.price_book_version,
            "promotion_set_version": b.promotion_set_version,
        },
    )
    w.executemany(
        "INSERT INTO sale_lines (sale_id, line_no, position, sku, gtin, name, category, tax_class,"
        " qty, uom, unit_price, price_per, price_source, gross, net, tax, points_earned)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                b.sale_id, ln.line_no, i, ln.sku, ln.gtin, ln.name, ln.category, ln.tax_class,
                ln.qty, ln.uom, ln.unit_price, ln.price_per, ln.price_source, ln.gross, ln.net,
                ln.tax, ln.points_earned,
            )
            for i, ln in enumerate(b.lines)
        ],
    )  # fmt: skip
    w.executemany(
        "INSERT INTO sale_discounts (sale_id, line_no, position, promotion_id, promotion_version,"
        " name, amount, coupon) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (b.sale_id, ln.line_no, i, d.promotion_id, d.promotion_version, d.name, d.amount,
             d.coupon)
            for ln in b.lines
            for i, d in enumerate(ln.discounts)
        ],
    )  # fmt: skip
    _taxes(w, "sale_taxes", "sale_id", b.sale_id, b.taxes)
    _tenders(w, "sale", b.sale_id, b.tenders)
    _stock_rows(
        w,
        event,
        reason="sale",
        reference=b.receipt_no,
        moved_by=b.cashier_id,
        moved_at=b.completed_at,
        items=[(ln.sku, -ln.qty, ln.uom, None) for ln in b.lines],
    )
    if b.member_id is not None:
        _ledger(
            w,
            event,
            b.member_id,
            [("earn", b.points_earned), ("redeem", -b.points_redeemed)],
            ref=("sale", b.sale_id),
            booked_at=b.completed_at,
        )


def _sale_voided(w: Writer, event: Event[SaleVoided]) -> None:
    b = event.body
    w.insert(
        "voids",
        {
            "sale_id": b.sale_id,
            **_origin(event),
            "opened_at": b.opened_at,
            "voided_at": b.voided_at,
            "cashier_id": b.cashier_id,
            "authorised_by": b.authorised_by,
            "shift_id": b.shift_id,
            "reason": b.reason,
            "line_count": b.line_count,
            "total": b.total,
        },
    )


def _refund_completed(w: Writer, event: Event[RefundCompleted]) -> None:
    b = event.body
    w.insert(
        "refunds",
        {
            "refund_id": b.refund_id,
            **_origin(event),
            "receipt_no": b.receipt_no,
            "original_sale_id": b.original_sale_id,
            "original_receipt_no": b.original_receipt_no,
            "completed_at": b.completed_at,
            "cashier_id": b.cashier_id,
            "authorised_by": b.authorised_by,
            "shift_id": b.shift_id,
            "currency": b.currency,
            "reason": b.reason,
            "total": b.total,
            "rounding": b.rounding,
            "member_id": b.member_id,
            "points_reversed": b.points_reversed,
            "points_returned": b.points_returned,
        },
    )
    w.executemany(
        "INSERT INTO refund_lines (refund_id, position, original_line_no, sku, qty, amount, tax,"
        " points_reversed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (b.refund_id, i, ln.original_line_no, ln.sku, ln.qty, ln.amount, ln.tax,
             ln.points_reversed)
            for i, ln in enumerate(b.lines)
        ],
    )  # fmt: skip
    _taxes(w, "refund_taxes", "refund_id", b.refund_id, b.taxes)
    _tenders(w, "refund", b.refund_id, b.tenders)
    units = {
        row["line_no"]: row["uom"]
        for row in w.execute(
            "SELECT line_no, uom FROM sale_lines WHERE sale_id = ?", [b.original_sale_id]
        )
    }
    _stock_rows(
        w,
        event,
        reason="return",
        reference=b.receipt_no,
        moved_by=b.cashier_id,
        moved_at=b.completed_at,
        items=[(ln.sku, ln.qty, units.get(ln.original_line_no), None) for ln in b.lines],
    )
    if b.member_id is not None:
        _ledger(
            w,
            event,
            b.member_id,
            [("reverse", -b.points_reversed), ("return", b.points_returned)],
            ref=("refund", b.refund_id),
            booked_at=b.completed_at,
        )


def _stock_delta(w: Writer, event: Event[StockDelta]) -> None:
    b = event.body
    _stock_rows(
        w,
        event,
        reason=b.reason,
        reference=b.reference,
        moved_by=b.by,
        moved_at=b.at,
        items=[(it.sku, it.delta, it.uom, it.counted) for it in b.items],
    )


def _shift_closed(w: Writer, event: Event[ShiftClosed]) -> None:
    b = event.body
    w.insert(
        "shifts",
        {
            "shift_id": b.shift_id,
            **_origin(event),
            "z_no": b.z_no,
            "cashier_id": b.cashier_id,
            "closed_by": b.closed_by,
            "opened_at": b.opened_at,
            "closed_at": b.closed_at,
            "currency": b.currency,
            "opening_float": b.opening_float,
            "sales_count": b.sales_count,
            "sales_total": b.sales_total,
            "refunds_count": b.refunds_count,
            "refunds_total": b.refunds_total,
            "voids_count": b.voids_count,
            "discount_total": b.discount_total,
            "tax_total": b.tax_total,
            "rounding_total": b.rounding_total,
        },
    )
    w.executemany(
        "INSERT INTO shift_tenders (shift_id, position, kind, expected, counted, over_short)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (b.shift_id, i, t.kind, t.expected, t.counted, t.over_short)
            for i, t in enumerate(b.tenders)
        ],
    )
    w.executemany(
        "INSERT INTO shift_movements (shift_id, position, kind, amount, moved_at, moved_by, reason)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (b.shift_id, i, m.kind, m.amount, m.at, m.by, m.reason)
            for i, m in enumerate(b.movements)
        ],
    )


def _member_enrolled(w: Writer, event: Event[MemberEnrolled]) -> None:
    b = event.body
    w.insert(
        "members_enrolled",
        {
            **_origin(event),
            "member_id": b.member_id,
            "phone": b.phone,
            "card_no": b.card_no,
            "first_name": b.first_name,
            "consent_marketing": b.consent_marketing,
            "enrolled_at": b.enrolled_at,
            "cashier_id": b.cashier_id,
        },
    )


def _feedback_given(w: Writer, event: Event[FeedbackGiven]) -> None:
    b = event.body
    w.insert(
        "feedback",
        {
            **_origin(event),
            "sale_id": b.sale_id,
            "rating": b.rating,
            "member_id": b.member_id,
            "given_at": b.given_at,
        },
    )


def _device_health(w: Writer, event: Event[DeviceHealth]) -> None:
    b = event.body
    w.insert(
        "device_health",
        {
            **_origin(event),
            "reported_at": b.at,
            "uptime_s": b.uptime_s,
            "software_version": b.software_version,
            "firmware_versions": _json(b.firmware_versions),
            "peripherals": _json(b.peripherals),
            "outbox_depth": b.outbox_depth,
            "oldest_unacked_seq": b.oldest_unacked_seq,
            "disk_free_bytes": b.disk_free_bytes,
            "disk_total_bytes": b.disk_total_bytes,
            "clock_synced": b.clock_synced,
            "documents": _json(b.documents),
        },
    )
    # The most specific scope the till runs of each kind is what it prices with.
    running: dict[str, tuple[int, int]] = {}
    for doc in b.documents:
        rank = _LEVEL_RANK[doc.scope_level]
        if doc.kind in _VERSION_COLUMNS and rank >= running.get(doc.kind, (-1, 0))[0]:
            running[doc.kind] = (rank, doc.version)
    _report_versions(w, event, {k: v for k, (_, v) in running.items()}, b.at, full=True)


def _price_applied(w: Writer, event: Event[PriceApplied]) -> None:
    b = event.body
    w.insert(
        "documents_applied",
        {
            **_origin(event),
            "kind": b.kind,
            "scope_level": b.scope_level,
            "version": b.version,
            "doc_id": b.doc_id,
            "applied_at": b.applied_at,
        },
    )
    if b.kind in _VERSION_COLUMNS:
        _report_versions(w, event, {b.kind: b.version}, b.applied_at, full=False)


def _document_rejected(w: Writer, event: Event[DocumentRejected]) -> None:
    b = event.body
    w.insert(
        "documents_rejected",
        {
            **_origin(event),
            "kind": b.kind,
            "version": b.version,
            "doc_id": b.doc_id,
            "reason": b.reason,
            "detail": b.detail,
            "rejected_at": b.at,
        },
    )


# -- shared pieces ---------------------------------------------------------------------------


def _taxes(w: Writer, table: str, key: str, owner: Any, taxes: list[TaxLine]) -> None:
    w.executemany(
        f"INSERT INTO {table} ({key}, position, tax_class, rate_ppm, net, tax, gross)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(owner, i, t.tax_class, t.rate_ppm, t.net, t.tax, t.gross) for i, t in enumerate(taxes)],
    )


def _tenders(w: Writer, owner_kind: str, owner: Any, tenders: list[Tender]) -> None:
    w.executemany(
        "INSERT INTO tenders (owner_kind, owner_id, position, kind, amount, tendered, change,"
        " reference, approval_code, masked_pan, card_scheme, points)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (owner_kind, owner, i, t.kind, t.amount, t.tendered, t.change, t.reference,
             t.approval_code, t.masked_pan, t.card_scheme, t.points)
            for i, t in enumerate(tenders)
        ],
    )  # fmt: skip


def _stock_rows(
    w: Writer,
    event: Event[Any],
    *,
    reason: str,
    reference: str | None,
    moved_by: str,
    moved_at: Any,
    items: list[tuple[str, int, str | None, int | None]],
) -> None:
    w.executemany(
        "INSERT INTO stock_deltas (event_id, position, tenant, store, device, sku, delta, uom,"
        " counted, reason, reference, moved_by, moved_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (event.event_id, i, event.tenant, event.store, event.device, sku, delta, uom,
             counted, reason, reference, moved_by, moved_at)
            for i, (sku, delta, uom, counted) in enumerate(items)
        ],
    )  # fmt: skip


def _ledger(
    w: Writer,
    event: Event[Any],
    member_id: str,
    entries: list[tuple[str, int]],
    *,
    ref: tuple[str, Any],
    booked_at: Any,
) -> None:
    """Book (kind, signed points) entries for a member; entries of zero points are not booked."""
    for kind, points in entries:
        if points == 0:
            continue
        w.insert(
            "loyalty_ledger",
            {
                "tenant": event.tenant,
                "member_id": member_id,
                "kind": kind,
                "points": points,
                "ref_kind": ref[0],
                "ref_id": ref[1],
                "event_id": event.event_id,
                "store": event.store,
                "device": event.device,
                "booked_at": booked_at,
            },
        )


def _report_versions(
    w: Writer, event: Event[Any], versions: dict[str, int], at: Any, *, full: bool
) -> None:
    """Record what the till runs, unless a newer report has already been recorded.

    Reports can arrive out of order (a resent health event from yesterday), so a report older
    than the recorded one is ignored; a full report (device.health) replaces every kind, a
    single ``price.applied`` only its own.
    """
    given = {_VERSION_COLUMNS[k]: v for k, v in versions.items()}
    columns: dict[str, int | None] = (
        {col: given.get(col) for col in _VERSION_COLUMNS.values()} if full else dict(given)
    )
    if not columns:
        return
    sets = ", ".join(f"{col} = ?" for col in columns)
    # Only the devices row: nothing pending feeds it, so no flush is needed.
    w.conn.execute(
        f"UPDATE devices SET {sets}, versions_reported_at = ?"
        " WHERE tenant = ? AND store = ? AND device = ?"
        " AND (versions_reported_at IS NULL OR versions_reported_at <= ?)",
        [*columns.values(), at, event.tenant, event.store, event.device, at],
    )


_PROJECTORS: dict[type[Body], Projector] = {
    SaleCompleted: _sale_completed,
    SaleVoided: _sale_voided,
    RefundCompleted: _refund_completed,
    StockDelta: _stock_delta,
    ShiftClosed: _shift_closed,
    MemberEnrolled: _member_enrolled,
    FeedbackGiven: _feedback_given,
    DeviceHealth: _device_health,
    PriceApplied: _price_applied,
    DocumentRejected: _document_rejected,
}
