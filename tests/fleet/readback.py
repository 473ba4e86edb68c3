"""Rebuild an event's body from HQ's projection tables alone (never from the raw payload).

If a projection dropped, renamed, rounded or reordered anything, the rebuilt body differs from
the one the till sent; the tests compare the two whole.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import msgspec

from fleet.db import Connection, ProjectionRound, Row, project_pending
from protocol.messages import Body
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
)

_ORIGIN = ("event_id", "tenant", "store", "device")


def project_all(conn: Connection, limit: int = 1000) -> ProjectionRound:
    """Project every queued event (rounds of ``limit`` until one finds the queue empty); the
    totals. Ingest only stores and queues: call this before reading the projected tables."""
    projected = failed = 0
    while True:
        done = project_pending(conn, limit=limit)
        if done.taken == 0:
            return ProjectionRound(projected=projected, failed=failed)
        projected += done.projected
        failed += done.failed


def _one(conn: Connection, sql: str, params: list[Any]) -> Row:
    row = conn.one(sql, params)
    assert row is not None, f"no row for {sql} {params}"
    return row


def _strip(row: Row, *drop: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in (*_ORIGIN, *drop)}


def _tenders(conn: Connection, owner_kind: str, owner: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT * FROM tenders WHERE owner_kind = ? AND owner_id = ? ORDER BY position",
        [owner_kind, owner],
    )
    return [_strip(r, "owner_kind", "owner_id", "position") for r in rows]


def _taxes(conn: Connection, table: str, key: str, owner: str) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT * FROM {table} WHERE {key} = ? ORDER BY position", [owner])
    return [_strip(r, key, "position") for r in rows]


def sale(conn: Connection, event_id: uuid.UUID) -> SaleCompleted:
    row = _one(conn, "SELECT * FROM sales WHERE event_id = ?", [str(event_id)])
    sid = row["sale_id"]
    lines = []
    for ln in conn.execute("SELECT * FROM sale_lines WHERE sale_id = ? ORDER BY position", [sid]):
        discounts = conn.execute(
            "SELECT * FROM sale_discounts WHERE sale_id = ? AND line_no = ? ORDER BY position",
            [sid, ln["line_no"]],
        )
        lines.append(
            {
                **_strip(ln, "sale_id", "position"),
                "discounts": [_strip(d, "sale_id", "line_no", "position") for d in discounts],
            }
        )
    body = {
        **_strip(row),
        "prices_include_tax": bool(row["prices_include_tax"]),
        "coupons": msgspec.json.decode(row["coupons"]),
        "lines": lines,
        "taxes": _taxes(conn, "sale_taxes", "sale_id", sid),
        "tenders": _tenders(conn, "sale", sid),
    }
    return msgspec.convert(body, SaleCompleted)


def void(conn: Connection, event_id: uuid.UUID) -> SaleVoided:
    row = _one(conn, "SELECT * FROM voids WHERE event_id = ?", [str(event_id)])
    return msgspec.convert(_strip(row), SaleVoided)


def refund(conn: Connection, event_id: uuid.UUID) -> RefundCompleted:
    row = _one(conn, "SELECT * FROM refunds WHERE event_id = ?", [str(event_id)])
    rid = row["refund_id"]
    lines = conn.execute("SELECT * FROM refund_lines WHERE refund_id = ? ORDER BY position", [rid])
    body = {
        **_strip(row),
        "lines": [_strip(r, "refund_id", "position") for r in lines],
        "taxes": _taxes(conn, "refund_taxes", "refund_id", rid),
        "tenders": _tenders(conn, "refund", rid),
    }
    return msgspec.convert(body, RefundCompleted)


def stock(conn: Connection, event_id: uuid.UUID) -> StockDelta:
    rows = conn.execute(
        "SELECT * FROM stock_deltas WHERE event_id = ? ORDER BY position", [str(event_id)]
    )
    first = rows[0]
    assert all(
        (r["reason"], r["reference"], r["moved_by"], r["moved_at"])
        == (first["reason"], first["reference"], first["moved_by"], first["moved_at"])
        for r in rows
    )
    body = {
        "reason": first["reason"],
        "reference": first["reference"],
        "at": first["moved_at"],
        "by": first["moved_by"],
        "items": [
            {"sku": r["sku"], "delta": r["delta"], "uom": r["uom"], "counted": r["counted"]}
            for r in rows
        ],
    }
    return msgspec.convert(body, StockDelta)


def shift(conn: Connection, event_id: uuid.UUID) -> ShiftClosed:
    row = _one(conn, "SELECT * FROM shifts WHERE event_id = ?", [str(event_id)])
    sid = row["shift_id"]
    tenders = conn.execute(
        "SELECT * FROM shift_tenders WHERE shift_id = ? ORDER BY position", [sid]
    )
    moves = conn.execute(
        "SELECT * FROM shift_movements WHERE shift_id = ? ORDER BY position", [sid]
    )
    body = {
        **_strip(row),
        "tenders": [_strip(t, "shift_id", "position") for t in tenders],
        "movements": [
            {
                "kind": m["kind"],
                "amount": m["amount"],
                "at": m["moved_at"],
                "by": m["moved_by"],
                "reason": m["reason"],
            }
            for m in moves
        ],
    }
    return msgspec.convert(body, ShiftClosed)


def member(conn: Connection, event_id: uuid.UUID) -> MemberEnrolled:
    row = _one(conn, "SELECT * FROM members_enrolled WHERE event_id = ?", [str(event_id)])
    return msgspec.convert(
        {**_strip(row), "consent_marketing": bool(row["consent_marketing"])}, MemberEnrolled
    )


def feedback(conn: Connection, event_id: uuid.UUID) -> FeedbackGiven:
    row = _one(conn, "SELECT * FROM feedback WHERE event_id = ?", [str(event_id)])
    return msgspec.convert(_strip(row), FeedbackGiven)


def health(conn: Connection, event_id: uuid.UUID) -> DeviceHealth:
    row = _one(conn, "SELECT * FROM device_health WHERE event_id = ?", [str(event_id)])
    body = {
        **_strip(row, "reported_at"),
        "at": row["reported_at"],
        "clock_synced": bool(row["clock_synced"]),
        "firmware_versions": msgspec.json.decode(row["firmware_versions"]),
        "peripherals": msgspec.json.decode(row["peripherals"]),
        "documents": msgspec.json.decode(row["documents"]),
    }
    return msgspec.convert(body, DeviceHealth)


def applied(conn: Connection, event_id: uuid.UUID) -> PriceApplied:
    row = _one(conn, "SELECT * FROM documents_applied WHERE event_id = ?", [str(event_id)])
    return msgspec.convert(_strip(row), PriceApplied)


def rejected(conn: Connection, event_id: uuid.UUID) -> DocumentRejected:
    row = _one(conn, "SELECT * FROM documents_rejected WHERE event_id = ?", [str(event_id)])
    return msgspec.convert(
        {**_strip(row, "rejected_at"), "at": row["rejected_at"]}, DocumentRejected
    )


READERS: dict[type[Body], Callable[[Connection, uuid.UUID], Body]] = {
    SaleCompleted: sale,
    SaleVoided: void,
    RefundCompleted: refund,
    StockDelta: stock,
    ShiftClosed: shift,
    MemberEnrolled: member,
    FeedbackGiven: feedback,
    DeviceHealth: health,
    PriceApplied: applied,
    DocumentRejected: rejected,
}
