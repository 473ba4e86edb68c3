"""Stock adjustments a manager makes: goods received, shelves counted, goods wasted."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from edge.checkout import commands as cmd
from edge.checkout import events as ev
from edge.checkout.batch import Batch, Refused
from edge.checkout.catalog import by_sku
from edge.store.projections import move_stock
from protocol.messages.uplink import StockDelta, StockItem

if TYPE_CHECKING:
    import sqlite3

    from edge.checkout.till import Till

MAX_ITEMS = 1000
MAX_QTY = 10**7


def adjust_stock(till: Till, c: cmd.AdjustStock) -> Batch:
    session = till.require_session()
    manager = till.require_manager(c.approval)
    if not c.items or len(c.items) > MAX_ITEMS:
        raise Refused(f"list 1 to {MAX_ITEMS} items")
    items: list[StockItem] = []
    for sku, qty in sorted(c.items.items()):
        item = by_sku(till.conn, sku)
        if item is None:
            raise Refused(f"no item {sku[:40]}")
        low = 0 if c.reason == "count" else 1
        if isinstance(qty, bool) or not low <= qty <= MAX_QTY:
            raise Refused(f"{item.name}: quantity must be {low} to {MAX_QTY}")
        current = _level(till.conn, sku)
        if c.reason == "count":
            items.append(StockItem(sku=sku, delta=qty - current, uom=item.uom, counted=qty))  # type: ignore[arg-type]
        else:
            delta = qty if c.reason == "receiving" else -qty
            items.append(StockItem(sku=sku, delta=delta, uom=item.uom, counted=None))  # type: ignore[arg-type]
    now = till.now()
    reference = (c.reference or "").strip()[:200] or None
    batch = Batch()
    batch.add(
        "till",
        ev.StockAdjusted(at=now, reason=c.reason, reference=reference, by=manager, items=items),
    )

    def project(conn: sqlite3.Connection) -> None:
        for it in items:
            move_stock(conn, it.sku, it.delta)

    batch.write(project)
    batch.uplink.append(
        StockDelta(reason=c.reason, reference=reference, at=now, by=session.cashier_id, items=items)
    )
    return batch


def _level(conn: sqlite3.Connection, sku: str) -> int:
    row = conn.execute("SELECT qty FROM stock WHERE sku = ?", (sku,)).fetchone()
    return int(row[0]) if row else 0


HANDLERS: dict[type, Callable[..., Batch]] = {cmd.AdjustStock: adjust_stock}
