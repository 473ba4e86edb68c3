"""A seeded till for tests: catalog, promotions, members, cashiers, and a controllable clock."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.checkout import commands as cmd
from edge.checkout.auth import hash_pin
from edge.checkout.config import LoyaltyConfig, TillConfig
from edge.checkout.till import Reply, Till
from edge.store.db import open_store
from edge.store.documents import (
    add_cashier,
    apply_member_cache,
    apply_price_book,
    apply_promotion_set,
)
from protocol.messages.downlink import CachedMember, Item, MemberCache, PriceBook, TaxClass
from protocol.messages.promotions import MultiBuy, PercentOff, PromotionSet
from protocol.money import Rounding
from protocol.phones import phone_hash
from tests.factories import promo

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
HASH_KEY = b"0123456789abcdef0123456789abcdef"
MANAGER = cmd.ManagerApproval(manager_id="m1", manager_pin="9999")
MEMBER_PHONE = "+491511111111"


def item(sku: str, price: int, **kw: Any) -> Item:
    fields: dict[str, Any] = {
        "sku": sku,
        "name": kw.pop("name", f"Item {sku}"),
        "short_name": sku[:20],
        "gtins": [],
        "plu": None,
        "category": "grocery",
        "tax_class": "std",
        "unit_price": price,
        "price_per": 1,
        "uom": "ea",
        "open_price": False,
        "weighed": False,
        "min_age": None,
        "active": True,
    }
    fields.update(kw)
    return Item(**fields)


CATALOG = [
    item("MILK", 119, gtins=["04006381333931"], category="dairy", tax_class="red"),
    item("BREAD", 249, plu="17", category="bakery", tax_class="red"),
    item("COLA", 200, gtins=["05901234123457"], category="drinks"),
    item("WINE", 899, category="drinks"),
    item("APPLES", 299, price_per=1000, uom="g", weighed=True, plu="4131", category="fruit"),
    item("GIFT", 0, open_price=True, plu="999", category="misc"),
    item("OLD", 100, active=False),
    item("VODKA", 1499, min_age=18, category="spirits"),
]


PROMOTIONS = [
    promo("COLA3", MultiBuy(quantity=3, price=500), skus=("COLA",)),
    promo(
        "SAVE10",
        PercentOff(basis_points=1000),
        all_items=True,
        level="basket",
        coupon="code",
        coupon_code="SAVE10",
    ),
]

MEMBERS = [
    CachedMember(
        member_id="M-1",
        phone_hash=phone_hash(HASH_KEY, MEMBER_PHONE),
        card_no="CARD0001",
        first_name="Ada",
        tier="gold",
        points=5000,
        offline_redeem_limit=1000,
        stored_value=2000,
        birthday="11-23",
        recommendation="Try our sourdough",
        coupons=[],
    )
]


@dataclass
class Clock:
    """A clock the test moves; every call advances it a little, like a real one."""

    now: dt.datetime = T0
    step: dt.timedelta = field(default_factory=lambda: dt.timedelta(milliseconds=10))

    def __call__(self) -> dt.datetime:
        self.now += self.step
        return self.now


def config(**kw: Any) -> TillConfig:
    fields: dict[str, Any] = {
        "tenant": "acme",
        "store": "s1",
        "device": "t1",
        "receipt_prefix": "S1T1",
        "cash_coin": 5,
        "cash_rounding": Rounding.HALF_UP,
        "feedback_enabled": True,
        "phone_hash_key": HASH_KEY,
        "loyalty": LoyaltyConfig(points_per_unit=1, redeem_minor_per_point=1),
    }
    fields.update(kw)
    return TillConfig(**fields)


def seed_store(path: Path) -> None:
    """Create a store file with the test catalog, promotions, members and cashiers."""
    conn = open_store(path)
    at = T0 - dt.timedelta(days=1)
    apply_price_book(
        conn,
        PriceBook(
            mode="snapshot",
            base_version=None,
            currency="EUR",
            prices_include_tax=True,
            tax_classes=[
                TaxClass(id="std", name="Standard", rate_ppm=190_000),
                TaxClass(id="red", name="Reduced", rate_ppm=70_000),
            ],
            items=CATALOG,
            removed=[],
        ),
        version=1,
        doc_id="pb-1",
        at=at,
    )
    apply_promotion_set(
        conn,
        PromotionSet(mode="snapshot", base_version=None, promotions=PROMOTIONS, removed=[]),
        version=1,
        doc_id="ps-1",
        at=at,
    )
    apply_member_cache(
        conn,
        MemberCache(
            mode="snapshot", base_version=None, hash_key_id="k0", members=MEMBERS, removed=[]
        ),
        version=1,
        doc_id="mc-1",
        at=at,
    )
    salt = itertools.count()
    for cid, role, pin in (("c1", "cashier", "1234"), ("m1", "manager", "9999")):
        pin_hash = hash_pin(pin, next(salt).to_bytes(16, "big"), cost=1)
        add_cashier(conn, cid, cid.upper(), role, pin_hash)
    conn.close()


def open_till(path: Path, clock: Clock | None = None, **kw: Any) -> Till:
    """A till on the store at ``path`` (seeded first if the file does not exist)."""
    if not path.exists():
        seed_store(path)
    online = kw.pop("online", False)
    return Till(
        open_store(path),
        config(**kw),
        clock=clock or Clock(),
        online=lambda: online,
    )


def ok(till: Till, command: cmd.Command) -> Reply:
    """Send a command that must be accepted."""
    reply = till.handle(command)
    assert reply.ok, reply.reason
    return reply


def ready(till: Till) -> Till:
    """Log in c1 and open a shift with a 100.00 float."""
    ok(till, cmd.Login(cashier_id="c1", pin="1234"))
    ok(till, cmd.OpenShift(opening_float=10_000))
    return till
