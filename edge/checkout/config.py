"""What the checkout needs to know about its till, its store and HQ's rules.

Identity (tenant, store, device) comes from the appliance's TOML file; the rest is HQ's to set
through the signed ``device_config`` document, with the defaults below until one arrives.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from protocol.barcodes import LAYOUT_SETS, VariableMeasureLayout
from protocol.messages.downlink import DeviceConfig
from protocol.money import Currency, Rounding, currency


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
    barcode_layouts: tuple[str, ...] = ()
    """Names of ``protocol.barcodes.LAYOUT_SETS`` the store's label scales print (``gs1-se``)."""

    @property
    def money(self) -> Currency:
        """The store's currency with its minor-unit exponent."""
        return Currency(self.currency, self.currency_exponent)

    @property
    def layouts(self) -> tuple[VariableMeasureLayout, ...]:
        """The variable-measure layouts to try on a scan, in the configured order."""
        out: list[VariableMeasureLayout] = []
        for name in self.barcode_layouts:
            out.extend(LAYOUT_SETS[name])
        return tuple(out)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def receipt_stem(self) -> str:
        """Prefix of receipt numbers: unique per till, only characters receipts may carry."""
        stem = self.receipt_prefix or f"{self.store}-{self.device}"
        return re.sub(r"[^A-Za-z0-9-]", "", stem)[:24] or "T"


def with_device_config(config: TillConfig, doc: DeviceConfig) -> TillConfig:
    """``config`` with everything HQ's ``device_config`` document sets.

    Identity and local paths stay the appliance's; rules (rounding, tax mode, loyalty, keys)
    become HQ's, so every till of a store behaves the same.
    """
    rules = doc.loyalty
    key = doc.phone_hash_keys[0] if doc.phone_hash_keys else None
    rounding = doc.cash_rounding
    return replace(
        config,
        currency=doc.currency,
        currency_exponent=currency(doc.currency).exponent,
        timezone=doc.timezone,
        country_code=doc.country_code,
        tax_per_receipt=doc.tax_rounding == "per_receipt",
        cash_coin=rounding.coin if rounding else 1,
        cash_rounding=Rounding[rounding.mode.upper()] if rounding else Rounding.HALF_UP,
        feedback_enabled=doc.feedback_enabled,
        store_name=doc.store_name,
        loyalty=LoyaltyConfig(
            points_per_unit=rules.points_per_unit,
            category_multipliers_pct=dict(rules.category_multipliers_pct),
            tier_multipliers_pct={t.id: t.multiplier_pct for t in rules.tiers},
            redeem_minor_per_point=rules.redeem_minor_per_point,
            default_offline_redeem_limit=rules.default_offline_redeem_limit,
        ),
        phone_hash_key_id=key.key_id if key else config.phone_hash_key_id,
        phone_hash_key=_b64url(key.key) if key else config.phone_hash_key,
    )


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
