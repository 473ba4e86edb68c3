"""Downlink document bodies (HQ -> till), schema version 1 of each.

Each travels as the ``body`` of a signed :class:`~protocol.messages.base.Document`. Large
documents (price book, member cache) come as a full ``snapshot`` or as a ``delta`` against
``base_version``; a till applies a delta only on top of exactly that version and otherwise waits
for (or asks for) a snapshot.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocol.messages.base import (
    BasisPoints,
    Body,
    CurrencyCode,
    Gtin,
    Id,
    KeyId,
    Name,
    NonNegAmount,
    NonNegPoints,
    RatePpm,
    Registry,
    Seq,
    ShortText,
    Sku,
    Timestamp,
    Version,
    Wire,
    check_snapshot_or_delta,
    exact,
)
from protocol.messages.promotions import PromotionSet
from protocol.messages.uplink import UnitOfMeasure

DOWNLINK = Registry("downlink")
"""Every downlink document kind the current code understands."""

Plu = Annotated[
    str, msgspec.Meta(pattern=exact(r"[0-9]{1,6}"), description="Keyed-in price look-up")
]
Sha256Hex = Annotated[str, msgspec.Meta(pattern=exact(r"[0-9a-f]{64}"))]


class TaxClass(Wire, frozen=True):
    """A tax class and its rate; items refer to it by ``id``."""

    id: Id
    name: Name
    rate_ppm: RatePpm


class Item(Wire, frozen=True):
    """A sellable item with its book price."""

    sku: Sku
    name: Name
    short_name: Annotated[str, msgspec.Meta(max_length=20)]
    """What fits on the 20-character customer display."""
    gtins: Annotated[list[Gtin], msgspec.Meta(max_length=50)]
    plu: Plu | None
    category: Id | None
    tax_class: Id
    unit_price: NonNegAmount
    price_per: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    uom: UnitOfMeasure
    open_price: bool
    weighed: bool
    min_age: Annotated[int, msgspec.Meta(ge=0, le=99)] | None
    active: bool


class PriceBook(Body, frozen=True):
    """The catalog and book prices of a scope."""

    TYPE = "price_book"
    VERSION = 1

    mode: Literal["snapshot", "delta"]
    base_version: Version | None
    currency: CurrencyCode
    prices_include_tax: bool
    tax_classes: Annotated[list[TaxClass], msgspec.Meta(max_length=50)]
    items: Annotated[list[Item], msgspec.Meta(max_length=200_000)]
    removed: Annotated[list[Sku], msgspec.Meta(max_length=200_000)]

    def __post_init__(self) -> None:
        check_snapshot_or_delta(self.mode, self.base_version, self.removed)


class MemberCoupon(Wire, frozen=True):
    """A coupon issued to a member (single-use codes, birthday coupons)."""

    code: ShortText
    promotion_id: Id
    expires_at: Timestamp | None
    single_use: bool


class CachedMember(Wire, frozen=True):
    """What a till needs to recognise a member offline.

    The phone number is present only as ``phone_hash``: HMAC-SHA256 under the key ``hash_key_id``
    of the E.164 number, hex. A till can match a number the customer keys in but cannot list them.
    """

    member_id: Id
    phone_hash: Sha256Hex | None
    card_no: Annotated[str, msgspec.Meta(pattern=exact(r"[0-9A-Za-z]{4,32}"))] | None
    first_name: Annotated[str, msgspec.Meta(max_length=60)] | None
    tier: Id | None
    points: NonNegPoints
    offline_redeem_limit: NonNegPoints
    stored_value: NonNegAmount
    birthday: (
        Annotated[str, msgspec.Meta(pattern=exact(r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"))]
        | None
    )
    recommendation: Annotated[str, msgspec.Meta(max_length=120)] | None
    coupons: Annotated[list[MemberCoupon], msgspec.Meta(max_length=50)]


class MemberCache(Body, frozen=True):
    """The store's slice of the member base, with balances as HQ's ledger has them."""

    TYPE = "member_cache"
    VERSION = 1

    mode: Literal["snapshot", "delta"]
    base_version: Version | None
    hash_key_id: KeyId
    members: Annotated[list[CachedMember], msgspec.Meta(max_length=500_000)]
    removed: Annotated[list[Id], msgspec.Meta(max_length=500_000)]

    def __post_init__(self) -> None:
        check_snapshot_or_delta(self.mode, self.base_version, self.removed)


class TrustedKey(Wire, frozen=True):
    """An HQ public key the till accepts signatures from (base64url, 32-byte Ed25519)."""

    key_id: KeyId
    public_key: Annotated[str, msgspec.Meta(pattern=exact(r"[A-Za-z0-9_-]{43}"))]


class HashKey(Wire, frozen=True):
    """A secret key (base64url, 32 bytes) for hashing members' phone numbers (HMAC-SHA256)."""

    key_id: KeyId
    key: Annotated[str, msgspec.Meta(pattern=exact(r"[A-Za-z0-9_-]{43}"))]


class CashRounding(Wire, frozen=True):
    """Cash tenders are rounded to a multiple of the smallest coin in circulation."""

    coin: Annotated[int, msgspec.Meta(ge=1, le=100_000)]
    mode: Literal["half_up", "down", "up", "half_even"]


class Tier(Wire, frozen=True):
    """A loyalty tier reached by rolling spend, with its earn multiplier."""

    id: Id
    name: Name
    min_rolling_spend: NonNegAmount
    multiplier_pct: Annotated[int, msgspec.Meta(ge=0, le=10_000)]


class LoyaltyRules(Wire, frozen=True):
    """How points are earned and redeemed."""

    points_per_unit: Annotated[int, msgspec.Meta(ge=0, le=10_000)]
    """Points earned per whole currency unit of net spend (before multipliers)."""
    category_multipliers_pct: Annotated[
        dict[Id, Annotated[int, msgspec.Meta(ge=0, le=10_000)]], msgspec.Meta(max_length=500)
    ]
    redeem_minor_per_point: Annotated[int, msgspec.Meta(ge=0, le=10_000)]
    tiers: Annotated[list[Tier], msgspec.Meta(max_length=20)]
    rolling_window_days: Annotated[int, msgspec.Meta(ge=1, le=3660)]
    default_offline_redeem_limit: NonNegPoints


class DeviceConfig(Body, frozen=True):
    """Settings of a till that HQ owns (receipt header, rounding, loyalty rules, trusted keys)."""

    TYPE = "device_config"
    VERSION = 1

    store_name: Name
    store_address: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=48)]], msgspec.Meta(max_length=6)
    ]
    tax_id: ShortText | None
    receipt_footer: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=48)]], msgspec.Meta(max_length=10)
    ]
    currency: CurrencyCode
    timezone: Annotated[str, msgspec.Meta(pattern=exact(r"[A-Za-z0-9_+/-]{1,64}"))]
    tax_rounding: Literal["per_line", "per_receipt"]
    cash_rounding: CashRounding | None
    feedback_enabled: bool
    max_discount_bp_without_manager: BasisPoints
    loyalty: LoyaltyRules
    trusted_keys: Annotated[list[TrustedKey], msgspec.Meta(min_length=1, max_length=8)]
    phone_hash_keys: Annotated[list[HashKey], msgspec.Meta(max_length=4)]
    country_code: Annotated[str, msgspec.Meta(pattern=exact(r"[1-9][0-9]{0,2}"))]
    """The store's telephone calling code, for phone numbers keyed in without one."""
    status_interval_s: Annotated[int, msgspec.Meta(ge=10, le=86_400)]


class ResendFrom(Wire, tag="resend_from", tag_field="name", frozen=True):
    """Publish the uplink events from ``from_seq`` (through ``to_seq``) again."""

    from_seq: Seq
    to_seq: Seq | None


class PrintTestPage(Wire, tag="print_test_page", tag_field="name", frozen=True):
    """Print the printer's test page (a technician checking a store remotely)."""


class RotateCredentials(Wire, tag="rotate_credentials", tag_field="name", frozen=True):
    """Make a new device key and ask the fleet for a new certificate."""


class SoftwareUpdate(Wire, tag="software_update", tag_field="name", frozen=True):
    """Install the named software version from ``url``, verified against ``sha256``."""

    version: Annotated[str, msgspec.Meta(max_length=64)]
    url: Annotated[str, msgspec.Meta(max_length=500)]
    sha256: Sha256Hex


class Command(Body, frozen=True):
    """A one-off instruction to a till; executed once per version."""

    TYPE = "command"
    VERSION = 1

    command: ResendFrom | PrintTestPage | RotateCredentials | SoftwareUpdate


class Ack(Body, frozen=True):
    """HQ has durably stored every event of the device up to and including ``up_to_seq``.

    Only this (signed) application-level acknowledgement lets a till delete outbox rows: a
    broker's PUBACK says nothing about HQ's database, and a forged ack would lose sales.
    """

    TYPE = "ack"
    VERSION = 1

    up_to_seq: Seq


for _body in (PriceBook, PromotionSet, MemberCache, DeviceConfig, Command, Ack):
    DOWNLINK.register(_body)

MAX_DOCUMENT_BYTES: dict[str, int] = {
    "price_book": 32 * 1024 * 1024,
    "member_cache": 32 * 1024 * 1024,
    "promotion_set": 8 * 1024 * 1024,
    "device_config": 256 * 1024,
    "command": 16 * 1024,
    "ack": 4 * 1024,
}
"""Largest signed document accepted per kind (checked once the kind is known)."""

__all__ = [
    "DOWNLINK",
    "MAX_DOCUMENT_BYTES",
    "Ack",
    "CachedMember",
    "CashRounding",
    "Command",
    "DeviceConfig",
    "HashKey",
    "Item",
    "LoyaltyRules",
    "MemberCache",
    "MemberCoupon",
    "PriceBook",
    "PrintTestPage",
    "PromotionSet",
    "ResendFrom",
    "RotateCredentials",
    "SoftwareUpdate",
    "TaxClass",
    "Tier",
    "TrustedKey",
]
