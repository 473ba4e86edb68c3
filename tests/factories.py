"""Realistic example messages for tests and benchmarks (hand-built, internally consistent)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from protocol.ids import uuid7
from protocol.messages import Event, make_event
from protocol.messages.downlink import Item, PriceBook, TaxClass
from protocol.messages.promotions import Conditions, Promotion, Reward, Target
from protocol.messages.uplink import Discount, SaleCompleted, SaleLine, TaxLine, Tender

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def sale_completed(lines: int = 20, seq: int = 1) -> Event[SaleCompleted]:
    """A cash sale of ``lines`` lines at 19 % inclusive tax, every third line discounted."""
    sale_lines = []
    for i in range(1, lines + 1):
        gross = 100 * i + 99
        discounts = (
            [
                Discount(
                    promotion_id="p-10off",
                    promotion_version=3,
                    name="10% off dairy",
                    amount=gross // 10,
                    coupon=None,
                )
            ]
            if i % 3 == 0
            else []
        )
        net = gross - sum(d.amount for d in discounts)
        sale_lines.append(
            SaleLine(
                line_no=i,
                sku=f"SKU-{i:05d}",
                gtin=f"{4006381333931 + i * 10:014d}",
                name=f"Item number {i}",
                category="dairy",
                tax_class="std",
                qty=1,
                uom="ea",
                unit_price=gross,
                price_per=1,
                price_source="book",
                gross=gross,
                discounts=discounts,
                net=net,
                tax=net * 19 // 119,
                points_earned=net // 100,
            )
        )
    total = sum(line.net for line in sale_lines)
    tax = sum(line.tax for line in sale_lines)
    body = SaleCompleted(
        sale_id=uuid7(1_763_812_800_000 + seq, b"\x11" * 10),
        receipt_no=f"S001-T1-{seq:06d}",
        opened_at=NOW,
        completed_at=NOW + dt.timedelta(seconds=45),
        cashier_id="c-7",
        shift_id=uuid7(1_763_800_000_000, b"\x22" * 10),
        currency="EUR",
        prices_include_tax=True,
        lines=sale_lines,
        subtotal=sum(line.gross for line in sale_lines),
        discount_total=sum(line.gross - line.net for line in sale_lines),
        tax_total=tax,
        total=total,
        rounding=0,
        taxes=[TaxLine(tax_class="std", rate_ppm=190_000, net=total - tax, tax=tax, gross=total)],
        tenders=[
            Tender(
                kind="cash",
                amount=total,
                tendered=total + 1000,
                change=1000,
                reference=None,
                approval_code=None,
                masked_pan=None,
                card_scheme=None,
                points=None,
            )
        ],
        change=1000,
        member_id=None,
        points_earned=total // 100,
        points_redeemed=0,
        coupons=[],
        price_book_version=42,
        promotion_set_version=7,
    )
    return make_event(
        body,
        event_id=uuid7(1_763_812_800_000 + seq, seq.to_bytes(10, "big")),
        tenant="acme",
        store="s-001",
        device="till-1",
        seq=seq,
        occurred_at=NOW,
    )


def price_book(items: int = 1000, **overrides: Any) -> PriceBook:
    """A snapshot price book of ``items`` items in one tax class."""
    return PriceBook(
        mode=overrides.get("mode", "snapshot"),
        base_version=overrides.get("base_version"),
        currency="EUR",
        prices_include_tax=True,
        tax_classes=[TaxClass(id="std", name="Standard 19%", rate_ppm=190_000)],
        items=[
            Item(
                sku=f"SKU-{i:05d}",
                name=f"Item number {i}",
                short_name=f"Item {i}",
                gtins=[f"{4006381333931 + i * 10:014d}"],
                plu=None,
                category="grocery",
                tax_class="std",
                unit_price=199 + i,
                price_per=1,
                uom="ea",
                open_price=False,
                weighed=False,
                min_age=None,
                active=True,
            )
            for i in range(items)
        ],
        removed=[],
    )


def conditions(**overrides: Any) -> Conditions:
    """Conditions with no restriction except the ones given."""
    fields: dict[str, Any] = {
        "valid_from": None,
        "valid_to": None,
        "windows": [],
        "min_spend": None,
        "min_qty": None,
        "member_only": False,
        "tiers": [],
        "coupon": "none",
        "coupon_code": None,
        "stores": [],
    }
    fields.update(overrides)
    return Conditions(**fields)


def promo(
    pid: str,
    reward: Reward,
    *,
    skus: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    all_items: bool = False,
    level: str = "item",
    priority: int = 0,
    exclusive: bool = False,
    group: str | None = None,
    cap: int | None = None,
    version: int = 1,
    **conds: Any,
) -> Promotion:
    """A promotion as HQ would send it (every wire field given)."""
    return Promotion(
        id=pid,
        version=version,
        name=f"Promo {pid}",
        level=level,  # type: ignore[arg-type]
        target=Target(skus=list(skus), categories=list(categories), all_items=all_items),
        reward=reward,
        conditions=conditions(**conds),
        priority=priority,
        exclusive=exclusive,
        stack_group=group,
        max_applications=cap,
    )
