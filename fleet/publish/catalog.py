"""HQ's catalog: what the publishers read. Python functions to put it in, and a JSON file format.

The web UI and the CSV import arrive with their own issue; until then a catalog is put in with
these functions (tests, the demo) or ``fleet catalog load FILE.json``. The file is one JSON
object whose sections are all optional::

    {"stores": [{"store": "s1", "name": "Main St", "currency": "EUR",
                 "prices_include_tax": true, "timezone": "Europe/Berlin", "country_code": "49"}],
     "tax_classes": [{"id": "std", "name": "Standard", "rate_ppm": 190000}],
     "items": [<protocol.messages.downlink.Item as on the wire>],
     "store_prices": [{"store": "s1", "sku": "MILK", "unit_price": 129}],
     "promotions": [<protocol.messages.promotions.Promotion as on the wire>],
     "members": [{"member_id": "M-1", "phone": "+491511111111", ..., "opening_points": 500}],
     "settings": [{"store": "s1", "device": null, "settings": {<TillSettings>}}],
     "phone_hash_keys": [{"key_id": "p1", "key": "<32 bytes, base64url>"}]}

Everything is checked against the same bounds the wire has (a catalog that could not be
published is refused at the door, with the JSONPath of the bad field), and a file is loaded in
one transaction: all of it or none. Loading is an upsert, so the same file loaded twice changes
nothing. Money is integer minor units throughout.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from fleet.db import Connection, IntegrityError
from protocol.messages.base import (
    BasisPoints,
    CurrencyCode,
    Id,
    KeyId,
    Name,
    NonNegAmount,
    NonNegPoints,
    ShortText,
    exact,
)
from protocol.messages.downlink import CashRounding, Item, LoyaltyRules, MemberCoupon, TaxClass
from protocol.messages.promotions import Promotion
from protocol.messages.uplink import PhoneE164

TIMEZONE = Annotated[str, msgspec.Meta(pattern=exact(r"[A-Za-z0-9_+/-]{1,64}"))]
COUNTRY_CODE = Annotated[str, msgspec.Meta(pattern=exact(r"[1-9][0-9]{0,2}"))]
RECEIPT_LINE = Annotated[str, msgspec.Meta(max_length=48)]
KEY_TEXT = Annotated[str, msgspec.Meta(pattern=exact(r"[A-Za-z0-9_-]{43}"))]


class CatalogError(Exception):
    """Catalog data that cannot be stored; the message names the record and the reason."""


class _Record(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Base of the file's records: strict like the wire, but a file may leave defaults out."""


class StoreRecord(_Record, frozen=True):
    """A store: what its price book and its tills' config say about it."""

    store: Id
    name: Name
    currency: CurrencyCode
    prices_include_tax: bool
    timezone: TIMEZONE = "UTC"
    country_code: COUNTRY_CODE = "49"


class StorePrice(_Record, frozen=True):
    """A store's own book price for an item (overrides the item's ``unit_price`` there)."""

    store: Id
    sku: Annotated[str, msgspec.Meta(pattern=exact(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,39}"))]
    unit_price: NonNegAmount


class MemberRecord(_Record, frozen=True):
    """A loyalty member as HQ keeps it. The phone is E.164 in clear here (HQ's CRM needs it);
    tills only ever get its keyed hash. The balance is not a field: it is the loyalty ledger's
    sum, and ``opening_points`` books a one-off adjustment into that ledger."""

    member_id: Id
    phone: PhoneE164 | None = None
    card_no: Annotated[str, msgspec.Meta(pattern=exact(r"[0-9A-Za-z]{4,32}"))] | None = None
    first_name: Annotated[str, msgspec.Meta(max_length=60)] | None = None
    tier: Id | None = None
    birthday: (
        Annotated[str, msgspec.Meta(pattern=exact(r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"))]
        | None
    ) = None
    recommendation: Annotated[str, msgspec.Meta(max_length=120)] | None = None
    home_store: Id | None = None
    """The store whose member cache always holds this member; ``None``: every store's."""
    offline_redeem_limit: NonNegPoints | None = None
    """``None``: the store's ``loyalty.default_offline_redeem_limit``."""
    stored_value: NonNegAmount = 0
    active: bool = True
    coupons: Annotated[list[MemberCoupon], msgspec.Meta(max_length=50)] = []
    opening_points: Annotated[int, msgspec.Meta(ge=-(10**12), le=10**12)] = 0


class TillSettings(_Record, frozen=True):
    """The rules HQ sets for a store's tills: ``device_config`` minus what HQ fills in itself
    (store name, currency, time zone and calling code from the store; keys from the key dir and
    ``phone_hash_keys``)."""

    loyalty: LoyaltyRules
    store_address: Annotated[list[RECEIPT_LINE], msgspec.Meta(max_length=6)] = []
    tax_id: ShortText | None = None
    receipt_footer: Annotated[list[RECEIPT_LINE], msgspec.Meta(max_length=10)] = []
    tax_rounding: Literal["per_line", "per_receipt"] = "per_line"
    cash_rounding: CashRounding | None = None
    feedback_enabled: bool = False
    max_discount_bp_without_manager: BasisPoints = 0
    status_interval_s: Annotated[int, msgspec.Meta(ge=10, le=86_400)] = 60


class SettingsRecord(_Record, frozen=True):
    """Settings for every till of a store (``device`` null) or for one till."""

    store: Id
    settings: TillSettings
    device: Id | None = None


class PhoneHashKeyRecord(_Record, frozen=True):
    key_id: KeyId
    key: KEY_TEXT


class Catalog(_Record, frozen=True):
    """The file ``fleet catalog load`` reads."""

    stores: list[StoreRecord] = []
    tax_classes: list[TaxClass] = []
    items: list[Item] = []
    store_prices: list[StorePrice] = []
    promotions: list[Promotion] = []
    members: list[MemberRecord] = []
    settings: list[SettingsRecord] = []
    phone_hash_keys: list[PhoneHashKeyRecord] = []


@dataclass(frozen=True, slots=True)
class PhoneHashKey:
    key_id: str
    secret: bytes


R = TypeVar("R")


def read_catalog(path: Path) -> Catalog:
    """Read and strictly check a catalog file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return msgspec.json.decode(data, type=Catalog)
    except msgspec.ValidationError as exc:
        raise CatalogError(f"{path}: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path} is not valid JSON: {exc}") from None


def load_catalog(
    conn: Connection, tenant: str, catalog: Catalog, *, now: dt.datetime
) -> dict[str, int]:
    """Put every record of ``catalog`` in, in one transaction; returns counts per section."""
    with conn.transaction():
        for key in catalog.phone_hash_keys:
            add_phone_hash_key(conn, tenant, key.key_id, _b64(key.key), now=now, checked=True)
        for store in catalog.stores:
            put_store(conn, tenant, store, now=now, checked=True)
        for tax in catalog.tax_classes:
            put_tax_class(conn, tenant, tax, now=now, checked=True)
        for item in catalog.items:
            put_item(conn, tenant, item, now=now, checked=True)
        for price in catalog.store_prices:
            put_store_price(conn, tenant, price, now=now, checked=True)
        for promotion in catalog.promotions:
            put_promotion(conn, tenant, promotion, now=now, checked=True)
        for member in catalog.members:
            put_member(conn, tenant, member, now=now, checked=True)
        for record in catalog.settings:
            put_till_settings(
                conn, tenant, record.store, record.device, record.settings, now=now, checked=True
            )
    return {
        name: len(getattr(catalog, name))
        for name in Catalog.__struct_fields__
        if getattr(catalog, name)
    }


# -- one record at a time ------------------------------------------------------------------------
# Each function checks its record against the wire's bounds (unless the caller already did, as a
# strictly decoded file has) and is atomic: its own transaction, or a savepoint in the caller's.


def put_store(
    conn: Connection, tenant: str, store: StoreRecord, *, now: dt.datetime, checked: bool = False
) -> None:
    store = store if checked else _check(store)
    with _atomic(conn, f"store {store.store}"):
        conn.execute(
            "INSERT INTO stores (tenant, store, name, currency, prices_include_tax, timezone,"
            " country_code, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (tenant, store) DO UPDATE SET name = excluded.name,"
            " currency = excluded.currency, prices_include_tax = excluded.prices_include_tax,"
            " timezone = excluded.timezone, country_code = excluded.country_code,"
            " updated_at = excluded.updated_at",
            [
                tenant,
                store.store,
                store.name,
                store.currency,
                store.prices_include_tax,
                store.timezone,
                store.country_code,
                now,
            ],
        )


def put_tax_class(
    conn: Connection, tenant: str, tax: TaxClass, *, now: dt.datetime, checked: bool = False
) -> None:
    tax = tax if checked else _check(tax)
    with _atomic(conn, f"tax class {tax.id}"):
        conn.execute(
            "INSERT INTO tax_classes (tenant, id, name, rate_ppm, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, id) DO UPDATE SET"
            " name = excluded.name, rate_ppm = excluded.rate_ppm, updated_at = excluded.updated_at",
            [tenant, tax.id, tax.name, tax.rate_ppm, now],
        )


def put_item(
    conn: Connection, tenant: str, item: Item, *, now: dt.datetime, checked: bool = False
) -> None:
    """Create or replace an item with its GTINs; a GTIN or PLU of another item is refused."""
    item = item if checked else _check(item)
    with _atomic(conn, f"item {item.sku}"):
        for gtin in item.gtins:
            owner = conn.scalar(
                "SELECT sku FROM item_gtins WHERE tenant = ? AND gtin = ?", [tenant, gtin]
            )
            if owner is not None and owner != item.sku:
                raise CatalogError(f"item {item.sku}: GTIN {gtin} belongs to item {owner}")
        if item.plu is not None:
            owner = conn.scalar(
                "SELECT sku FROM items WHERE tenant = ? AND plu = ?", [tenant, item.plu]
            )
            if owner is not None and owner != item.sku:
                raise CatalogError(f"item {item.sku}: PLU {item.plu} belongs to item {owner}")
        conn.execute(
            "INSERT INTO items (tenant, sku, name, short_name, plu, category, tax_class,"
            " unit_price, price_per, uom, open_price, weighed, min_age, active, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (tenant, sku) DO UPDATE SET name = excluded.name,"
            " short_name = excluded.short_name, plu = excluded.plu, category = excluded.category,"
            " tax_class = excluded.tax_class, unit_price = excluded.unit_price,"
            " price_per = excluded.price_per, uom = excluded.uom,"
            " open_price = excluded.open_price, weighed = excluded.weighed,"
            " min_age = excluded.min_age, active = excluded.active,"
            " updated_at = excluded.updated_at",
            [
                tenant,
                item.sku,
                item.name,
                item.short_name,
                item.plu,
                item.category,
                item.tax_class,
                item.unit_price,
                item.price_per,
                item.uom,
                item.open_price,
                item.weighed,
                item.min_age,
                item.active,
                now,
            ],
        )
        conn.execute("DELETE FROM item_gtins WHERE tenant = ? AND sku = ?", [tenant, item.sku])
        conn.executemany(
            "INSERT INTO item_gtins (tenant, gtin, sku) VALUES (?, ?, ?)",
            [(tenant, gtin, item.sku) for gtin in dict.fromkeys(item.gtins)],
        )


def remove_item(conn: Connection, tenant: str, sku: str) -> bool:
    """Take an item out of the catalog (its GTINs and store prices go with it).

    The next price book lists it as removed. To stop selling an item but keep it known (returns
    of earlier sales), set ``active`` false instead.
    """
    with _atomic(conn, f"item {sku}"):
        return bool(
            conn.execute(
                "DELETE FROM items WHERE tenant = ? AND sku = ? RETURNING sku", [tenant, sku]
            )
        )


def put_store_price(
    conn: Connection, tenant: str, price: StorePrice, *, now: dt.datetime, checked: bool = False
) -> None:
    price = price if checked else _check(price)
    with _atomic(conn, f"store price {price.store}/{price.sku}"):
        conn.execute(
            "INSERT INTO store_prices (tenant, store, sku, unit_price, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, store, sku) DO UPDATE SET"
            " unit_price = excluded.unit_price, updated_at = excluded.updated_at",
            [tenant, price.store, price.sku, price.unit_price, now],
        )


def put_promotion(
    conn: Connection,
    tenant: str,
    promotion: Promotion,
    *,
    now: dt.datetime,
    active: bool = True,
    checked: bool = False,
) -> int:
    """Store a promotion as its wire JSON; returns the version it is stored under.

    A till tells promotions apart by (id, version) on its receipts, so any change of content
    bumps the version (to at least one above the stored one); putting the same content again
    keeps it.
    """
    promotion = promotion if checked else _check(promotion)
    with _atomic(conn, f"promotion {promotion.id}"):
        row = conn.one(
            "SELECT version, body, active FROM promotions WHERE tenant = ? AND promotion_id = ?",
            [tenant, promotion.id],
        )
        version = promotion.version
        if row is not None:
            old = msgspec.json.decode(row["body"], type=Promotion)
            same = msgspec.structs.replace(old, version=promotion.version) == promotion
            if same and bool(row["active"]) == active:
                return int(row["version"])
            if not same:
                version = max(promotion.version, int(row["version"]) + 1)
            else:
                version = int(row["version"])
        body = msgspec.json.encode(msgspec.structs.replace(promotion, version=version)).decode()
        conn.execute(
            "INSERT INTO promotions (tenant, promotion_id, version, body, active, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, promotion_id) DO UPDATE SET"
            " version = excluded.version, body = excluded.body, active = excluded.active,"
            " updated_at = excluded.updated_at",
            [tenant, promotion.id, version, body, active, now],
        )
        return version


def put_member(
    conn: Connection,
    tenant: str,
    member: MemberRecord,
    *,
    now: dt.datetime,
    checked: bool = False,
) -> None:
    """Create or replace a member and its coupons; ``opening_points`` is booked once."""
    member = member if checked else _check(member)
    with _atomic(conn, f"member {member.member_id}"):
        conn.execute(
            "INSERT INTO members (tenant, member_id, phone, card_no, first_name, tier, birthday,"
            " recommendation, home_store, offline_redeem_limit, stored_value, active, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (tenant, member_id) DO UPDATE SET phone = excluded.phone,"
            " card_no = excluded.card_no, first_name = excluded.first_name,"
            " tier = excluded.tier, birthday = excluded.birthday,"
            " recommendation = excluded.recommendation, home_store = excluded.home_store,"
            " offline_redeem_limit = excluded.offline_redeem_limit,"
            " stored_value = excluded.stored_value, active = excluded.active,"
            " updated_at = excluded.updated_at",
            [
                tenant,
                member.member_id,
                member.phone,
                member.card_no,
                member.first_name,
                member.tier,
                member.birthday,
                member.recommendation,
                member.home_store,
                member.offline_redeem_limit,
                member.stored_value,
                member.active,
                now,
            ],
        )
        conn.execute(
            "DELETE FROM member_coupons WHERE tenant = ? AND member_id = ? AND redeemed_at IS NULL",
            [tenant, member.member_id],
        )
        conn.executemany(
            "INSERT INTO member_coupons (tenant, member_id, code, promotion_id, expires_at,"
            " single_use, redeemed_at) VALUES (?, ?, ?, ?, ?, ?, NULL)"
            " ON CONFLICT (tenant, member_id, code) DO NOTHING",
            [
                (tenant, member.member_id, c.code, c.promotion_id, c.expires_at, c.single_use)
                for c in member.coupons
            ],
        )
        if member.opening_points:
            book_adjustment(
                conn,
                tenant,
                member.member_id,
                member.opening_points,
                ref_id=f"opening-{member.member_id}",
                now=now,
            )


def book_adjustment(
    conn: Connection, tenant: str, member_id: str, points: int, *, ref_id: str, now: dt.datetime
) -> bool:
    """Book an HQ adjustment into the loyalty ledger, once per ``ref_id``; True if booked.

    The ledger is the only source of a member's balance (ingest books earn and redeem there);
    an adjustment is how HQ moves it by hand or sets an opening balance.
    """
    return conn.insert(
        "loyalty_ledger",
        {
            "tenant": tenant,
            "member_id": member_id,
            "kind": "adjust",
            "points": points,
            "ref_kind": "adjustment",
            "ref_id": ref_id,
            "event_id": None,
            "store": None,
            "device": None,
            "booked_at": now,
        },
        on_conflict_nothing=True,
    )


def put_till_settings(
    conn: Connection,
    tenant: str,
    store: str,
    device: str | None,
    settings: TillSettings,
    *,
    now: dt.datetime,
    checked: bool = False,
) -> None:
    """Settings for every till of ``store`` (``device`` None) or for one of its tills."""
    settings = settings if checked else _check(settings)
    with _atomic(conn, f"settings {store}/{device or '*'}"):
        conn.execute(
            "INSERT INTO till_settings (tenant, store, device, settings, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, store, device) DO UPDATE SET"
            " settings = excluded.settings, updated_at = excluded.updated_at",
            [tenant, store, device or "", msgspec.json.encode(settings).decode(), now],
        )


def add_phone_hash_key(
    conn: Connection,
    tenant: str,
    key_id: str,
    secret: bytes,
    *,
    now: dt.datetime,
    checked: bool = False,
) -> None:
    """Add a key for hashing members' phone numbers; the newest unretired one is active.

    A key, once added, is never changed: member caches already on tills were hashed with it.
    """
    if not checked:
        _check_value(key_id, KeyId, "phone hash key id")
    if len(secret) != 32:
        raise CatalogError(f"phone hash key {key_id}: a key is 32 bytes, got {len(secret)}")
    text = base64.urlsafe_b64encode(secret).rstrip(b"=").decode("ascii")
    with _atomic(conn, f"phone hash key {key_id}"):
        old = conn.scalar(
            "SELECT secret FROM phone_hash_keys WHERE tenant = ? AND key_id = ?", [tenant, key_id]
        )
        if old is not None and old != text:
            raise CatalogError(f"phone hash key {key_id} exists with another secret")
        if old is None:
            conn.insert(
                "phone_hash_keys",
                {"tenant": tenant, "key_id": key_id, "secret": text, "created_at": now},
            )


def phone_hash_keys(conn: Connection, tenant: str) -> list[PhoneHashKey]:
    """The tenant's unretired phone hash keys, the active (newest) first."""
    return [
        PhoneHashKey(row["key_id"], _b64(row["secret"]))
        for row in conn.execute(
            "SELECT key_id, secret FROM phone_hash_keys WHERE tenant = ? AND retired_at IS NULL"
            " ORDER BY created_at DESC, key_id DESC",
            [tenant],
        )
    ]


def till_settings(
    conn: Connection, tenant: str, store: str, device: str | None
) -> TillSettings | None:
    """The settings for ``device`` (its own, else its store's) or for the store."""
    for who in ([device] if device else []) + [""]:
        text = conn.scalar(
            "SELECT settings FROM till_settings WHERE tenant = ? AND store = ? AND device = ?",
            [tenant, store, who],
        )
        if text is not None:
            return msgspec.json.decode(text, type=TillSettings)
    return None


def store_record(conn: Connection, tenant: str, store: str) -> StoreRecord | None:
    row = conn.one(
        "SELECT store, name, currency, prices_include_tax, timezone, country_code FROM stores"
        " WHERE tenant = ? AND store = ?",
        [tenant, store],
    )
    if row is None:
        return None
    row["prices_include_tax"] = bool(row["prices_include_tax"])
    return StoreRecord(**row)


# -- helpers -----------------------------------------------------------------------------------


def _check(record: R) -> R:
    """``record`` re-decoded as its own type: applies every bound a struct constructor skips."""
    try:
        return msgspec.json.decode(msgspec.json.encode(record), type=type(record))
    except msgspec.ValidationError as exc:
        raise CatalogError(f"{type(record).__name__}: {exc}") from None


def _check_value(value: Any, annotation: Any, what: str) -> None:
    try:
        msgspec.convert(value, type=annotation)
    except msgspec.ValidationError as exc:
        raise CatalogError(f"{what} {value!r}: {exc}") from None


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@contextlib.contextmanager
def _atomic(conn: Connection, what: str) -> Iterator[None]:
    """A transaction of its own, or a savepoint in the caller's; constraint errors name ``what``."""
    scope = conn.savepoint() if conn.in_transaction else conn.transaction()
    try:
        with scope:
            yield
    except IntegrityError as exc:
        raise CatalogError(f"{what}: {exc}") from None
