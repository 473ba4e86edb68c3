"""The store's schema, as an append-only list of migrations (index + 1 = ``user_version``).

Never edit a migration that has shipped: add a new one. Tables are STRICT so a bug that would
store ``'12.50'`` (text) or ``12.5`` (real) in a money column fails at once instead of
corrupting totals. Projections (``sales``, ``shifts``, ``stock``, ``outbox``...) are updated in
the same transaction as the journal rows they derive from.
"""

from __future__ import annotations

V1 = """
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;

CREATE TABLE documents (
    kind TEXT NOT NULL,
    scope_level TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc_id TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (kind, scope_level)
) STRICT;

CREATE TABLE tax_classes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    rate_ppm INTEGER NOT NULL CHECK (rate_ppm BETWEEN 0 AND 1000000)
) STRICT;

CREATE TABLE items (
    sku TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    short_name TEXT NOT NULL,
    category TEXT,
    tax_class TEXT NOT NULL,
    unit_price INTEGER NOT NULL CHECK (unit_price >= 0),
    price_per INTEGER NOT NULL CHECK (price_per >= 1),
    uom TEXT NOT NULL,
    open_price INTEGER NOT NULL,
    weighed INTEGER NOT NULL,
    min_age INTEGER,
    active INTEGER NOT NULL
) STRICT;

CREATE TABLE item_codes (
    code TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('gtin', 'plu')),
    sku TEXT NOT NULL REFERENCES items (sku) ON DELETE CASCADE
) STRICT;
CREATE INDEX item_codes_sku ON item_codes (sku);

CREATE TABLE promotion_sets (
    version INTEGER PRIMARY KEY,
    body BLOB NOT NULL
) STRICT;

CREATE TABLE members (
    member_id TEXT PRIMARY KEY,
    phone_hash TEXT,
    card_no TEXT,
    first_name TEXT,
    tier TEXT,
    points INTEGER NOT NULL,
    offline_redeem_limit INTEGER NOT NULL,
    stored_value INTEGER NOT NULL,
    birthday TEXT,
    recommendation TEXT,
    coupons BLOB NOT NULL
) STRICT;
CREATE INDEX members_phone ON members (phone_hash);
CREATE INDEX members_card ON members (card_no);

CREATE TABLE loyalty_pending (
    id INTEGER PRIMARY KEY,
    member_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('earn', 'redeem', 'reverse', 'return')),
    points INTEGER NOT NULL,
    stored_value INTEGER NOT NULL DEFAULT 0,
    ref TEXT NOT NULL,
    at TEXT NOT NULL
) STRICT;
CREATE INDEX loyalty_pending_member ON loyalty_pending (member_id);

CREATE TABLE used_coupons (
    code TEXT PRIMARY KEY,
    sale_id TEXT NOT NULL
) STRICT;

CREATE TABLE cashiers (
    cashier_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('cashier', 'manager')),
    pin_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
) STRICT;

CREATE TABLE journal (
    id INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    data BLOB NOT NULL
) STRICT;
CREATE INDEX journal_stream ON journal (stream, id);

CREATE TABLE sales (
    sale_id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('open', 'suspended', 'completed', 'voided')),
    receipt_no TEXT UNIQUE,
    shift_id TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    total INTEGER,
    record BLOB
) STRICT;
CREATE INDEX sales_status ON sales (status);

CREATE TABLE refunded_lines (
    sale_id TEXT NOT NULL,
    line_no INTEGER NOT NULL,
    qty INTEGER NOT NULL,
    PRIMARY KEY (sale_id, line_no)
) STRICT;

CREATE TABLE shifts (
    shift_id TEXT PRIMARY KEY,
    cashier_id TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    z_no INTEGER UNIQUE,
    record BLOB
) STRICT;

CREATE TABLE stock (
    sku TEXT PRIMARY KEY,
    qty INTEGER NOT NULL
) STRICT;

CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE effects (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    detail TEXT,
    created_at TEXT NOT NULL,
    done_at TEXT,
    UNIQUE (kind, ref)
) STRICT;
"""

V2 = """
-- The receipt printer's queue: a job is rendered once, when its effect is taken, and printed
-- until it succeeds (paper out, cover open and a pulled cable leave it queued, with the reason).
CREATE TABLE print_jobs (
    id INTEGER PRIMARY KEY,
    ref TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    document BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'printing', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    done_at TEXT
) STRICT;
CREATE INDEX print_jobs_state ON print_jobs (state, id);
"""

V3 = """
-- HQ's time of the ack that covered a loyalty movement: a member cache issued after it already
-- includes the movement, so the pending row can go (edge.store.outbox.clear_confirmed_loyalty).
ALTER TABLE loyalty_pending ADD COLUMN acked_at TEXT;
"""

MIGRATIONS: tuple[str, ...] = (V1, V2, V3)
