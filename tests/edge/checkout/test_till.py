"""The till service, command by command: what a cashier does all day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest

from edge.checkout import commands as cmd
from edge.checkout.state import Sale, fold
from edge.checkout.till import Till
from edge.store import journal
from edge.store.db import open_store
from edge.store.documents import apply_device_config, apply_price_book
from protocol import barcodes
from protocol.messages import decode_event
from protocol.messages.downlink import (
    CashRounding,
    DeviceConfig,
    LoyaltyRules,
    PriceBook,
    Tier,
    TrustedKey,
)
from protocol.messages.uplink import RefundCompleted, SaleCompleted
from tests.edge.tillkit import MANAGER, T0, Clock, item, ok, open_till, ready, seed_store


@pytest.fixture
def till(tmp_path: Path) -> Till:
    return ready(open_till(tmp_path / "till.db"))


def current_sale(till: Till) -> Sale | None:
    """The till's sale, read through a call so mypy does not keep an earlier narrowing."""
    return till.sale


def outbox(till: Till) -> list[tuple[int, str, bytes]]:
    return till.conn.execute("SELECT seq, type, payload FROM outbox ORDER BY seq").fetchall()


def effects(till: Till) -> list[tuple[str, str]]:
    return till.conn.execute("SELECT kind, ref FROM effects ORDER BY id").fetchall()


def refused(till: Till, command: cmd.Command, fragment: str) -> None:
    before = till.conn.execute("SELECT count(*) FROM journal").fetchone()[0]
    reply = till.handle(command)
    assert not reply.ok
    assert reply.reason is not None
    assert fragment in reply.reason, reply.reason
    after = till.conn.execute("SELECT count(*) FROM journal").fetchone()[0]
    assert after == before, "a refused command changed the journal"


def test_nothing_happens_before_login(tmp_path: Path) -> None:
    t = open_till(tmp_path / "till.db")
    refused(t, cmd.AddItem(code="4006381333931"), "log in")
    refused(t, cmd.Login(cashier_id="c1", pin="0000"), "not accepted")
    ok(t, cmd.Login(cashier_id="c1", pin="1234"))
    refused(t, cmd.AddItem(code="4006381333931"), "open a shift")


def test_a_cash_sale_from_scan_to_receipt(till: Till) -> None:
    ok(till, cmd.AddItem(code="4006381333931"))  # milk 1.19
    ok(till, cmd.AddItem(plu="17"))  # bread 2.49
    reply = ok(till, cmd.AddItem(sku="COLA", qty=3))  # 3 for 5.00 instead of 6.00
    sale = reply.view.sale
    assert sale is not None
    assert (sale.subtotal, sale.discount_total, sale.total) == (968, 100, 868)
    reply = ok(till, cmd.Tender(kind="cash", amount=1000))
    assert reply.data is not None
    # 8.68 rounds to 8.70 in 5-cent cash rounding; change 1.30
    assert reply.data["change"] == 130
    assert reply.view.sale is None
    assert reply.view.last_receipt == "S1T1-000001"
    (row,) = outbox(till)
    assert row[:2] == (1, "sale.completed")
    event = decode_event(row[2])
    assert isinstance(event.body, SaleCompleted)
    assert event.body.total == 868
    assert event.body.rounding == 2
    assert event.body.tenders[0].amount == 870
    assert sum(t.tax for t in event.body.taxes) == event.body.tax_total
    assert effects(till) == [
        ("drawer", "float-" + str(till.shift.shift_id if till.shift else "")),
        ("receipt", "S1T1-000001"),
        ("drawer", "S1T1-000001"),
    ]
    stock = dict(till.conn.execute("SELECT sku, qty FROM stock").fetchall())
    assert stock == {"MILK": -1, "BREAD": -1, "COLA": -3}


def test_weighed_items_need_a_stable_weight(till: Till) -> None:
    refused(till, cmd.AddItem(plu="4131"), "scale")
    reply = ok(till, cmd.AddItem(plu="4131", weight_g=1234))  # 2.99/kg * 1.234 kg = 3.69
    assert reply.view.sale is not None
    assert reply.view.sale.total == 369
    refused(till, cmd.ChangeQuantity(line_no=1, qty=2), "weighed")


def test_open_price_items_need_a_price(till: Till) -> None:
    refused(till, cmd.AddItem(plu="999"), "key the price")
    refused(till, cmd.AddItem(plu="999", price=-5), "more than zero")
    assert ok(till, cmd.AddItem(plu="999", price=1500)).view.sale.total == 1500  # type: ignore[union-attr]
    refused(till, cmd.AddItem(sku="MILK", price=1), "fixed price")


def test_bad_scans_are_refused_with_a_reason(till: Till) -> None:
    refused(till, cmd.AddItem(code="4006381333932"), "check digit")
    refused(till, cmd.AddItem(code="12345670"), "no item")
    refused(till, cmd.AddItem(code="\x00\x01garbage"), "unreadable")
    refused(till, cmd.AddItem(sku="OLD"), "not for sale")
    refused(till, cmd.AddItem(sku="MILK", qty=0), "quantity")


def test_split_tender_card_then_cash_rounds_only_the_cash(till: Till) -> None:
    ok(till, cmd.AddItem(sku="WINE"))  # 8.99
    refused(
        till,
        cmd.Tender(kind="card", amount=500, approval_code="A1", masked_pan="4111111111111111"),
        "masked",
    )
    refused(
        till,
        cmd.Tender(kind="card", amount=1000, approval_code="A1", masked_pan="****1111"),
        "only 899",
    )
    ok(till, cmd.Tender(kind="card", amount=500, approval_code="A1", masked_pan="411111******1111"))
    refused(till, cmd.AddItem(sku="MILK"), "payment has started")
    reply = ok(till, cmd.Tender(kind="cash", amount=500))  # 3.99 due -> 4.00 cash
    assert reply.data is not None
    assert reply.data["change"] == 100
    record = decode_event(outbox(till)[-1][2]).body
    assert isinstance(record, SaleCompleted)
    assert [(t.kind, t.amount) for t in record.tenders] == [("card", 500), ("cash", 400)]
    assert record.rounding == 1


def test_member_points_and_offline_redemption_limit(till: Till) -> None:
    ok(till, cmd.AttachMember(phone="0151 1111111"))
    ok(till, cmd.AddItem(sku="WINE", qty=2))  # 17.98
    refused(till, cmd.Tender(kind="points", points=1200), "offline")  # limit 1000
    refused(till, cmd.Tender(kind="points", points=2000), "worth more")
    ok(till, cmd.Tender(kind="points", points=500))
    ok(till, cmd.Tender(kind="cash", amount=1300))  # 12.98 -> 13.00
    record = decode_event(outbox(till)[-1][2]).body
    assert isinstance(record, SaleCompleted)
    assert record.member_id == "M-1"
    assert record.points_redeemed == 500
    # 17.98 net: 17 whole units, gold tier without multiplier -> 17 points
    assert record.points_earned == 17
    pending = till.conn.execute("SELECT kind, points FROM loyalty_pending ORDER BY id").fetchall()
    assert pending == [("earn", 17), ("redeem", -500)]


def test_coupons(till: Till) -> None:
    refused(till, cmd.ApplyCoupon(code="SAVE10"), "no sale")
    ok(till, cmd.AddItem(sku="WINE"))
    refused(till, cmd.ApplyCoupon(code="NOPE"), "unknown coupon")
    reply = ok(till, cmd.ApplyCoupon(code=" save10 "))
    assert reply.view.sale is not None
    assert reply.view.sale.total == 809  # 8.99 - 0.90
    refused(till, cmd.ApplyCoupon(code="SAVE10"), "already on the sale")


def test_void_suspend_resume(till: Till) -> None:
    ok(till, cmd.AddItem(sku="MILK"))
    ok(till, cmd.AddItem(sku="BREAD"))
    ok(till, cmd.VoidLine(line_no=1))
    refused(till, cmd.VoidLine(line_no=1), "no line 1")
    sale_id = till.sale.sale_id if till.sale else None
    ok(till, cmd.SuspendSale())
    assert till.sale is None
    ok(till, cmd.AddItem(sku="COLA"))
    refused(
        till,
        cmd.VoidSale(approval=cmd.ManagerApproval(manager_id="c1", manager_pin="1234"), reason="x"),
        "not a manager",
    )
    ok(till, cmd.VoidSale(approval=MANAGER, reason="customer left"))
    refused(till, cmd.CloseShift(counted={"cash": 10_000}), "suspended")
    ok(till, cmd.ResumeSale(sale_id=str(sale_id)))
    resumed = current_sale(till)
    assert resumed is not None
    assert [line.voided for line in resumed.lines] == [True, False]
    ok(till, cmd.Tender(kind="cash", amount=250))
    types = [row[1] for row in outbox(till)]
    assert types == ["sale.voided", "sale.completed"]


def test_refund_reverses_stock_points_and_can_be_partial(till: Till) -> None:
    ok(till, cmd.AttachMember(card_no="CARD0001"))
    ok(till, cmd.AddItem(sku="WINE", qty=3))  # 26.97
    ok(till, cmd.Tender(kind="cash", amount=2700))
    receipt = till.view().last_receipt
    assert receipt is not None
    refund = cmd.Refund(
        receipt_no=receipt,
        reason="corked",
        approval=MANAGER,
        lines=(cmd.RefundLine(line_no=1, qty=1),),
    )
    ok(till, refund)
    ok(till, refund)
    ok(till, refund)
    refused(till, refund, "at most 0")
    refunds = [decode_event(r[2]).body for r in outbox(till) if r[1] == "refund.completed"]
    assert all(isinstance(r, RefundCompleted) for r in refunds)
    amounts = [r.total for r in refunds if isinstance(r, RefundCompleted)]
    assert sum(amounts) == 2697
    reversed_points = sum(r.points_reversed for r in refunds if isinstance(r, RefundCompleted))
    assert reversed_points == 26
    stock = dict(till.conn.execute("SELECT sku, qty FROM stock").fetchall())
    assert stock["WINE"] == 0


def test_shift_close_reports_over_and_short(till: Till) -> None:
    ok(till, cmd.AddItem(sku="BREAD"))
    ok(till, cmd.Tender(kind="cash", amount=500))  # 2.49 -> 2.50 cash
    ok(till, cmd.CashMovement(movement="drop", amount=5_000, approval=MANAGER))
    x = ok(till, cmd.XReport()).data
    assert x is not None
    cash = next(t for t in x["report"]["tenders"] if t["kind"] == "cash")
    assert cash["expected"] == 10_000 + 250 - 5_000
    z = ok(till, cmd.CloseShift(counted={"cash": 5_240})).data
    assert z is not None
    cash = next(t for t in z["report"]["tenders"] if t["kind"] == "cash")
    assert (cash["expected"], cash["counted"], cash["over_short"]) == (5_250, 5_240, -10)
    assert outbox(till)[-1][1] == "shift.closed"
    refused(till, cmd.AddItem(sku="BREAD"), "open a shift")


def test_feedback_once_after_the_sale(till: Till) -> None:
    refused(till, cmd.Feedback(rating=5), "no completed sale")
    ok(till, cmd.AddItem(sku="BREAD"))
    ok(till, cmd.Tender(kind="cash", amount=250))
    refused(till, cmd.Feedback(rating=6), "1 to 5")
    ok(till, cmd.Feedback(rating=4))
    refused(till, cmd.Feedback(rating=5), "already")
    assert outbox(till)[-1][1] == "feedback.given"


def test_enrol_a_member_at_the_till(till: Till) -> None:
    ok(till, cmd.AddItem(sku="BREAD"))
    reply = ok(till, cmd.EnrolMember(phone="0170 2222222", consent_marketing=True, first_name="Bo"))
    assert reply.view.sale is not None
    assert reply.view.sale.member == "Bo"
    refused(till, cmd.EnrolMember(phone="+49 170 2222222", consent_marketing=False), "already")
    assert outbox(till)[-1][1] == "member.enrolled"


def test_stock_adjustments(till: Till) -> None:
    ok(till, cmd.AdjustStock(reason="receiving", items={"MILK": 24}, approval=MANAGER))
    ok(till, cmd.AdjustStock(reason="waste", items={"MILK": 2}, approval=MANAGER))
    ok(till, cmd.AdjustStock(reason="count", items={"MILK": 20}, approval=MANAGER))
    assert till.conn.execute("SELECT qty FROM stock WHERE sku = 'MILK'").fetchone()[0] == 20
    refused(till, cmd.AdjustStock(reason="waste", items={"NOPE": 1}, approval=MANAGER), "no item")
    assert [r[1] for r in outbox(till)] == ["stock.delta"] * 3


def test_restart_rebuilds_the_open_sale_exactly(tmp_path: Path) -> None:
    clock = Clock()
    t = ready(open_till(tmp_path / "till.db", clock))
    ok(t, cmd.AttachMember(card_no="CARD0001"))
    ok(t, cmd.AddItem(sku="COLA", qty=4))
    ok(t, cmd.ChangeQuantity(line_no=1, qty=3))
    ok(t, cmd.AddItem(sku="WINE"))
    before = t.view()
    t.conn.close()
    again = open_till(tmp_path / "till.db", clock)
    assert msgspec.to_builtins(again.view()) == msgspec.to_builtins(before)
    assert again.sale is not None
    assert fold(journal.read_stream(again.conn, str(again.sale.sale_id))) == again.sale


def test_weight_labels_from_the_scale_carry_their_own_weight(tmp_path: Path) -> None:
    """A Swedish label scale prints 23 + item + weight in grams; the till takes the label."""
    layout = barcodes.LAYOUTS["gs1-se-weight-3dp"]
    code = barcodes.encode_variable_measure(layout, "123456", 1234, prefix="23")
    parsed = barcodes.parse_variable_measure(code, layouts=(layout,))
    assert parsed is not None
    path = tmp_path / "till.db"
    seed_store(path)
    conn = open_store(path)
    book = PriceBook(
        mode="delta",
        base_version=1,
        currency="EUR",
        prices_include_tax=True,
        tax_classes=[],
        items=[
            item("CHEESE", 1990, price_per=1000, uom="g", weighed=True, gtins=[parsed.lookup_key])
        ],
        removed=[],
    )
    apply_price_book(conn, book, version=2, doc_id="pb-2", at=T0)
    conn.close()
    t = ready(open_till(path, barcode_layouts=("gs1-se",)))
    reply = ok(t, cmd.AddItem(code=code))
    assert reply.view.sale is not None
    line = reply.view.sale.lines[0]
    assert (line.qty, line.uom, line.gross) == (1234, "g", 2456)  # 19.90/kg x 1.234 kg


def test_hq_device_config_overrides_the_local_defaults(tmp_path: Path) -> None:
    path = tmp_path / "till.db"
    seed_store(path)
    conn = open_store(path)
    doc = DeviceConfig(
        store_name="Corner Shop",
        store_address=["1 High St"],
        tax_id=None,
        receipt_footer=[],
        currency="CHF",
        timezone="Europe/Zurich",
        tax_rounding="per_receipt",
        cash_rounding=CashRounding(coin=5, mode="half_up"),
        feedback_enabled=False,
        max_discount_bp_without_manager=1000,
        loyalty=LoyaltyRules(
            points_per_unit=2,
            category_multipliers_pct={"drinks": 200},
            redeem_minor_per_point=1,
            tiers=[Tier(id="gold", name="Gold", min_rolling_spend=0, multiplier_pct=150)],
            rolling_window_days=365,
            default_offline_redeem_limit=100,
        ),
        trusted_keys=[TrustedKey(key_id="hq-1", public_key="A" * 43)],
        phone_hash_keys=[],
        country_code="41",
        status_interval_s=60,
    )
    apply_device_config(conn, doc, version=3, doc_id="dc-3", at=T0)
    conn.close()
    t = ready(open_till(path))
    assert (t.config.currency, t.config.cash_coin, t.config.tax_per_receipt) == ("CHF", 5, True)
    assert t.config.loyalty.tier_multipliers_pct == {"gold": 150}
    assert t.view().customer[0].startswith("Corner Shop")
    refused(t, cmd.Feedback(rating=5), "not collected")


def test_age_restricted_items_need_the_cashiers_check(till: Till) -> None:
    refused(till, cmd.AddItem(sku="VODKA"), "18 or older")
    assert ok(till, cmd.AddItem(sku="VODKA", age_confirmed=True)).view.sale is not None


def test_five_wrong_pins_lock_the_id_for_five_minutes(tmp_path: Path) -> None:
    clock = Clock()
    t = open_till(tmp_path / "till.db", clock)
    for _ in range(5):
        refused(t, cmd.Login(cashier_id="c1", pin="0000"), "not accepted")
    refused(t, cmd.Login(cashier_id="c1", pin="1234"), "too many wrong PINs")
    clock.now += dt.timedelta(minutes=5)
    ok(t, cmd.Login(cashier_id="c1", pin="1234"))
