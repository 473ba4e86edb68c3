"""X and Z reports: what a shift took, per tender kind, and what the drawer should hold.

Pure: the till service gathers the shift's facts from the store and this computes the report, so
the arithmetic is testable on its own and an X report and the Z report can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal, cast

from edge.checkout import events as ev
from protocol.messages.uplink import (
    CashMovement,
    RefundCompleted,
    SaleCompleted,
    ShiftClosed,
    TenderKind,
)
from protocol.messages.uplink import ShiftTender as ShiftTenderRecord

MovementKind = Literal["float", "drop", "pickup", "no_sale"]

TENDER_ORDER = ("cash", "card", "wallet", "stored_value", "points")


def expected_by_tender(
    opened: ev.ShiftOpened,
    movements: Iterable[ev.CashMoved],
    sales: Iterable[SaleCompleted],
    refunds: Iterable[RefundCompleted],
) -> dict[str, int]:
    """What each tender kind should total at the end of the shift (cash includes the float)."""
    expected = {"cash": opened.opening_float}
    for m in movements:
        sign = {"float": 1, "drop": -1, "pickup": -1, "no_sale": 0}[m.movement]
        expected["cash"] += sign * m.amount
    for sale in sales:
        for t in sale.tenders:
            expected[t.kind] = expected.get(t.kind, 0) + t.amount
    for refund in refunds:
        for t in refund.tenders:
            expected[t.kind] = expected.get(t.kind, 0) - t.amount
    return expected


def report(
    *,
    opened: ev.ShiftOpened,
    movements: list[ev.CashMoved],
    sales: list[SaleCompleted],
    refunds: list[RefundCompleted],
    voids: int,
    counted: Mapping[str, int] | None,
    z_no: int,
    closed_by: str,
    closed_at: datetime,
    currency: str,
) -> ShiftClosed:
    """The shift's report; ``counted=None`` makes an X report (counted taken as expected)."""
    expected = expected_by_tender(opened, movements, sales, refunds)
    kinds = sorted(set(expected) | set(counted or {}), key=_tender_rank)
    tenders = []
    for kind in kinds:
        exp = expected.get(kind, 0)
        got = exp if counted is None else counted.get(kind, 0)
        tenders.append(
            ShiftTenderRecord(
                kind=cast(TenderKind, kind), expected=exp, counted=got, over_short=got - exp
            )
        )
    return ShiftClosed(
        shift_id=opened.shift_id,
        z_no=z_no,
        cashier_id=opened.cashier_id,
        closed_by=closed_by,
        opened_at=opened.at,
        closed_at=closed_at,
        currency=currency,
        opening_float=opened.opening_float,
        movements=[
            CashMovement(
                kind=cast(MovementKind, m.movement),
                amount=m.amount,
                at=m.at,
                by=m.by,
                reason=m.reason,
            )
            for m in movements
        ],
        tenders=tenders,
        sales_count=len(sales),
        sales_total=sum(s.total + s.rounding for s in sales),
        refunds_count=len(refunds),
        refunds_total=sum(r.total for r in refunds),
        voids_count=voids,
        discount_total=sum(s.discount_total for s in sales),
        tax_total=sum(s.tax_total for s in sales) - sum(t.tax for r in refunds for t in r.taxes),
        rounding_total=sum(s.rounding for s in sales),
    )


def _tender_rank(kind: str) -> int:
    return TENDER_ORDER.index(kind) if kind in TENDER_ORDER else len(TENDER_ORDER)
