"""What the checkout needs to know about its till, its store and HQ's rules.

Identity (tenant, store, device) comes from the appliance's TOML file; the rest is HQ's to set
through the signed ``device_config`` document, with the defaults below until one arrives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from protocol.money import Currency, Rounding


@dataclass(frozen=True, slots=True)
class LoyaltyConfig:
    """Earn and redeem rules (see ``edge.checkout.loyalty``)."""

    points_per_unit: int = 1
    category_multipliers_pct: dict[str, int] = field(default_factory=dict)
    tier_multipliers_pct: dict[str, int] = field(default_factory=dict)
    redeem_minor_per_point: int = 1
    default_offline_redeem_limit: int = 0


@dataclass(frozen=True, slots=True)
class TillConfig:
    tenant: str
    store: str
    device: str
    currency: str = "EUR"
    currency_exponent: int = 2
    timezone: str = "UTC"
    country_code: str = "49"
    receipt_prefix: str = ""
    tax_per_receipt: bool = False
    cash_coin: int = 1
    cash_rounding: Rounding = Rounding.HALF_UP
    feedback_enabled: bool = False
    loyalty: LoyaltyConfig = field(default_factory=LoyaltyConfig)
    phone_hash_key_id: str = "k0"
    phone_hash_key: bytes = b""
    software_version: str = "0.1.0"
    store_name: str = "Welcome"

    @property
    def money(self) -> Currency:
        """The store's currency with its minor-unit exponent."""
        return Currency(self.currency, self.currency_exponent)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def receipt_stem(self) -> str:
        """Prefix of receipt numbers: unique per till, only characters receipts may carry."""
        stem = self.receipt_prefix or f"{self.store}-{self.device}"
        return re.sub(r"[^A-Za-z0-9-]", "", stem)[:24] or "T"
