"""Taking payment and completing the sale.

Cash is rounded to the smallest coin only when cash settles what is due (a card pays to the
cent); the rounding is recorded on the tender that settled it. The tender that completes the
sale commits, in the same transaction, the completed-sale record HQ receives, the stock
movement, the loyalty entries, the single-use coupons it consumed and the effects owed (receipt,
drawer) — so a crash can neither lose the sale nor apply any of these twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

from edge.checkout import commands as cmd
from edge.checkout import events as ev
from edge.checkout.batch import Batch, Refused
from edge.checkout.handlers.inputs import MASKED_PAN, check_amount
from edge.checkout.loyalty import line_points, points_value
from edge.checkout.pricing import PricedBasket
from edge.checkout.state import Sale, apply
from edge.store import journal
from edge.store.projections import add_loyalty, move_stock
from protocol.messages.uplink import Discount, SaleLine, TaxLine
from protocol.messages.uplink import FeedbackGiven as FeedbackRecord
from protocol.messages.uplink import SaleCompleted as SaleRecord
from protocol.messages.uplink import Tender as TenderRecord
from protocol.money import round_cash

if TYPE_CHECKING:
    import sqlite3

    from edge.checkout.till import Till


def tender(till: Till, c: cmd.Tender) -> Batch:
    sale = till.require_sale()
    till.require_session()
    priced = till.price(sale)
    due = priced.total + sale.rounding - sale.paid
    if due < 0 or (due == 0 and c.kind != "cash"):
        raise Refused("nothing is due")
    event = _tender_event(till, sale, c, due)
    batch = Batch()
    batch.add(str(sale.sale_id), event)
    paid = apply(sale, event)
    if priced.total + paid.rounding - paid.paid == 0:
        _complete(till, paid, priced, batch)
    return batch


def _tender_event(till: Till, sale: Sale, c: cmd.Tender, due: int) -> ev.TenderAdded:
    amount, tendered, change, rounding = c.amount, c.amount, 0, 0
    points: int | None = None
    if c.kind == "cash":
        check_amount(c.amount, "the cash handed over", allow_zero=True)
        cash_due = round_cash(due, till.config.cash_coin, till.config.cash_rounding)
        if c.amount >= cash_due:
            amount, change, rounding = cash_due, c.amount - cash_due, cash_due - due
        elif c.amount == 0:
            raise Refused(f"{cash_due} is due in cash")
    else:
        _check_non_cash(till, sale, c, due)
        if c.kind == "points":
            points = c.points
            amount = tendered = points_value(c.points or 0, till.config.loyalty)
    return ev.TenderAdded(
        at=till.now(),
        kind=c.kind,
        amount=amount,
        tendered=tendered,
        change=change,
        rounding=rounding,
        reference=_text(c.reference, 200),
        approval_code=_text(c.approval_code, 32),
        masked_pan=c.masked_pan if c.kind == "card" else None,
        card_scheme=_text(c.card_scheme, 32),
        points=points,
    )


def _check_non_cash(till: Till, sale: Sale, c: cmd.Tender, due: int) -> None:
    if c.kind in ("card", "wallet", "stored_value"):
        check_amount(c.amount, f"the {c.kind.replace('_', ' ')} amount")
        if c.amount > due:
            raise Refused(f"only {due} is due")
    if c.kind == "card":
        if not c.approval_code:
            raise Refused("the card terminal's approval code is missing")
        if c.masked_pan is None or not _masked_pan_ok(c.masked_pan):
            raise Refused("the card number must be masked (at most first 6 and last 4 digits)")
    elif c.kind == "wallet":
        if not c.reference:
            raise Refused("the wallet payment's reference is missing")
    elif c.kind == "stored_value":
        member = sale.member
        if member is None:
            raise Refused("attach the member whose balance pays")
        used = sum(t.amount for t in sale.tenders if t.kind == "stored_value")
        if c.amount > member.stored_value - used:
            raise Refused(f"the balance is only {member.stored_value - used}")
    elif c.kind == "points":
        _check_points(till, sale, c, due)


def _check_points(till: Till, sale: Sale, c: cmd.Tender, due: int) -> None:
    member = sale.member
    if member is None:
        raise Refused("attach the member whose points pay")
    pts = c.points
    if pts is None or isinstance(pts, bool) or pts <= 0:
        raise Refused("say how many points to redeem")
    rate = till.config.loyalty.redeem_minor_per_point
    if rate <= 0:
        raise Refused("points cannot be redeemed at this store")
    if points_value(pts, till.config.loyalty) > due:
        raise Refused(f"{pts} points are worth more than the {due} due")
    used = sum(t.points or 0 for t in sale.tenders if t.kind == "points")
    if pts > member.points - used:
        raise Refused(f"the member has only {member.points - used} points")
    if not till.online() and pts > member.redeemable_offline - used:
        raise Refused(
            f"offline: at most {max(0, member.redeemable_offline - used)} points can be redeemed"
        )


def _masked_pan_ok(pan: str) -> bool:
    return MASKED_PAN.fullmatch(pan) is not None


def _text(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()[:limit]
    return value or None


def _complete(till: Till, sale: Sale, priced: PricedBasket, batch: Batch) -> None:
    now = till.now()
    receipt_n, receipt_no = till.next_receipt()
    record = build_record(till, sale, priced, receipt_no, now)
    batch.add(str(sale.sale_id), ev.SaleCompleted(at=now, record=record))
    data = msgspec.json.encode(record)
    sale_id = str(sale.sale_id)

    def project(conn: sqlite3.Connection) -> None:
        journal.claim_counter(conn, "receipt", receipt_n)
        conn.execute(
            "UPDATE sales SET status = 'completed', receipt_no = ?, closed_at = ?, total = ?, "
            "record = ? WHERE sale_id = ?",
            (receipt_no, now.isoformat(), record.total, data, sale_id),
        )
        for line in record.lines:
            move_stock(conn, line.sku, -line.qty)
        if record.member_id is not None:
            stored = sum(t.amount for t in record.tenders if t.kind == "stored_value")
            for kind, pts, sv in (
                ("earn", record.points_earned, 0),
                ("redeem", -record.points_redeemed, -stored),
            ):
                if pts or sv:
                    add_loyalty(
                        conn,
                        record.member_id,
                        kind,
                        points=pts,
                        stored_value=sv,
                        ref=sale_id,
                        at=now,
                    )
        for code, promotion_id in sale.coupons:
            if promotion_id is not None and code in priced.coupons_used:
                conn.execute(
                    "INSERT INTO used_coupons (code, sale_id) VALUES (?, ?)", (code, sale_id)
                )

    batch.write(project)
    batch.uplink.append(record)
    batch.effects.append(("receipt", receipt_no))
    if any(t.kind == "cash" for t in sale.tenders):
        batch.effects.append(("drawer", receipt_no))
    batch.data = {"receipt_no": receipt_no, "change": sale.tenders[-1].change}


def build_record(
    till: Till, sale: Sale, priced: PricedBasket, receipt_no: str, now: datetime
) -> SaleRecord:
    """The completed sale exactly as HQ receives it and as reprints and refunds read it."""
    cfg = till.config
    tier = sale.member.tier if sale.member else None
    by_no = {line.line_no: line for line in sale.live_lines}
    lines = []
    for p in priced.lines:
        line = by_no[p.line_no]
        pts = (
            line_points(p.net, line.category, tier, cfg.loyalty, cfg.currency_exponent)
            if sale.member
            else 0
        )
        lines.append(
            SaleLine(
                line_no=line.line_no,
                sku=line.sku,
                gtin=line.gtin,
                name=line.name,
                category=line.category,
                tax_class=line.tax_class,
                qty=line.qty,
                uom=line.uom,  # type: ignore[arg-type]
                unit_price=line.unit_price,
                price_per=line.price_per,
                price_source=line.price_source,  # type: ignore[arg-type]
                gross=p.gross,
                discounts=[
                    Discount(
                        promotion_id=d.promotion_id,
                        promotion_version=d.promotion_version,
                        name=d.name,
                        amount=d.amount,
                        coupon=d.coupon,
                    )
                    for d in p.discounts
                ],
                net=p.net,
                tax=p.tax,
                points_earned=pts,
            )
        )
    return SaleRecord(
        sale_id=sale.sale_id,
        receipt_no=receipt_no,
        opened_at=sale.opened_at,
        completed_at=now,
        cashier_id=sale.cashier_id,
        shift_id=sale.shift_id,
        currency=cfg.currency,
        prices_include_tax=sale.prices_include_tax,
        lines=lines,
        subtotal=priced.subtotal,
        discount_total=priced.discount_total,
        tax_total=priced.tax_total,
        total=priced.total,
        rounding=sale.rounding,
        taxes=[
            TaxLine(tax_class=t.tax_class, rate_ppm=t.rate_ppm, net=t.net, tax=t.tax, gross=t.gross)
            for t in priced.taxes
        ],
        tenders=[
            TenderRecord(
                kind=t.kind,  # type: ignore[arg-type]
                amount=t.amount,
                tendered=t.tendered,
                change=t.change,
                reference=t.reference,
                approval_code=t.approval_code,
                masked_pan=t.masked_pan,
                card_scheme=t.card_scheme,
                points=t.points,
            )
            for t in sale.tenders
        ],
        change=sum(t.change for t in sale.tenders),
        member_id=sale.member.member_id if sale.member else None,
        points_earned=sum(line.points_earned for line in lines),
        points_redeemed=sum(t.points or 0 for t in sale.tenders if t.kind == "points"),
        coupons=sorted(priced.coupons_used),
        price_book_version=sale.price_book_version,
        promotion_set_version=sale.promotion_set_version,
    )


def feedback(till: Till, c: cmd.Feedback) -> Batch:
    if not till.config.feedback_enabled:
        raise Refused("feedback is not collected at this store")
    sale = till.last_completed
    if sale is None or sale.record is None:
        raise Refused("there is no completed sale to rate")
    if sale.feedback is not None:
        raise Refused("this sale has been rated already")
    if isinstance(c.rating, bool) or not 1 <= c.rating <= 5:
        raise Refused("rate from 1 to 5")
    now = till.now()
    batch = Batch()
    batch.add(str(sale.sale_id), ev.FeedbackRecorded(at=now, rating=c.rating))
    batch.uplink.append(
        FeedbackRecord(
            sale_id=sale.sale_id,
            rating=c.rating,
            member_id=sale.member.member_id if sale.member else None,
            given_at=now,
        )
    )
    return batch


HANDLERS: dict[type, Callable[..., Batch]] = {cmd.Tender: tender, cmd.Feedback: feedback}
