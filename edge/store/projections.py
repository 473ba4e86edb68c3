"""Writes to the projections that several handlers share (inside the caller's transaction)."""

from __future__ import annotations

import sqlite3
from datetime import datetime


def move_stock(conn: sqlite3.Connection, sku: str, delta: int) -> None:
    """Add ``delta`` (negative for goods leaving) to the stock level of ``sku``."""
    conn.execute(
        "INSERT INTO stock (sku, qty) VALUES (?, ?) "
        "ON CONFLICT (sku) DO UPDATE SET qty = qty + excluded.qty",
        (sku, delta),
    )


def add_loyalty(
    conn: sqlite3.Connection,
    member_id: str,
    kind: str,
    *,
    points: int,
    stored_value: int = 0,
    ref: str,
    at: datetime,
) -> None:
    """Record a loyalty movement the cached balance does not include yet (until HQ confirms)."""
    conn.execute(
        "INSERT INTO loyalty_pending (member_id, kind, points, stored_value, ref, at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (member_id, kind, points, stored_value, ref, at.isoformat()),
    )
