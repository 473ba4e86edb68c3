"""A store's price book: a full snapshot, or a delta from the version its tills run.

HQ keeps a change log per store (``price_book_entries``): one row per item per stretch of
versions it stayed the same (``from_version`` up to, not including, ``to_version``). Each
publication closes the rows of the items that changed or went and opens rows for the new
content. So a delta from *any* earlier version B is a query — items whose open row starts after
B, and items that had a row at B but have none now — and HQ can serve whichever base the tills
actually report, not just the last version it sent.

A till applies a delta only on top of exactly its base (``edge.store.documents``), and a store's
document is one retained message for all its tills, so a delta goes out only when every till of
the store reports running the same version, that version is one HQ built for this store, it is
not older than ``max_base_age``, and no tax class it had has gone since (a delta can add or
change tax classes but cannot remove one). Anything else gets a snapshot, and the reason is
logged and returned with the document.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from fleet.db import Connection, next_version
from fleet.keys import Signer
from fleet.publish.catalog import store_record
from fleet.publish.documents import (
    DEFAULT_TTL,
    Prepared,
    PublishError,
    new_doc_id,
    sign_and_record,
    store_scope,
    utcnow,
    version_floor,
)
from protocol.messages import make_document
from protocol.messages.downlink import Item, PriceBook, TaxClass

MAX_BASE_AGE = dt.timedelta(days=30)
"""A till running a price book older than this gets a snapshot: it has drifted for a month and
a snapshot also repairs anything a delta would carry over."""

_item_decoder = msgspec.json.Decoder(Item)
_taxes_decoder = msgspec.json.Decoder(list[TaxClass])


def prepare_price_book(
    conn: Connection,
    signer: Signer,
    *,
    tenant: str,
    store: str,
    full: bool = False,
    now: dt.datetime | None = None,
    ttl: dt.timedelta = DEFAULT_TTL,
    max_base_age: dt.timedelta = MAX_BASE_AGE,
) -> Prepared:
    """Build, sign and record the next price book of ``store`` (one transaction).

    ``full`` asks for a snapshot; otherwise a delta is built when the store's tills allow one
    (see the module docstring).
    """
    now = now or utcnow()
    scope = store_scope(tenant, store)
    with conn.transaction():
        shop = store_record(conn, tenant, store)
        if shop is None:
            raise PublishError(f"store {store} is not in the catalog (fleet catalog load)")
        floor = version_floor(conn, PriceBook.TYPE, scope)
        version = next_version(conn, PriceBook.TYPE, scope, now=now, at_least=floor)
        taxes = _tax_classes(conn, tenant)
        items = current_items(conn, tenant, store)
        _advance_log(conn, tenant, store, version, items)

        base, note = (None, "asked for a full snapshot") if full else (None, "")
        if not full:
            base, note = _delta_base(
                conn, tenant, store, taxes=taxes, now=now, max_base_age=max_base_age
            )
        if base is None:
            body = PriceBook(
                mode="snapshot",
                base_version=None,
                currency=shop.currency,
                prices_include_tax=shop.prices_include_tax,
                tax_classes=taxes,
                items=[items[sku] for sku in sorted(items)],
                removed=[],
            )
        else:
            changed, removed = changes_since(conn, tenant, store, base)
            body = PriceBook(
                mode="delta",
                base_version=base,
                currency=shop.currency,
                prices_include_tax=shop.prices_include_tax,
                tax_classes=taxes,
                items=changed,
                removed=removed,
            )
        doc_id = new_doc_id(now)
        conn.insert(
            "price_book_versions",
            {
                "tenant": tenant,
                "store": store,
                "version": version,
                "doc_id": doc_id,
                "mode": body.mode,
                "base_version": body.base_version,
                "currency": body.currency,
                "prices_include_tax": body.prices_include_tax,
                "tax_classes": msgspec.json.encode(taxes).decode(),
                "item_count": len(items),
                "created_at": now,
            },
        )
        doc = make_document(
            body, doc_id=doc_id, scope=scope, version=version, issued_at=now, expires_at=now + ttl
        )
        return sign_and_record(
            conn,
            signer,
            doc,
            mode=body.mode,
            base_version=body.base_version,
            entries=len(body.items),
            removed=len(body.removed),
            note=note if base is None else "",
        )


def current_items(conn: Connection, tenant: str, store: str) -> dict[str, Item]:
    """The store's book as it stands: every catalog item, at the store's own price if it has one."""
    gtins: dict[str, list[str]] = {}
    for row in conn.execute("SELECT sku, gtin FROM item_gtins WHERE tenant = ?", [tenant]):
        gtins.setdefault(row["sku"], []).append(row["gtin"])
    items: dict[str, Item] = {}
    for row in conn.execute(
        "SELECT i.sku, i.name, i.short_name, i.plu, i.category, i.tax_class,"
        " COALESCE(p.unit_price, i.unit_price) AS unit_price, i.price_per, i.uom, i.open_price,"
        " i.weighed, i.min_age, i.active"
        " FROM items i LEFT JOIN store_prices p"
        " ON p.tenant = i.tenant AND p.sku = i.sku AND p.store = ?"
        " WHERE i.tenant = ?",
        [store, tenant],
    ):
        items[row["sku"]] = Item(
            sku=row["sku"],
            name=row["name"],
            short_name=row["short_name"],
            gtins=sorted(gtins.get(row["sku"], [])),
            plu=row["plu"],
            category=row["category"],
            tax_class=row["tax_class"],
            unit_price=int(row["unit_price"]),
            price_per=int(row["price_per"]),
            uom=row["uom"],
            open_price=bool(row["open_price"]),
            weighed=bool(row["weighed"]),
            min_age=row["min_age"],
            active=bool(row["active"]),
        )
    return items


def _tax_classes(conn: Connection, tenant: str) -> list[TaxClass]:
    rows = conn.execute("SELECT id, name, rate_ppm FROM tax_classes WHERE tenant = ?", [tenant])
    taxes = [TaxClass(id=r["id"], name=r["name"], rate_ppm=int(r["rate_ppm"])) for r in rows]
    return sorted(taxes, key=lambda t: t.id)


def _advance_log(
    conn: Connection, tenant: str, store: str, version: int, items: dict[str, Item]
) -> None:
    """Close the log rows of items that changed or went, open rows for the new content."""
    open_rows = {
        row["sku"]: row["item"]
        for row in conn.execute(
            "SELECT sku, item FROM price_book_entries"
            " WHERE tenant = ? AND store = ? AND to_version IS NULL",
            [tenant, store],
        )
    }
    encoded = {sku: msgspec.json.encode(item).decode() for sku, item in items.items()}
    changed = [sku for sku, text in encoded.items() if open_rows.get(sku) != text]
    gone = [sku for sku in open_rows if sku not in items]
    conn.executemany(
        "UPDATE price_book_entries SET to_version = ?"
        " WHERE tenant = ? AND store = ? AND sku = ? AND to_version IS NULL",
        [(version, tenant, store, sku) for sku in [*changed, *gone] if sku in open_rows],
    )
    conn.executemany(
        "INSERT INTO price_book_entries (tenant, store, sku, from_version, to_version, item)"
        " VALUES (?, ?, ?, ?, NULL, ?)",
        [(tenant, store, sku, version, encoded[sku]) for sku in changed],
    )


def _delta_base(
    conn: Connection,
    tenant: str,
    store: str,
    *,
    taxes: list[TaxClass],
    now: dt.datetime,
    max_base_age: dt.timedelta,
) -> tuple[int | None, str]:
    """The version every till of the store runs, if a delta from it may go out; else why not."""
    rows = conn.execute(
        "SELECT device, price_book_version AS v FROM devices WHERE tenant = ? AND store = ?",
        [tenant, store],
    )
    if not rows:
        return None, "no till of the store has reported yet"
    missing = sorted(r["device"] for r in rows if r["v"] is None)
    if missing:
        return None, f"no price book reported by {', '.join(missing)}"
    running = {int(r["v"]) for r in rows}
    if len(running) > 1:
        report = ", ".join(f"{r['device']} v{r['v']}" for r in sorted(rows, key=_by_device))
        return None, f"tills run different versions ({report})"
    base = running.pop()
    row = conn.one(
        "SELECT created_at, tax_classes FROM price_book_versions"
        " WHERE tenant = ? AND store = ? AND version = ?",
        [tenant, store, base],
    )
    if row is None:
        return None, f"the tills run v{base}, which HQ did not build for this store"
    if now - row["created_at"] > max_base_age:
        return None, f"v{base} is older than {max_base_age.days} days"
    had = {t.id for t in _taxes_decoder.decode(row["tax_classes"])}
    gone = sorted(had - {t.id for t in taxes})
    if gone:
        return None, f"tax classes removed since v{base}: {', '.join(gone)}"
    return base, ""


def _by_device(row: dict[str, object]) -> str:
    return str(row["device"])


def changes_since(
    conn: Connection, tenant: str, store: str, base: int
) -> tuple[list[Item], list[str]]:
    """Items whose content changed after ``base``, and SKUs the book had at ``base`` but not now."""
    changed = [
        _item_decoder.decode(row["item"])
        for row in conn.execute(
            "SELECT item FROM price_book_entries"
            " WHERE tenant = ? AND store = ? AND to_version IS NULL AND from_version > ?",
            [tenant, store, base],
        )
    ]
    removed = [
        row["sku"]
        for row in conn.execute(
            "SELECT DISTINCT e.sku FROM price_book_entries e"
            " WHERE e.tenant = ? AND e.store = ? AND e.from_version <= ? AND e.to_version > ?"
            " AND NOT EXISTS (SELECT 1 FROM price_book_entries o WHERE o.tenant = e.tenant"
            " AND o.store = e.store AND o.sku = e.sku AND o.to_version IS NULL)",
            [tenant, store, base, base],
        )
    ]
    return sorted(changed, key=lambda i: i.sku), sorted(removed)
