"""Refunds by receipt number: whole receipts or some lines, reversing stock and points.

Amounts, tax and points of a line are refunded in telescoping shares (see
``edge.checkout.loyalty.share``), so refunding a line in several visits returns exactly what the
line cost, its tax and the points it earned — never a cent or a point more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from edge.checkout import commands as cmd
from edge.checkout import events as ev
from edge.checkout.batch import Batch, Refused
from edge.checkout.loyalty import share
from edge.store import journal
from edge.store.projections import move_stock
from protocol.messages.uplink import RefundCompleted as RefundRecord
from protocol.messages.uplink import RefundLine, SaleCompleted, TaxLine
from protocol.messages.uplink import Tender as TenderRecord
from protocol.money import Rounding, allocate, round_cash

if TYPE_CHECKING:
    import sqlite3

    from edge.checkout.till import Till


def refund(till: Till, c: cmd.Refund) -> Batch:
    shift = till.require_shift()
    session = till.require_session()
    if till.sale is not None:
        raise Refused("finish the sale first")
    manager = till.require_manager(c.approval)
    reason = c.reason.strip()[:200]
    if not reason:
        raise Refused("say why the refund is given")
    row = till.conn.execute(
        "SELECT sale_id, record FROM sales WHERE receipt_no = ? AND status = 'completed'",
        (c.receipt_no.strip(),),
    ).fetchone()
    if row is None:
        raise Refused(f"no completed sale with receipt {c.receipt_no.strip()[:40]}")
    sale_id = row[0]
    record = msgspec.json.decode(row[1], type=SaleCompleted)
    done = dict(
        till.conn.execute(
            "SELECT line_no, qty FROM refunded_lines WHERE sale_id = ?", (sale_id,)
        ).fetchall()
    )
    wanted = _wanted(record, done, c)
    lines, rates = [], {t.tax_class: t.rate_ppm for t in record.taxes}
    money_before = money_after = 0
    for line in record.lines:
        before = done.get(line.line_no, 0)
        money_before += share(line.net, 0, before, line.qty)
        q = wanted.get(line.line_no, 0)
        money_after += share(line.net, 0, before + q, line.qty)
        if q == 0:
            continue
        lines.append(
            RefundLine(
                original_line_no=line.line_no,
                sku=line.sku,
                qty=q,
                amount=share(line.net, before, before + q, line.qty),
                tax=share(line.tax, before, before + q, line.qty),
                points_reversed=share(line.points_earned, before, before + q, line.qty),
            )
        )
    total = sum(line.amount for line in lines)
    points_returned = (
        share(record.points_redeemed, money_before, money_after, record.total)
        if c.to == "original" and record.total > 0
        else 0
    )
    tenders = _tenders(record, total, points_returned, c.to)
    tenders, rounding = _round_cash(tenders, till.config.cash_coin, till.config.cash_rounding)
    now = till.now()
    receipt_n, receipt_no = till.next_receipt()
    taxes_by_class: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_no = {line.line_no: line for line in record.lines}
    for refunded in lines:
        cls = by_no[refunded.original_line_no].tax_class
        taxes_by_class[cls][0] += refunded.amount
        taxes_by_class[cls][1] += refunded.tax
    incl = record.prices_include_tax
    refund_record = RefundRecord(
        refund_id=till.new_uuid(),
        receipt_no=receipt_no,
        original_sale_id=record.sale_id,
        original_receipt_no=record.receipt_no,
        completed_at=now,
        cashier_id=session.cashier_id,
        authorised_by=manager,
        shift_id=shift.shift_id,
        currency=record.currency,
        reason=reason,
        lines=lines,
        taxes=[
            TaxLine(
                tax_class=cls,
                rate_ppm=rates.get(cls, 0),
                net=amount - tax if incl else amount,
                tax=tax,
                gross=amount if incl else amount + tax,
            )
            for cls, (amount, tax) in sorted(taxes_by_class.items())
        ],
        total=total,
        rounding=rounding,
        tenders=tenders,
        member_id=record.member_id,
        points_reversed=sum(line.points_reversed for line in lines),
        points_returned=points_returned,
    )
    batch = Batch()
    batch.add("till", ev.RefundCompleted(at=now, record=refund_record))

    def project(conn: sqlite3.Connection) -> None:
        journal.claim_counter(conn, "receipt", receipt_n)
        for line in lines:
            conn.execute(
                "INSERT INTO refunded_lines (sale_id, line_no, qty) VALUES (?, ?, ?) "
                "ON CONFLICT (sale_id, line_no) DO UPDATE SET qty = qty + excluded.qty",
                (sale_id, line.original_line_no, line.qty),
            )
            move_stock(conn, line.sku, line.qty)
        if record.member_id is not None:
            for kind, pts in (
                ("reverse", -refund_record.points_reversed),
                ("return", refund_record.points_returned),
            ):
                if pts:
                    conn.execute(
                        "INSERT INTO loyalty_pending (member_id, kind, points, ref, at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (
                            record.member_id,
                            kind,
                            pts,
                            str(refund_record.refund_id),
                            now.isoformat(),
                        ),
                    )

    batch.write(project)
    batch.uplink.append(refund_record)
    batch.effects.append(("receipt", refund_record.receipt_no))
    if any(t.kind == "cash" for t in tenders):
        batch.effects.append(("drawer", refund_record.receipt_no))
    batch.data = {"receipt_no": refund_record.receipt_no, "total": total + rounding}
    return batch


def _wanted(record: SaleCompleted, done: dict[int, int], c: cmd.Refund) -> dict[int, int]:
    by_no = {line.line_no: line for line in record.lines}
    if not c.lines:
        wanted = {no: line.qty - done.get(no, 0) for no, line in by_no.items()}
        wanted = {no: q for no, q in wanted.items() if q > 0}
    else:
        wanted = {}
        for req in c.lines:
            line = by_no.get(req.line_no)
            if line is None:
                raise Refused(f"receipt {record.receipt_no} has no line {req.line_no}")
            left = line.qty - done.get(req.line_no, 0) - wanted.get(req.line_no, 0)
            if isinstance(req.qty, bool) or req.qty < 1 or req.qty > left:
                raise Refused(f"line {req.line_no}: at most {left} can be refunded")
            if line.uom != "ea" and req.qty != left:
                raise Refused(f"line {req.line_no} is weighed: refund it whole")
            wanted[req.line_no] = wanted.get(req.line_no, 0) + req.qty
    if not wanted:
        raise Refused("everything on this receipt has been refunded")
    return wanted


def _tenders(
    record: SaleCompleted, total: int, points_returned: int, to: str
) -> list[TenderRecord]:
    def tender(
        kind: str, amount: int, points: int | None = None, ref: str | None = None
    ) -> TenderRecord:
        return TenderRecord(
            kind=kind,  # type: ignore[arg-type]
            amount=amount,
            tendered=amount,
            change=0,
            reference=ref,
            approval_code=None,
            masked_pan=None,
            card_scheme=None,
            points=points,
        )

    if to == "cash" or not record.tenders:
        return [tender("cash", total)]
    shares = allocate(total, [max(0, t.amount) for t in record.tenders])
    merged: dict[tuple[str, str | None], int] = {}
    for original, amount in zip(record.tenders, shares, strict=True):
        key = (original.kind, original.reference)
        merged[key] = merged.get(key, 0) + amount
    out = []
    for (kind, ref), amount in merged.items():
        if amount == 0 and not (kind == "points" and points_returned):
            continue
        out.append(tender(kind, amount, points_returned if kind == "points" else None, ref))
    return out or [tender("cash", total)]


def _round_cash(
    tenders: list[TenderRecord], coin: int, mode: Rounding
) -> tuple[list[TenderRecord], int]:
    """Cash goes back in coins that exist: round the cash tender, report the difference."""
    out, rounding = [], 0
    for t in tenders:
        if t.kind != "cash":
            out.append(t)
            continue
        paid = round_cash(t.amount, coin, mode)
        rounding += paid - t.amount
        out.append(msgspec.structs.replace(t, amount=paid, tendered=paid))
    return out, rounding


HANDLERS: dict[type, Callable[..., Batch]] = {cmd.Refund: refund}
