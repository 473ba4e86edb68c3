"""Building the documents HQ publishes, on both database dialects (no broker needed here).

What a till reports running reaches HQ the way it does in production: uplink events through the
ingest's own batch code (``fleet.ingest.apply_batch``). Documents are checked by verifying their
signature as a till does and by applying them to a real till store (``edge.store.documents``).
The broker, the till's sync client and the ingest worker are in ``test_publish_mqtt.py``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.store.db import open_store
from edge.store.documents import apply_member_cache, apply_price_book
from fleet.db import Connection, Outcome, ProjectionRound, connect, current_version
from fleet.ingest import Incoming, apply_batch
from fleet.keys import Signer, generate_key
from fleet.publish import (
    CatalogError,
    MemberRecord,
    PublishError,
    StorePrice,
    StoreRecord,
    TillSettings,
    add_phone_hash_key,
    load_catalog,
    prepare_device_config,
    prepare_member_cache,
    prepare_price_book,
    prepare_promotion_set,
    put_item,
    put_member,
    put_promotion,
    put_store,
    put_store_price,
    put_tax_class,
    put_till_settings,
    read_catalog,
    remove_item,
)
from fleet.publish.price_book import changes_since, current_items
from protocol import topics
from protocol.ids import uuid7
from protocol.messages import MAX_DOCUMENT_BYTES, Body, DocScope, Document, encode_event, make_event
from protocol.messages.downlink import (
    DeviceConfig,
    Item,
    LoyaltyRules,
    MemberCache,
    MemberCoupon,
    PriceBook,
    TaxClass,
)
from protocol.messages.promotions import AmountOff, PercentOff, PromotionSet
from protocol.messages.uplink import MemberEnrolled, PriceApplied
from protocol.phones import phone_hash
from protocol.signing import DeviceIdentity, Keyring, verify_document
from tests.edge.tillkit import HASH_KEY, item
from tests.factories import promo
from tests.fleet import samples
from tests.fleet.readback import project_all

TENANT, STORE = "acme", "s1"
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

# The publishing tables, children first. The shared PostgreSQL test database is emptied of the
# ingest tables by tests/fleet/conftest.py; these are emptied here.
PUBLISH_TABLES = (
    "member_coupons", "members", "store_prices", "item_gtins", "items", "tax_classes", "stores",
    "price_book_entries", "price_book_versions", "promotions", "phone_hash_keys",
    "till_settings", "member_cache_entries", "member_cache_marks", "published_documents",
)  # fmt: skip

SETTINGS = TillSettings(
    loyalty=LoyaltyRules(
        points_per_unit=1,
        category_multipliers_pct={},
        redeem_minor_per_point=1,
        tiers=[],
        rolling_window_days=365,
        default_offline_redeem_limit=300,
    ),
    receipt_footer=["Thank you"],
)

CATALOG = [
    item("MILK", 119, gtins=["04006381333931"], category="dairy", tax_class="red"),
    item("BREAD", 249, plu="17", category="bakery", tax_class="red"),
    item("COLA", 200, gtins=["05901234123457"], category="drinks"),
    item("WINE", 899, gtins=["04000000000017"], category="drinks"),
    item("APPLES", 299, price_per=1000, uom="g", weighed=True, plu="4131", category="fruit"),
]


def empty_publish_tables(url: str) -> str:
    """Empty the publishing tables of the database at ``url`` and return the URL."""
    with connect(url) as conn, conn.transaction():
        for table in PUBLISH_TABLES:
            conn.execute(f"DELETE FROM {table}")
    return url


@pytest.fixture
def db_url(fleet_db_url: str) -> str:
    """``fleet_db_url`` with the publishing tables empty too."""
    return empty_publish_tables(fleet_db_url)


@pytest.fixture
def db(db_url: str) -> Iterator[Connection]:
    conn = connect(db_url)
    try:
        yield conn
    finally:
        conn.close()


def seed(conn: Connection, *, store: str = STORE, items: list[Item] = CATALOG) -> None:
    """A store with tax classes, items, till settings and a phone hash key."""
    put_store(
        conn,
        TENANT,
        StoreRecord(store=store, name="Main Street", currency="EUR", prices_include_tax=True),
        now=NOW,
    )
    put_tax_class(conn, TENANT, TaxClass(id="std", name="Standard", rate_ppm=190_000), now=NOW)
    put_tax_class(conn, TENANT, TaxClass(id="red", name="Reduced", rate_ppm=70_000), now=NOW)
    for it in items:
        put_item(conn, TENANT, it, now=NOW)
    put_till_settings(conn, TENANT, store, None, SETTINGS, now=NOW)
    add_phone_hash_key(conn, TENANT, "p1", HASH_KEY, now=NOW)


def feed(
    conn: Connection,
    *bodies: Body,
    device: str = "t1",
    store: str = STORE,
    received_at: dt.datetime | None = None,
) -> None:
    """Uplink events from a till into HQ's database through the ingest's own batch code,
    numbered on from the highest seq HQ has of that till."""
    top = conn.scalar(
        "SELECT max_seq FROM devices WHERE tenant = ? AND store = ? AND device = ?",
        [TENANT, store, device],
    )
    seqs = itertools.count(int(top or 0) + 1)
    at = received_at or dt.datetime.now(dt.UTC)
    batch = []
    for body in bodies:
        seq = next(seqs)
        event = make_event(
            body,
            event_id=uuid7(int(at.timestamp() * 1000), os.urandom(10)),
            tenant=TENANT,
            store=store,
            device=device,
            seq=seq,
            occurred_at=at,
        )
        batch.append(Incoming(topics.uplink(store, device, body.TYPE), encode_event(event), at))
    stored = apply_batch(conn, batch, TENANT).outcomes[Outcome.STORED]
    assert stored == len(bodies)
    # what a till runs is in the devices row once its events are projected
    assert project_all(conn) == ProjectionRound(projected=stored)


def applied(kind: str, version: int, level: str = "store") -> PriceApplied:
    """What a till reports after applying a document."""
    return PriceApplied(
        kind=kind,
        scope_level=level,  # type: ignore[arg-type]
        version=version,
        doc_id=uuid7(1, b"\x00" * 10),
        applied_at=dt.datetime.now(dt.UTC),
    )


def verified(payload: bytes, signer: Signer, device: str = "t1") -> Document[Body]:
    """The document as a till of the store accepts it (signature, scope, validity)."""
    return verify_document(
        payload,
        keyring=Keyring({signer.key_id: signer.public_key}),
        identity=DeviceIdentity(TENANT, STORE, device),
        now=dt.datetime.now(dt.UTC),
        running_version=lambda _k, _s: None,
    )


def till_items(conn: sqlite3.Connection) -> dict[str, tuple[Any, ...]]:
    """A till store's items with their codes, comparable with HQ's ``current_items``."""
    codes: dict[str, list[str]] = {}
    for code, kind, sku in conn.execute("SELECT code, kind, sku FROM item_codes"):
        codes.setdefault(sku, []).append(f"{kind}:{code}")
    return {
        row[0]: (*row[1:], sorted(codes.get(row[0], [])))
        for row in conn.execute(
            "SELECT sku, name, unit_price, price_per, uom, tax_class, active FROM items"
        )
    }


def as_till(items: dict[str, Item]) -> dict[str, tuple[Any, ...]]:
    out: dict[str, tuple[Any, ...]] = {}
    for it in items.values():
        codes = [f"gtin:{g}" for g in it.gtins] + ([f"plu:{it.plu}"] if it.plu else [])
        out[it.sku] = (
            it.name,
            it.unit_price,
            it.price_per,
            it.uom,
            it.tax_class,
            int(it.active),
            sorted(codes),
        )
    return out


def apply_to_till(till: sqlite3.Connection, doc: Document[Body]) -> None:
    body = doc.body
    if isinstance(body, PriceBook):
        apply_price_book(till, body, version=doc.version, doc_id=str(doc.doc_id), at=NOW)
    else:
        assert isinstance(body, MemberCache)
        apply_member_cache(till, body, version=doc.version, doc_id=str(doc.doc_id), at=NOW)


# -- the catalog ---------------------------------------------------------------------------------


def test_a_catalog_file_loads_all_or_nothing_and_loading_it_again_changes_nothing(
    db: Connection, tmp_path: Path
) -> None:
    data = {
        "stores": [
            {"store": "s1", "name": "Main St", "currency": "EUR", "prices_include_tax": True}
        ],
        "tax_classes": [{"id": "std", "name": "Standard", "rate_ppm": 190_000}],
        "items": [msgspec.to_builtins(item("TEA", 350, gtins=["04000000000024"]))],
        "store_prices": [{"store": "s1", "sku": "TEA", "unit_price": 330}],
        "promotions": [msgspec.to_builtins(promo("TEA10", PercentOff(basis_points=1000)))],
        "members": [{"member_id": "M-1", "phone": "+491511111111", "opening_points": 500}],
        "settings": [{"store": "s1", "settings": msgspec.to_builtins(SETTINGS)}],
        "phone_hash_keys": [{"key_id": "p1", "key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}],
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data))
    counts = load_catalog(db, TENANT, read_catalog(path), now=NOW)
    assert counts == dict.fromkeys(data, 1)
    load_catalog(db, TENANT, read_catalog(path), now=NOW)
    assert db.scalar("SELECT count(*) AS n FROM items") == 1
    assert db.scalar("SELECT SUM(points) AS p FROM loyalty_ledger WHERE member_id = 'M-1'") == 500
    assert current_items(db, TENANT, "s1")["TEA"].unit_price == 330
    assert current_items(db, TENANT, "s2")["TEA"].unit_price == 350

    # One bad record (a tax class nobody defined) and nothing of the file lands.
    data["items"].append(msgspec.to_builtins(item("CAKE", 500, tax_class="nope")))
    data["stores"][0]["name"] = "Renamed"
    path.write_text(json.dumps(data))
    with pytest.raises(CatalogError, match="item CAKE"):
        load_catalog(db, TENANT, read_catalog(path), now=NOW)
    assert db.scalar("SELECT name FROM stores") == "Main St"
    assert db.scalar("SELECT count(*) AS n FROM items") == 1


def test_the_catalog_refuses_what_a_till_would_refuse(db: Connection, tmp_path: Path) -> None:
    seed(db)
    with pytest.raises(CatalogError, match="short_name"):
        put_item(db, TENANT, item("TEA", 100, short_name="x" * 21), now=NOW)
    with pytest.raises(CatalogError, match="GTIN 04006381333931 belongs to item MILK"):
        put_item(db, TENANT, item("TEA", 100, gtins=["04006381333931"]), now=NOW)
    with pytest.raises(CatalogError, match="PLU 17 belongs to item BREAD"):
        put_item(db, TENANT, item("TEA", 100, plu="17"), now=NOW)
    with pytest.raises(CatalogError, match="store price"):
        put_store_price(db, TENANT, StorePrice(store=STORE, sku="NONE", unit_price=1), now=NOW)
    bad = tmp_path / "bad.json"
    bad.write_text('{"store_prices": [{"store": "s1", "sku": "MILK", "unit_price": 1.19}]}')
    with pytest.raises(CatalogError, match=r"\$\.store_prices\[0\]\.unit_price"):
        read_catalog(bad)
    bad.write_text('{"itemz": []}')
    with pytest.raises(CatalogError, match="itemz"):
        read_catalog(bad)
    with pytest.raises(CatalogError, match="another secret"):
        add_phone_hash_key(db, TENANT, "p1", b"x" * 32, now=NOW)


def test_a_promotion_gets_a_new_version_when_its_content_changes(db: Connection) -> None:
    first = promo("P1", PercentOff(basis_points=500), skus=("MILK",))
    assert put_promotion(db, TENANT, first, now=NOW) == 1
    assert put_promotion(db, TENANT, first, now=NOW) == 1
    changed = msgspec.structs.replace(first, name="Milk week")
    assert put_promotion(db, TENANT, changed, now=NOW) == 2
    assert put_promotion(db, TENANT, msgspec.structs.replace(changed, version=9), now=NOW) == 2


# -- price books ---------------------------------------------------------------------------------


def test_the_first_price_book_is_a_signed_snapshot_of_the_store_book(
    db: Connection, signer: Signer
) -> None:
    seed(db)
    put_store_price(db, TENANT, StorePrice(store=STORE, sku="MILK", unit_price=109), now=NOW)
    prepared = prepare_price_book(db, signer, tenant=TENANT, store=STORE)
    assert (prepared.mode, prepared.version, prepared.entries) == ("snapshot", 1, 5)
    assert prepared.topic == "tf/v1/s1/down/price_book"
    doc = verified(prepared.payload, signer)
    assert doc.scope == DocScope(tenant=TENANT, store=STORE, device=None)
    assert doc.expires_at - doc.issued_at == dt.timedelta(days=30)
    body = doc.body
    assert isinstance(body, PriceBook)
    assert (body.currency, body.prices_include_tax) == ("EUR", True)
    assert [t.id for t in body.tax_classes] == ["red", "std"]
    assert {i.sku: i.unit_price for i in body.items}["MILK"] == 109  # the store's own price
    row = db.one("SELECT * FROM published_documents WHERE doc_id = ?", [prepared.doc_id])
    assert row is not None
    assert (row["kind"], row["scope"], row["version"], row["key_id"]) == (
        "price_book",
        "acme/s1",
        1,
        "hq-1",
    )
    assert row["size_bytes"] == len(prepared.payload)
    assert row["published_at"] is None  # prepared, not delivered


def test_a_delta_from_the_version_every_till_runs_brings_a_till_to_the_current_book(
    db: Connection, signer: Signer, tmp_path: Path
) -> None:
    seed(db)
    till = open_store(tmp_path / "till.db")
    first = verified(prepare_price_book(db, signer, tenant=TENANT, store=STORE).payload, signer)
    apply_to_till(till, first)
    feed(db, applied("price_book", first.version), device="t1")
    feed(db, applied("price_book", first.version), device="t2")

    put_item(db, TENANT, item("MILK", 129, gtins=["04006381333931"], tax_class="red"), now=NOW)
    remove_item(db, TENANT, "BREAD")
    put_item(db, TENANT, item("TEA", 350, gtins=["04000000000024"]), now=NOW)
    prepared = prepare_price_book(db, signer, tenant=TENANT, store=STORE)
    assert (prepared.mode, prepared.base_version) == ("delta", first.version)
    second = verified(prepared.payload, signer)
    body = second.body
    assert isinstance(body, PriceBook)
    assert [i.sku for i in body.items] == ["MILK", "TEA"]
    assert body.removed == ["BREAD"]
    apply_to_till(till, second)
    assert till_items(till) == as_till(current_items(db, TENANT, STORE))

    # Asked for in full, it is a snapshot whatever the tills run.
    full = prepare_price_book(db, signer, tenant=TENANT, store=STORE, full=True)
    assert (full.mode, full.note) == ("snapshot", "asked for a full snapshot")
    till.close()


def test_a_snapshot_goes_out_when_a_delta_could_meet_a_till_on_the_wrong_base(
    db: Connection, signer: Signer
) -> None:
    seed(db)
    v1 = prepare_price_book(db, signer, tenant=TENANT, store=STORE)
    assert v1.note == "no till of the store has reported yet"
    feed(db, applied("price_book", v1.version), device="t1")
    feed(db, samples.feedback(), device="t2")  # t2 is known but runs no price book
    v2 = prepare_price_book(db, signer, tenant=TENANT, store=STORE)
    assert (v2.mode, v2.note) == ("snapshot", "no price book reported by t2")

    feed(db, applied("price_book", v2.version), device="t2")
    v3 = prepare_price_book(db, signer, tenant=TENANT, store=STORE)
    assert (v3.mode, v3.note) == ("snapshot", "tills run different versions (t1 v1, t2 v2)")

    feed(db, applied("price_book", v3.version), device="t1")
    feed(db, applied("price_book", v3.version), device="t2")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    v4 = prepare_price_book(db, signer, tenant=TENANT, store=STORE, now=later)
    assert (v4.mode, v4.note) == ("snapshot", "v3 is older than 30 days")
    v5 = prepare_price_book(db, signer, tenant=TENANT, store=STORE)
    assert (v5.mode, v5.base_version) == ("delta", 3)

    # A version HQ never built for this store (a restored backup, another scope's number):
    # a snapshot, and numbered above it so the tills do not refuse it as a rollback.
    feed(db, applied("price_book", 40), device="t1")
    feed(db, applied("price_book", 40), device="t2")
    v41 = prepare_price_book(db, signer, tenant=TENANT, store=STORE)
    assert (v41.mode, v41.version) == ("snapshot", 41)
    assert v41.note == "the tills run v40, which HQ did not build for this store"


def test_an_oversized_document_is_refused_and_costs_no_version(
    db: Connection, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(db)
    monkeypatch.setitem(MAX_DOCUMENT_BYTES, "price_book", 500)
    with pytest.raises(PublishError, match=r"price_book for acme/s1 is \d+ bytes signed"):
        prepare_price_book(db, signer, tenant=TENANT, store=STORE)
    scope = DocScope(tenant=TENANT, store=STORE, device=None)
    assert current_version(db, "price_book", scope) is None
    assert db.scalar("SELECT count(*) AS n FROM published_documents") == 0
    assert db.scalar("SELECT count(*) AS n FROM price_book_entries") == 0


def test_a_store_missing_from_the_catalog_is_named(db: Connection, signer: Signer) -> None:
    with pytest.raises(PublishError, match="store s9 is not in the catalog"):
        prepare_price_book(db, signer, tenant=TENANT, store="s9")


SKUS = ("A", "B", "C", "D", "E")
EDITS = st.lists(
    st.tuples(st.sampled_from(SKUS), st.one_of(st.none(), st.integers(0, 3))),
    min_size=0,
    max_size=4,
)


@settings(max_examples=25, deadline=None)
@given(st.lists(EDITS, min_size=1, max_size=5))
def test_the_change_log_serves_a_delta_from_any_earlier_version(
    steps: list[list[tuple[str, int | None]]],
) -> None:
    """Whatever was edited in between, book(base) + delta(base) == the current book."""
    signer = Signer(Ed25519PrivateKey.generate(), "hq-1")
    with tempfile.TemporaryDirectory() as tmp, connect(f"sqlite://{tmp}/fleet.db") as conn:
        seed(conn, items=[])
        books: dict[int, dict[str, Item]] = {}
        for edits in steps:
            for sku, price in edits:
                if price is None:
                    remove_item(conn, TENANT, sku)
                else:
                    put_item(conn, TENANT, item(sku, price), now=NOW)
            version = prepare_price_book(conn, signer, tenant=TENANT, store=STORE, full=True)
            books[version.version] = current_items(conn, TENANT, STORE)
        now = books[max(books)]
        for base, book in books.items():
            changed, removed = changes_since(conn, TENANT, STORE, base)
            patched = {sku: it for sku, it in book.items() if sku not in removed}
            patched.update({it.sku: it for it in changed})
            assert patched == now
            assert not set(removed) & {it.sku for it in changed}


# -- promotions ----------------------------------------------------------------------------------


def test_the_promotion_set_holds_what_can_apply_in_the_store(
    db: Connection, signer: Signer
) -> None:
    seed(db)
    ended = NOW - dt.timedelta(days=1)
    put_promotion(db, TENANT, promo("ALL", PercentOff(basis_points=500)), now=NOW)
    put_promotion(db, TENANT, promo("HERE", AmountOff(amount=50), stores=["s1", "s3"]), now=NOW)
    put_promotion(db, TENANT, promo("THERE", AmountOff(amount=50), stores=["s2"]), now=NOW)
    put_promotion(db, TENANT, promo("ENDED", AmountOff(amount=50), valid_to=ended), now=NOW)
    put_promotion(db, TENANT, promo("OFF", AmountOff(amount=50)), now=NOW, active=False)
    prepared = prepare_promotion_set(db, signer, tenant=TENANT, store=STORE, now=NOW)
    doc = verify_document(
        prepared.payload,
        keyring=Keyring({signer.key_id: signer.public_key}),
        identity=DeviceIdentity(TENANT, STORE, "t1"),
        now=NOW,
        running_version=lambda _k, _s: None,
    )
    body = doc.body
    assert isinstance(body, PromotionSet)
    assert (body.mode, [p.id for p in body.promotions]) == ("snapshot", ["ALL", "HERE"])
    again = prepare_promotion_set(db, signer, tenant=TENANT, store=STORE, now=NOW)
    assert again.version == prepared.version + 1


# -- member caches -------------------------------------------------------------------------------


def _members(db: Connection) -> None:
    coupon = MemberCoupon(
        code="BDAY-1", promotion_id="BDAY", expires_at=NOW + dt.timedelta(days=9), single_use=True
    )
    old_coupon = MemberCoupon(
        code="OLD-1", promotion_id="BDAY", expires_at=NOW - dt.timedelta(days=9), single_use=True
    )
    for record in (
        MemberRecord(
            member_id="M-1",
            phone="+491511111111",
            first_name="Ada",
            tier="gold",
            birthday="11-23",
            home_store=STORE,
            opening_points=500,
            coupons=[coupon, old_coupon],
        ),
        MemberRecord(member_id="M-2", home_store="s2", offline_redeem_limit=50),
        MemberRecord(member_id="M-3", card_no="CARD0003", opening_points=-20),
        MemberRecord(member_id="M-4", home_store=STORE, active=False),
        MemberRecord(member_id="M-5", home_store="s2"),
    ):
        put_member(db, TENANT, record, now=NOW)


def test_a_member_cache_snapshot_hashes_phones_and_takes_balances_from_the_ledger(
    db: Connection, signer: Signer
) -> None:
    seed(db)
    _members(db)
    sale = msgspec.structs.replace(samples.sale(1, member="M-2"), points_earned=30)
    enrolled = MemberEnrolled(
        member_id="M-9",
        phone="+491512222222",
        card_no=None,
        first_name="Bo",
        consent_marketing=True,
        enrolled_at=NOW,
        cashier_id="c1",
    )
    feed(db, sale, enrolled)  # M-2 shopped here: earned 30, redeemed 200
    prepared = prepare_member_cache(db, signer, tenant=TENANT, store=STORE, now=NOW)
    body = verified(prepared.payload, signer).body
    assert isinstance(body, MemberCache)
    assert (body.mode, body.hash_key_id) == ("snapshot", "p1")
    got = {m.member_id: m for m in body.members}
    assert sorted(got) == ["M-1", "M-2", "M-3", "M-9"]  # M-4 inactive, M-5 another store's
    assert got["M-1"].phone_hash == phone_hash(HASH_KEY, "+491511111111")
    assert (got["M-1"].points, got["M-1"].offline_redeem_limit) == (500, 300)
    assert [c.code for c in got["M-1"].coupons] == ["BDAY-1"]
    assert (got["M-2"].points, got["M-2"].offline_redeem_limit) == (0, 50)  # 30 - 200, floored
    assert (got["M-3"].points, got["M-3"].card_no, got["M-3"].phone_hash) == (0, "CARD0003", None)
    assert got["M-9"].phone_hash == phone_hash(HASH_KEY, "+491512222222")
    assert b"+4915" not in prepared.payload  # no phone number in clear


def test_a_member_delta_carries_changed_members_and_those_with_unreconciled_points(
    db: Connection, signer: Signer, tmp_path: Path
) -> None:
    seed(db)
    _members(db)
    put_member(db, TENANT, MemberRecord(member_id="M-7", home_store=STORE), now=NOW)
    till = open_store(tmp_path / "till.db")
    hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    v1 = prepare_member_cache(db, signer, tenant=TENANT, store=STORE)
    apply_to_till(till, verified(v1.payload, signer))
    feed(db, applied("member_cache", v1.version), received_at=hour_ago)  # t1 seq 1
    # A sale whose points cancel out (earned 200, redeemed 200): no balance changes, but the
    # till holds pending rows for it that only a cache issued after its ack can clear.
    even = msgspec.structs.replace(samples.sale(2, member="M-3"), points_earned=200)
    feed(db, even, received_at=hour_ago)  # t1 seq 2: above what t1 had acked at v1 (nothing)
    put_member(db, TENANT, MemberRecord(member_id="M-1", phone="+491511111111"), now=NOW)
    put_member(db, TENANT, MemberRecord(member_id="M-6", home_store=STORE), now=NOW)
    put_member(db, TENANT, MemberRecord(member_id="M-7", active=False), now=NOW)

    v2 = prepare_member_cache(db, signer, tenant=TENANT, store=STORE)
    doc = verified(v2.payload, signer)
    body = doc.body
    assert isinstance(body, MemberCache)
    assert (body.mode, body.base_version) == ("delta", v1.version)
    assert [m.member_id for m in body.members] == ["M-1", "M-3", "M-6"]
    assert body.removed == ["M-7"]
    apply_to_till(till, doc)
    assert {r[0] for r in till.execute("SELECT member_id FROM members")} == {"M-1", "M-3", "M-6"}

    # The even sale is now at or below the mark v2 recorded and arrived long before v2:
    # nothing changed, nothing travels.
    feed(db, applied("member_cache", v2.version), received_at=hour_ago)
    v3 = prepare_member_cache(db, signer, tenant=TENANT, store=STORE)
    body3 = verified(v3.payload, signer).body
    assert isinstance(body3, MemberCache)
    assert (body3.mode, body3.members, body3.removed) == ("delta", [], [])

    # An even sale that arrived just before v3 (its ack may have left just after v3) is sent
    # again, even below the mark.
    feed(db, applied("member_cache", v3.version), received_at=hour_ago)
    late = msgspec.structs.replace(samples.sale(5, member="M-1"), points_earned=200)
    feed(db, late, received_at=v3.issued_at - dt.timedelta(minutes=1))
    db.execute("UPDATE member_cache_marks SET acked_seq = 99")
    v4 = prepare_member_cache(db, signer, tenant=TENANT, store=STORE)
    body4 = verified(v4.payload, signer).body
    assert isinstance(body4, MemberCache)
    assert [m.member_id for m in body4.members] == ["M-1"]

    # A till not on the last version gets a snapshot.
    v5 = prepare_member_cache(db, signer, tenant=TENANT, store=STORE)
    assert (v5.mode, v5.note) == ("snapshot", f"tills not on v{v4.version}: t1 v{v3.version}")
    till.close()


def test_a_member_cache_needs_a_phone_hash_key(db: Connection, signer: Signer) -> None:
    put_store(
        db,
        TENANT,
        StoreRecord(store=STORE, name="Main", currency="EUR", prices_include_tax=True),
        now=NOW,
    )
    with pytest.raises(PublishError, match="no phone hash key"):
        prepare_member_cache(db, signer, tenant=TENANT, store=STORE)


# -- device config and versions ------------------------------------------------------------------


def test_device_config_trusts_every_key_in_the_key_dir_and_the_active_phone_key_first(
    db: Connection, key_dir: Path, signer: Signer
) -> None:
    seed(db)
    generate_key(key_dir, "hq-2")
    add_phone_hash_key(db, TENANT, "p2", b"k" * 32, now=NOW + dt.timedelta(days=1))
    put_till_settings(
        db,
        TENANT,
        STORE,
        "t2",
        msgspec.structs.replace(SETTINGS, feedback_enabled=True),
        now=NOW,
    )
    store_doc = prepare_device_config(db, signer, key_dir, tenant=TENANT, store=STORE)
    body = verified(store_doc.payload, signer).body
    assert isinstance(body, DeviceConfig)
    assert [k.key_id for k in body.trusted_keys] == ["hq-1", "hq-2"]
    assert [k.key_id for k in body.phone_hash_keys] == ["p2", "p1"]
    assert (body.store_name, body.currency, body.feedback_enabled) == ("Main Street", "EUR", False)
    assert store_doc.topic == "tf/v1/s1/down/device_config"

    own = prepare_device_config(db, signer, key_dir, tenant=TENANT, store=STORE, device="t2")
    own_doc = verified(own.payload, signer, device="t2")
    assert own_doc.scope.device == "t2"
    assert isinstance(own_doc.body, DeviceConfig)
    assert own_doc.body.feedback_enabled is True
    assert own.topic == "tf/v1/s1/t2/down/device_config"
    assert (store_doc.version, own.version) == (1, 1)  # separate counters per scope

    stranger = Signer(Ed25519PrivateKey.generate(), "hq-9")
    with pytest.raises(PublishError, match="signing key hq-9 is not in"):
        prepare_device_config(db, stranger, key_dir, tenant=TENANT, store=STORE)
    for n in range(3, 10):
        generate_key(key_dir, f"hq-{n}")
    with pytest.raises(PublishError, match="holds 9 keys"):
        prepare_device_config(db, signer, key_dir, tenant=TENANT, store=STORE)


def test_versions_rise_per_kind_and_scope_and_never_below_what_tills_run(
    db: Connection, signer: Signer
) -> None:
    seed(db)
    seed(db, store="s2")
    feed(db, samples.device_health(price_book=41), device="t1")
    assert prepare_price_book(db, signer, tenant=TENANT, store=STORE).version == 42
    assert prepare_price_book(db, signer, tenant=TENANT, store=STORE).version == 43
    # The till reports a fleet-wide promotion set v7: a store's set starts above it.
    assert prepare_promotion_set(db, signer, tenant=TENANT, store=STORE).version == 8
    assert prepare_price_book(db, signer, tenant=TENANT, store="s2").version == 1
