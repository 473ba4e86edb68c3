"""Logging in and out, shifts, cash movements, no-sale openings, X and Z reports."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from edge.checkout import commands as cmd
from edge.checkout import events as ev
from edge.checkout import shifts
from edge.checkout.batch import Batch, Refused
from edge.checkout.handlers.inputs import check_amount
from edge.store import journal
from protocol.messages.uplink import RefundCompleted, SaleCompleted, ShiftClosed

if TYPE_CHECKING:
    import sqlite3

    from edge.checkout.till import Till

TILL = "till"


def login(till: Till, c: cmd.Login) -> Batch:
    if till.session is not None:
        raise Refused(f"{till.session.cashier_id} is logged in; log out first")
    role = till.verify_pin(c.cashier_id, c.pin)
    batch = Batch()
    batch.add(TILL, ev.CashierLoggedIn(at=till.now(), cashier_id=c.cashier_id, role=role))
    session = msgspec.json.encode({"cashier_id": c.cashier_id, "role": role}).decode()
    batch.write(lambda conn: _set(conn, "session", session))
    return batch


def logout(till: Till, _c: cmd.Logout) -> Batch:
    session = till.require_session()
    if till.sale is not None:
        raise Refused("finish, suspend or void the sale first")
    batch = Batch()
    batch.add(TILL, ev.CashierLoggedOut(at=till.now(), cashier_id=session.cashier_id))
    batch.write(lambda conn: _set(conn, "session", ""))
    return batch


def open_shift(till: Till, c: cmd.OpenShift) -> Batch:
    session = till.require_session()
    if till.shift is not None:
        raise Refused("a shift is already open")
    check_amount(c.opening_float, "the opening float", allow_zero=True)
    shift_id = till.new_uuid()
    opened = ev.ShiftOpened(
        at=till.now(),
        shift_id=shift_id,
        cashier_id=session.cashier_id,
        opening_float=c.opening_float,
    )
    batch = Batch()
    batch.add(TILL, opened)
    batch.write(
        lambda conn: conn.execute(
            "INSERT INTO shifts (shift_id, cashier_id, opened_at) VALUES (?, ?, ?)",
            (str(shift_id), session.cashier_id, opened.at.isoformat()),
        )
    )
    if c.opening_float:
        batch.effects.append(("drawer", f"float-{shift_id}"))
    return batch


def cash_movement(till: Till, c: cmd.CashMovement) -> Batch:
    shift = till.require_shift()
    if till.sale is not None:
        raise Refused("finish the sale first")
    manager = till.require_manager(c.approval)
    check_amount(c.amount, "the amount")
    if c.movement in ("drop", "pickup"):
        expected = _report(till, shift, None, 0, manager).tenders
        cash = next((t.expected for t in expected if t.kind == "cash"), 0)
        if c.amount > cash:
            raise Refused(f"the drawer should only hold {cash}")
    batch = Batch()
    moved = ev.CashMoved(
        at=till.now(),
        shift_id=shift.shift_id,
        movement=c.movement,
        amount=c.amount,
        by=till.require_session().cashier_id,
        authorised_by=manager,
        reason=c.reason,
    )
    batch.add(TILL, moved)
    batch.effects.append(("drawer", f"cash-{till.new_uuid()}"))
    return batch


def no_sale(till: Till, c: cmd.NoSale) -> Batch:
    shift = till.require_shift()
    if till.sale is not None:
        raise Refused("the drawer opens with the sale; finish it first")
    manager = till.require_manager(c.approval)
    if not c.reason.strip():
        raise Refused("say why the drawer is opened")
    batch = Batch()
    batch.add(
        TILL,
        ev.CashMoved(
            at=till.now(),
            shift_id=shift.shift_id,
            movement="no_sale",
            amount=0,
            by=till.require_session().cashier_id,
            authorised_by=manager,
            reason=c.reason.strip()[:200],
        ),
    )
    batch.effects.append(("drawer", f"nosale-{till.new_uuid()}"))
    return batch


def x_report(till: Till, _c: cmd.XReport) -> Batch:
    shift = till.require_shift()
    record = _report(till, shift, None, 0, till.require_session().cashier_id)
    batch = Batch()
    batch.add(TILL, ev.XReportTaken(at=till.now(), record=record))
    batch.effects.append(("report", f"x-{till.new_uuid()}"))
    batch.data = {"report": msgspec.to_builtins(record)}
    return batch


def close_shift(till: Till, c: cmd.CloseShift) -> Batch:
    shift = till.require_shift()
    session = till.require_session()
    if till.sale is not None:
        raise Refused("finish or void the sale first")
    if till.conn.execute("SELECT 1 FROM sales WHERE status = 'suspended'").fetchone():
        raise Refused("resume or void the suspended sales first")
    for kind, amount in c.counted.items():
        check_amount(amount, f"the counted {kind}", allow_zero=True)
    closer = session.cashier_id
    if c.approval is not None:
        closer = till.require_manager(c.approval)
    z_no = journal.counter(till.conn, "z") + 1
    record = _report(till, shift, dict(c.counted), z_no, closer)
    batch = Batch()
    batch.add(TILL, ev.ShiftClosed(at=till.now(), record=record))
    data = msgspec.json.encode(record)
    batch.write(lambda conn: journal.claim_counter(conn, "z", z_no))
    batch.write(
        lambda conn: conn.execute(
            "UPDATE shifts SET closed_at = ?, z_no = ?, record = ? WHERE shift_id = ?",
            (record.closed_at.isoformat(), z_no, data, str(shift.shift_id)),
        )
    )
    batch.uplink.append(record)
    batch.effects.append(("report", f"z-{z_no}"))
    batch.data = {"report": msgspec.to_builtins(record)}
    return batch


def _shift_facts(
    till: Till, shift: ev.ShiftOpened
) -> tuple[list[ev.CashMoved], list[SaleCompleted], list[RefundCompleted], int]:
    sid = str(shift.shift_id)
    movements: list[ev.CashMoved] = []
    refunds: list[RefundCompleted] = []
    for event in journal.read_stream(till.conn, TILL):
        if isinstance(event, ev.CashMoved) and event.shift_id == shift.shift_id:
            movements.append(event)
        elif isinstance(event, ev.RefundCompleted) and event.record.shift_id == shift.shift_id:
            refunds.append(event.record)
    sales = [
        msgspec.json.decode(row[0], type=SaleCompleted)
        for row in till.conn.execute(
            "SELECT record FROM sales WHERE shift_id = ? AND status = 'completed' "
            "ORDER BY closed_at",
            (sid,),
        )
    ]
    voids = till.conn.execute(
        "SELECT count(*) FROM sales WHERE shift_id = ? AND status = 'voided'", (sid,)
    ).fetchone()[0]
    return movements, sales, refunds, int(voids)


def _report(
    till: Till, shift: ev.ShiftOpened, counted: dict[str, int] | None, z_no: int, by: str
) -> ShiftClosed:
    movements, sales, refunds, voids = _shift_facts(till, shift)
    return shifts.report(
        opened=shift,
        movements=movements,
        sales=sales,
        refunds=refunds,
        voids=voids,
        counted=counted,
        z_no=max(z_no, 1),
        closed_by=by,
        closed_at=till.now(),
        currency=till.config.currency,
    )


def _set(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def status(_till: Till, _c: cmd.Status) -> Batch:
    return Batch()


HANDLERS: dict[type, Callable[..., Batch]] = {
    cmd.Status: status,
    cmd.Login: login,
    cmd.Logout: logout,
    cmd.OpenShift: open_shift,
    cmd.CashMovement: cash_movement,
    cmd.NoSale: no_sale,
    cmd.XReport: x_report,
    cmd.CloseShift: close_shift,
}
