"""The fleet database's schema: an append-only list of migrations, run on SQLite or PostgreSQL.

Each migration is DDL written once with a few placeholders for what the dialects spell
differently (``{int}`` is a 64-bit integer, ``{ts}`` a timestamp, ``{blob}`` raw bytes,
``{id}`` a generated primary key, ``{strict}`` SQLite's type-checked tables). Never edit a
migration that has shipped: append a new one. ``schema_migrations`` records each applied
version; a database at a version newer than this code is refused rather than written to,
because older code would misread it.

Money columns are ``{int}`` minor units; SQLite tables are ``STRICT`` so ``'12.50'`` or ``12.5``
in a money column fails at once instead of corrupting totals. Timestamp columns end in ``_at``
(the engine converts them, see ``fleet.db.engine``). Lists inside an event that nobody queries
row by row (firmware versions, peripheral states) are kept as JSON text.
"""

from __future__ import annotations

import datetime as dt

from fleet.db.engine import Connection, Dialect, SchemaError, open_connection

_TOKENS: dict[Dialect, dict[str, str]] = {
    Dialect.SQLITE: {
        "int": "INTEGER",
        "ts": "TEXT",
        "blob": "BLOB",
        "id": "INTEGER PRIMARY KEY",
        "strict": " STRICT",
    },
    Dialect.POSTGRES: {
        "int": "BIGINT",
        "ts": "TIMESTAMPTZ",
        "blob": "BYTEA",
        "id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "strict": "",
    },
}

V1 = """
CREATE TABLE devices (
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    device TEXT NOT NULL,
    acked_seq {int} NOT NULL DEFAULT 0,
    max_seq {int} NOT NULL DEFAULT 0,
    first_seen_at {ts} NOT NULL,
    last_seen_at {ts} NOT NULL,
    status TEXT NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown', 'online', 'offline')),
    connection_no {int},
    status_changed_at {ts},
    price_book_version {int},
    promotion_set_version {int},
    member_cache_version {int},
    device_config_version {int},
    versions_reported_at {ts},
    PRIMARY KEY (tenant, store, device),
    CHECK (acked_seq >= 0 AND max_seq >= acked_seq)
){strict};

CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    device TEXT NOT NULL,
    seq {int} NOT NULL CHECK (seq >= 1),
    type TEXT NOT NULL,
    schema {int} NOT NULL,
    occurred_at {ts} NOT NULL,
    received_at {ts} NOT NULL,
    payload {blob} NOT NULL,
    projection_error TEXT,
    UNIQUE (tenant, store, device, seq),
    FOREIGN KEY (tenant, store, device) REFERENCES devices (tenant, store, device)
){strict};
CREATE INDEX events_type_occurred ON events (type, occurred_at);

CREATE TABLE sales (
    sale_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (event_id),
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    device TEXT NOT NULL,
    receipt_no TEXT NOT NULL,
    opened_at {ts} NOT NULL,
    completed_at {ts} NOT NULL,
    cashier_id TEXT NOT NULL,
    shift_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    prices_include_tax {int} NOT NULL CHECK (prices_include_tax IN (0, 1)),
    subtotal {int} NOT NULL,
    discount_total {int} NOT NULL,
    tax_total {int} NOT NULL,
    total {int} NOT NULL,
    rounding {int} NOT NULL,
    change {int} NOT NULL,
    member_id TEXT,
    points_earned {int} NOT NULL,
    points_redeemed {int} NOT NULL,
    coupons TEXT NOT NULL,
    price_book_version {int} NOT NULL,
    promotion_set_version {int} NOT NULL
){strict};
CREATE INDEX sales_store_completed ON sales (tenant, store, completed_at);
CREATE INDEX sales_member ON sales (member_id);

CREATE TABLE sale_lines (
    sale_id TEXT NOT NULL REFERENCES sales (sale_id),
    line_no {int} NOT NULL,
    position {int} NOT NULL,
    sku TEXT NOT NULL,
    gtin TEXT,
    name TEXT NOT NULL,
    category TEXT,
    tax_class TEXT NOT NULL,
    qty {int} NOT NULL,
    uom TEXT NOT NULL,
    unit_price {int} NOT NULL,
    price_per {int} NOT NULL,
    price_source TEXT NOT NULL,
    gross {int} NOT NULL,
    net {int} NOT NULL,
    tax {int} NOT NULL,
    points_earned {int} NOT NULL,
    PRIMARY KEY (sale_id, line_no),
    UNIQUE (sale_id, position)
){strict};
CREATE INDEX sale_lines_sku ON sale_lines (sku);

CREATE TABLE sale_discounts (
    sale_id TEXT NOT NULL,
    line_no {int} NOT NULL,
    position {int} NOT NULL,
    promotion_id TEXT NOT NULL,
    promotion_version {int} NOT NULL,
    name TEXT NOT NULL,
    amount {int} NOT NULL,
    coupon TEXT,
    PRIMARY KEY (sale_id, line_no, position),
    FOREIGN KEY (sale_id, line_no) REFERENCES sale_lines (sale_id, line_no)
){strict};
CREATE INDEX sale_discounts_promotion ON sale_discounts (promotion_id);

CREATE TABLE sale_taxes (
    sale_id TEXT NOT NULL REFERENCES sales (sale_id),
    position {int} NOT NULL,
    tax_class TEXT NOT NULL,
    rate_ppm {int} NOT NULL,
    net {int} NOT NULL,
    tax {int} NOT NULL,
    gross {int} NOT NULL,
    PRIMARY KEY (sale_id, position)
){strict};

CREATE TABLE refunds (
    refund_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (event_id),
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    device TEXT NOT NULL,
    receipt_no TEXT NOT NULL,
    original_sale_id TEXT NOT NULL,
    original_receipt_no TEXT NOT NULL,
    completed_at {ts} NOT NULL,
    cashier_id TEXT NOT NULL,
    authorised_by TEXT,
    shift_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    total {int} NOT NULL,
    rounding {int} NOT NULL,
    member_id TEXT,
    points_reversed {int} NOT NULL,
    points_returned {int} NOT NULL
){strict};
CREATE INDEX refunds_original ON refunds (original_sale_id);

CREATE TABLE refund_lines (
    refund_id TEXT NOT NULL REFERENCES refunds (refund_id),
    position {int} NOT NULL,
    original_line_no {int} NOT NULL,
    sku TEXT NOT NULL,
    qty {int} NOT NULL,
    amount {int} NOT NULL,
    tax {int} NOT NULL,
    points_reversed {int} NOT NULL,
    PRIMARY KEY (refund_id, position)
){strict};

CREATE TABLE refund_taxes (
    refund_id TEXT NOT NULL REFERENCES refunds (refund_id),
    position {int} NOT NULL,
    tax_class TEXT NOT NULL,
    rate_ppm {int} NOT NULL,
    net {int} NOT NULL,
    tax {int} NOT NULL,
    gross {int} NOT NULL,
    PRIMARY KEY (refund_id, position)
){strict};

CREATE TABLE tenders (
    owner_kind TEXT NOT NULL CHECK (owner_kind IN ('sale', 'refund')),
    owner_id TEXT NOT NULL,
    position {int} NOT NULL,
    kind TEXT NOT NULL,
    amount {int} NOT NULL,
    tendered {int} NOT NULL,
    change {int} NOT NULL,
    reference TEXT,
    approval_code TEXT,
    masked_pan TEXT,
    card_scheme TEXT,
    points {int},
    PRIMARY KEY (owner_kind, owner_id, position)
){strict};

CREATE TABLE voids (
    sale_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (event_id),
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    device TEXT NOT NULL,
    opened_at {ts} NOT NULL,
    voided_at {ts} NOT NULL,
    cashier_id TEXT NOT NULL,
    authorised_by TEXT NOT NULL,
    shift_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    line_count {int} NOT NULL,
    total {int} NOT NULL
){strict};

CREATE TABLE loyalty_ledger (
    entry_id {id},
    tenant TEXT NOT NULL,
    member_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('earn', 'redeem', 'reverse', 'return', 'adjust', 'expire')),
    points {int} NOT NULL,
    ref_kind TEXT NOT NULL CHECK (ref_kind IN ('sale', 'refund', 'adjustment')),
    ref_id TEXT NOT NULL,
    event_id TEXT REFERENCES events (event_id),
    store TEXT,
    device TEXT,
    booked_at {ts} NOT NULL,
    UNIQUE (ref_kind, ref_id, kind)
){strict};
CREATE INDEX loyalty_ledger_member ON loyalty_ledger (tenant, member_id);

CREATE TABLE stock_deltas (
    delta_id {id},
    event_id TEXT NOT NULL REFERENCES events (event_id),
    position {int} NOT NULL,
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    device TEXT NOT NULL,
    sku TEXT NOT NULL,
    delta {int} NOT NULL,
    uom TEXT,
    counted {int},
    reason TEXT NOT NULL
        CHECK (reason IN ('sale', 'return', 'receiving', 'count', 'waste', 'adjust')),
    reference TEXT,
    moved_by TEXT NOT NULL,
    moved_at {ts} NOT NULL,
    UNIQUE (event_id, position)
){strict};
CREATE INDEX stock_deltas_store_sku ON stock_deltas (tenant, store, sku);

CREATE TABLE shifts (
    shift_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (event_id),
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    device TEXT NOT NULL,
    z_no {int} NOT NULL,
    cashier_id TEXT NOT NULL,
    closed_by TEXT NOT NULL,
    opened_at {ts} NOT NULL,
    closed_at {ts} NOT NULL,
    currency TEXT NOT NULL,
    opening_float {int} NOT NULL,
    sales_count {int} NOT NULL,
    sales_total {int} NOT NULL,
    refunds_count {int} NOT NULL,
    refunds_total {int} NOT NULL,
    voids_count {int} NOT NULL,
    discount_total {int} NOT NULL,
    tax_total {int} NOT NULL,
    rounding_total {int} NOT NULL
){strict};

CREATE TABLE shift_tenders (
    shift_id TEXT NOT NULL REFERENCES shifts (shift_id),
    position {int} NOT NULL,
    kind TEXT NOT NULL,
    expected {int} NOT NULL,
    counted {int} NOT NULL,
    over_short {int} NOT NULL,
    PRIMARY KEY (shift_id, position)
){strict};

CREATE TABLE shift_movements (
    shift_id TEXT NOT NULL REFERENCES shifts (shift_id),
    position {int} NOT NULL,
    kind TEXT NOT NULL,
    amount {int} NOT NULL,
    moved_at {ts} NOT NULL,
    moved_by TEXT NOT NULL,
    reason TEXT,
    PRIMARY KEY (shift_id, position)
){strict};

CREATE TABLE members_enrolled (
    event_id TEXT PRIMARY KEY REFERENCES events (event_id),
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    device TEXT NOT NULL,
    member_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    card_no TEXT,
    first_name TEXT,
    consent_marketing {int} NOT NULL CHECK (consent_marketing IN (0, 1)),
    enrolled_at {ts} NOT NULL,
    cashier_id TEXT NOT NULL
){strict};
CREATE INDEX members_enrolled_member ON members_enrolled (tenant, member_id);

CREATE TABLE feedback (
    event_id TEXT PRIMARY KEY REFERENCES events (event_id),
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    device TEXT NOT NULL,
    sale_id TEXT NOT NULL,
    rating {int} NOT NULL CHECK (rating BETWEEN 1 AND 5),
    member_id TEXT,
    given_at {ts} NOT NULL
){strict};

CREATE TABLE device_health (
    event_id TEXT PRIMARY KEY REFERENCES events (event_id),
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    device TEXT NOT NULL,
    reported_at {ts} NOT NULL,
    uptime_s {int} NOT NULL,
    software_version TEXT NOT NULL,
    firmware_versions TEXT NOT NULL,
    peripherals TEXT NOT NULL,
    outbox_depth {int} NOT NULL,
    oldest_unacked_seq {int},
    disk_free_bytes {int} NOT NULL,
    disk_total_bytes {int} NOT NULL,
    clock_synced {int} NOT NULL CHECK (clock_synced IN (0, 1)),
    documents TEXT NOT NULL
){strict};
CREATE INDEX device_health_device ON device_health (tenant, store, device, reported_at);

CREATE TABLE documents_applied (
    event_id TEXT PRIMARY KEY REFERENCES events (event_id),
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    device TEXT NOT NULL,
    kind TEXT NOT NULL,
    scope_level TEXT NOT NULL,
    version {int} NOT NULL,
    doc_id TEXT NOT NULL,
    applied_at {ts} NOT NULL
){strict};
CREATE INDEX documents_applied_kind ON documents_applied (kind, version);

CREATE TABLE documents_rejected (
    event_id TEXT PRIMARY KEY REFERENCES events (event_id),
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    device TEXT NOT NULL,
    kind TEXT,
    version {int},
    doc_id TEXT,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    rejected_at {ts} NOT NULL
){strict};

CREATE TABLE dead_letters (
    dead_letter_id {id},
    received_at {ts} NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    error_path TEXT,
    payload {blob} NOT NULL
){strict};
CREATE INDEX dead_letters_received ON dead_letters (received_at);

CREATE TABLE document_versions (
    kind TEXT NOT NULL,
    scope TEXT NOT NULL,
    version {int} NOT NULL CHECK (version >= 1),
    updated_at {ts} NOT NULL,
    PRIMARY KEY (kind, scope)
){strict};
"""

# Version 2: what HQ publishes — the catalog (stores, tax classes, items, per-store prices),
# promotions, members and till settings — plus the state publishing keeps: a price-book change
# log per store (so a delta can be built from any version a till reports running), the member
# cache content last published per store, and every document published (rollout status).
V2 = """
CREATE TABLE stores (
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    name TEXT NOT NULL,
    currency TEXT NOT NULL,
    prices_include_tax {int} NOT NULL CHECK (prices_include_tax IN (0, 1)),
    timezone TEXT NOT NULL,
    country_code TEXT NOT NULL,
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant, store)
){strict};

CREATE TABLE tax_classes (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    rate_ppm {int} NOT NULL CHECK (rate_ppm BETWEEN 0 AND 1000000),
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant, id)
){strict};

CREATE TABLE items (
    tenant TEXT NOT NULL,
    sku TEXT NOT NULL,
    name TEXT NOT NULL,
    short_name TEXT NOT NULL,
    plu TEXT,
    category TEXT,
    tax_class TEXT NOT NULL,
    unit_price {int} NOT NULL CHECK (unit_price >= 0),
    price_per {int} NOT NULL CHECK (price_per >= 1),
    uom TEXT NOT NULL,
    open_price {int} NOT NULL CHECK (open_price IN (0, 1)),
    weighed {int} NOT NULL CHECK (weighed IN (0, 1)),
    min_age {int},
    active {int} NOT NULL CHECK (active IN (0, 1)),
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant, sku),
    UNIQUE (tenant, plu),
    FOREIGN KEY (tenant, tax_class) REFERENCES tax_classes (tenant, id)
){strict};

CREATE TABLE item_gtins (
    tenant TEXT NOT NULL,
    gtin TEXT NOT NULL,
    sku TEXT NOT NULL,
    PRIMARY KEY (tenant, gtin),
    FOREIGN KEY (tenant, sku) REFERENCES items (tenant, sku) ON DELETE CASCADE
){strict};
CREATE INDEX item_gtins_sku ON item_gtins (tenant, sku);

CREATE TABLE store_prices (
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    sku TEXT NOT NULL,
    unit_price {int} NOT NULL CHECK (unit_price >= 0),
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant, store, sku),
    FOREIGN KEY (tenant, sku) REFERENCES items (tenant, sku) ON DELETE CASCADE
){strict};

CREATE TABLE price_book_versions (
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    version {int} NOT NULL,
    doc_id TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('snapshot', 'delta')),
    base_version {int},
    currency TEXT NOT NULL,
    prices_include_tax {int} NOT NULL CHECK (prices_include_tax IN (0, 1)),
    tax_classes TEXT NOT NULL,
    item_count {int} NOT NULL,
    created_at {ts} NOT NULL,
    PRIMARY KEY (tenant, store, version)
){strict};

CREATE TABLE price_book_entries (
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    sku TEXT NOT NULL,
    from_version {int} NOT NULL,
    to_version {int},
    item TEXT NOT NULL,
    PRIMARY KEY (tenant, store, sku, from_version),
    CHECK (to_version IS NULL OR to_version > from_version)
){strict};
CREATE INDEX price_book_entries_open
    ON price_book_entries (tenant, store, to_version, from_version);

CREATE TABLE promotions (
    tenant TEXT NOT NULL,
    promotion_id TEXT NOT NULL,
    version {int} NOT NULL,
    body TEXT NOT NULL,
    active {int} NOT NULL CHECK (active IN (0, 1)),
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant, promotion_id)
){strict};

CREATE TABLE members (
    tenant TEXT NOT NULL,
    member_id TEXT NOT NULL,
    phone TEXT,
    card_no TEXT,
    first_name TEXT,
    tier TEXT,
    birthday TEXT,
    recommendation TEXT,
    home_store TEXT,
    offline_redeem_limit {int} CHECK (offline_redeem_limit >= 0),
    stored_value {int} NOT NULL CHECK (stored_value >= 0),
    active {int} NOT NULL CHECK (active IN (0, 1)),
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant, member_id)
){strict};
CREATE INDEX members_home_store ON members (tenant, home_store);

CREATE TABLE member_coupons (
    tenant TEXT NOT NULL,
    member_id TEXT NOT NULL,
    code TEXT NOT NULL,
    promotion_id TEXT NOT NULL,
    expires_at {ts},
    single_use {int} NOT NULL CHECK (single_use IN (0, 1)),
    redeemed_at {ts},
    PRIMARY KEY (tenant, member_id, code),
    FOREIGN KEY (tenant, member_id) REFERENCES members (tenant, member_id) ON DELETE CASCADE
){strict};

CREATE TABLE phone_hash_keys (
    tenant TEXT NOT NULL,
    key_id TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at {ts} NOT NULL,
    retired_at {ts},
    PRIMARY KEY (tenant, key_id)
){strict};

CREATE TABLE till_settings (
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    device TEXT NOT NULL,
    settings TEXT NOT NULL,
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant, store, device)
){strict};

CREATE TABLE member_cache_entries (
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    member_id TEXT NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (tenant, store, member_id)
){strict};

CREATE TABLE member_cache_marks (
    tenant TEXT NOT NULL,
    store TEXT NOT NULL,
    device TEXT NOT NULL,
    acked_seq {int} NOT NULL,
    PRIMARY KEY (tenant, store, device)
){strict};

CREATE TABLE published_documents (
    doc_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    scope TEXT NOT NULL,
    store TEXT,
    device TEXT,
    version {int} NOT NULL,
    mode TEXT,
    base_version {int},
    entries {int} NOT NULL,
    removed {int} NOT NULL,
    key_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    size_bytes {int} NOT NULL,
    issued_at {ts} NOT NULL,
    expires_at {ts} NOT NULL,
    published_at {ts},
    UNIQUE (kind, scope, version)
){strict};
CREATE INDEX published_documents_store ON published_documents (tenant, store, kind, version);
"""

# Version 3: projection leaves the ingest transaction. The ingest stores an event (the record
# HQ acknowledges) and queues its id here in the same transaction; projection (see
# ``fleet.db.projection_queue``) writes the event's rows into the tables above and takes it off
# the queue, in one transaction, later. Events stored before version 3 were projected already.
V3 = """
CREATE TABLE projection_queue (
    event_id TEXT PRIMARY KEY REFERENCES events (event_id)
){strict};
"""

# Version 4: PostgreSQL compresses a stored payload (sales are ~2 KB of JSON, over the TOAST
# threshold) with pglz by default, which was measured at a quarter of the server's CPU per
# ingested event; lz4 costs a fraction of that to write and to read back for projection. Only
# where the server has lz4 (PostgreSQL 14+, built with it); elsewhere, and on SQLite, nothing.
V4 = """
{events_payload_lz4}
"""

# Version 5: on SQLite a dead letter's id is never reused. ``INTEGER PRIMARY KEY`` alone hands
# the highest id out again once its row is deleted (replayed), so an operator who listed the
# letters, then replayed one by id, could meet another message under it; ``AUTOINCREMENT``
# never hands an id out twice (PostgreSQL's identity column never did). SQLite cannot add it
# to a table, so the table is rebuilt, keeping every row and its id; ids freed before this
# migration may still come round once.
V5 = """
{dead_letters_autoincrement}
"""

_DEAD_LETTERS_AUTOINCREMENT = """
CREATE TABLE dead_letters_v5 (
    dead_letter_id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    error_path TEXT,
    payload BLOB NOT NULL
) STRICT;
INSERT INTO dead_letters_v5 (dead_letter_id, received_at, topic, reason, error_path, payload)
    SELECT dead_letter_id, received_at, topic, reason, error_path, payload FROM dead_letters;
DROP TABLE dead_letters;
ALTER TABLE dead_letters_v5 RENAME TO dead_letters;
CREATE INDEX dead_letters_received ON dead_letters (received_at);
"""

MIGRATIONS: tuple[str, ...] = (V1, V2, V3, V4, V5)
"""Index + 1 is the schema version a migration brings the database to."""

_PG_LOCK_KEY = 0x54464851  # serialises migrations of concurrently starting workers


def connect(url: str, *, migrate_schema: bool = True) -> Connection:
    """Open the database at ``url`` and, by default, bring its schema up to date."""
    conn = open_connection(url)
    if migrate_schema:
        try:
            migrate(conn)
        except BaseException:
            conn.close()
            raise
    return conn


def schema_version(conn: Connection) -> int:
    """The highest migration applied (0 for an empty database)."""
    if not _has_migrations_table(conn):
        return 0
    return int(conn.scalar("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations"))


def migrate(conn: Connection, target: int | None = None) -> int:
    """Apply the migrations the database has not seen, each in its own transaction, up to
    version ``target`` (default: the newest).

    Safe to run from several processes at once: PostgreSQL takes an advisory lock, SQLite's
    ``BEGIN IMMEDIATE`` takes the file's write lock. Returns the resulting version.
    """
    newest = len(MIGRATIONS) if target is None else target
    if not 0 <= newest <= len(MIGRATIONS):
        raise SchemaError(f"no schema version {target}: this software knows 0..{len(MIGRATIONS)}")
    while True:
        with conn.transaction():
            if conn.dialect is Dialect.POSTGRES:
                conn.execute("SELECT pg_advisory_xact_lock(?)", [_PG_LOCK_KEY])
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version {int} PRIMARY KEY, applied_at {ts} NOT NULL){strict}".format_map(
                    _TOKENS[conn.dialect]
                )
            )
            current = schema_version(conn)
            if current > len(MIGRATIONS):
                raise SchemaError(
                    f"the fleet database is at schema version {current}, newer than this "
                    f"software understands ({len(MIGRATIONS)}); run the newer software"
                )
            if current >= newest:
                return current
            tokens = {
                **_TOKENS[conn.dialect],
                "events_payload_lz4": _payload_lz4(conn),
                "dead_letters_autoincrement": (
                    _DEAD_LETTERS_AUTOINCREMENT if conn.dialect is Dialect.SQLITE else ""
                ),
            }
            for statement in _statements(MIGRATIONS[current].format_map(tokens)):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                [current + 1, dt.datetime.now(dt.UTC)],
            )


def _payload_lz4(conn: Connection) -> str:
    if conn.dialect is not Dialect.POSTGRES:
        return ""
    lz4 = conn.one(
        "SELECT 1 AS x FROM pg_settings"
        " WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)"
    )
    return "ALTER TABLE events ALTER COLUMN payload SET COMPRESSION lz4" if lz4 else ""


def _has_migrations_table(conn: Connection) -> bool:
    if conn.dialect is Dialect.SQLITE:
        sql = "SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?"
    else:
        sql = "SELECT 1 AS x FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?"
    return conn.one(sql, ["schema_migrations"]) is not None


def _statements(script: str) -> list[str]:
    # Our migrations hold no semicolons inside literals or bodies, so the split is exact.
    return [part for part in script.split(";") if part.strip()]
