"""Building the basket: items, quantities, voids, members, coupons, suspend and resume."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from edge.checkout import commands as cmd
from edge.checkout import events as ev
from edge.checkout.batch import Batch, Refused
from edge.checkout.catalog import CatalogError, CatalogItem, Found, by_plu, by_scan, by_sku
from edge.checkout.handlers.inputs import check_amount
from edge.checkout.pricing import PricingError
from edge.checkout.state import Sale, apply
from protocol.messages.downlink import MemberCoupon
from protocol.messages.uplink import MemberEnrolled as MemberEnrolledRecord
from protocol.messages.uplink import SaleVoided as SaleVoidedRecord
from protocol.phones import PhoneError, normalise_phone, phone_hash

if TYPE_CHECKING:
    from edge.checkout.till import Till

MAX_LINES = 1000
MAX_QTY = 9999
MAX_WEIGHT_G = 100_000
_COUPON = re.compile(r"[A-Z0-9][A-Z0-9-]{0,39}")


def _open_sale(till: Till, batch: Batch) -> Sale:
    """The sale to add to: the open one, or a new one opened in this batch."""
    if till.sale is not None:
        if till.sale.tenders:
            raise Refused("payment has started; no more changes to the basket")
        return till.sale
    shift = till.require_shift()
    session = till.require_session()
    pb, ps, include = till.versions()
    sale_id = till.new_uuid()
    opened = ev.SaleOpened(
        at=till.now(),
        sale_id=sale_id,
        shift_id=shift.shift_id,
        cashier_id=session.cashier_id,
        price_book_version=pb,
        promotion_set_version=ps,
        prices_include_tax=include,
    )
    batch.add(str(sale_id), opened)
    batch.write(
        lambda conn: conn.execute(
            "INSERT INTO sales (sale_id, status, shift_id, opened_at) VALUES (?, 'open', ?, ?)",
            (str(sale_id), str(shift.shift_id), opened.at.isoformat()),
        )
    )
    return apply(None, opened)


def _priced_ok(till: Till, sale: Sale) -> None:
    try:
        till.price(sale)
    except PricingError as exc:
        raise Refused(f"cannot price this: {exc}") from None


def _find(till: Till, c: cmd.AddItem) -> Found:
    given = [x for x in (c.code, c.plu, c.sku) if x is not None]
    if len(given) != 1:
        raise Refused("scan a barcode or key a PLU")
    try:
        if c.code is not None:
            return by_scan(
                till.conn,
                c.code,
                layouts=till.config.layouts,
                currency_exponent=till.config.currency_exponent,
            )
    except CatalogError as exc:
        raise Refused(str(exc)) from None
    item: CatalogItem | None
    if c.plu is not None:
        item = by_plu(till.conn, c.plu)
        if item is None:
            raise Refused(f"no item with PLU {c.plu[:20]}")
    else:
        item = by_sku(till.conn, c.sku or "")
        if item is None:
            raise Refused(f"no item {(c.sku or '')[:40]}")
    return Found(item, None)


def add_item(till: Till, c: cmd.AddItem) -> Batch:
    till.require_shift()
    found = _find(till, c)
    item = found.item
    if not item.active:
        raise Refused(f"{item.name} is not for sale")
    if item.min_age and not c.age_confirmed:
        raise Refused(f"{item.name}: check the customer is {item.min_age} or older, then confirm")
    if isinstance(c.qty, bool) or not 1 <= c.qty <= MAX_QTY:
        raise Refused(f"quantity must be 1 to {MAX_QTY}")
    qty, uom, unit_price, source = c.qty, item.uom, item.unit_price, "book"
    gross_override: int | None = None
    discountable = True
    weight = found.label_weight_g if found.label_weight_g is not None else c.weight_g
    if found.label_price is not None:
        gross_override, source = found.label_price, "barcode"
        if weight is not None:
            qty, uom = weight, "g"
    elif item.weighed:
        if weight is None:
            raise Refused(f"put {item.name} on the scale (no stable weight)", needs="weight")
        if isinstance(weight, bool) or not 1 <= weight <= MAX_WEIGHT_G or c.qty != 1:
            raise Refused("the weight must be 1 g to 100 kg, one item at a time")
        qty, uom = weight, "g"
    if item.open_price:
        if c.price is None:
            raise Refused(f"key the price of {item.name}")
        check_amount(c.price, "the price")
        unit_price, source, discountable = c.price, "open", False
        if uom == "g":
            raise Refused("an open-price item cannot be weighed")
        gross_override = None
    elif c.price is not None:
        raise Refused(f"{item.name} has a fixed price")
    batch = Batch()
    sale = _open_sale(till, batch)
    if len(sale.lines) >= MAX_LINES:
        raise Refused(f"a sale holds at most {MAX_LINES} lines; start another")
    added = ev.ItemAdded(
        at=till.now(),
        line_no=sale.next_line_no,
        sku=item.sku,
        gtin=found.gtin,
        name=item.name,
        short_name=item.short_name,
        category=item.category,
        tax_class=item.tax_class,
        tax_rate_ppm=item.tax_rate_ppm,
        qty=qty,
        uom=uom,
        unit_price=unit_price,
        price_per=1 if source == "open" else item.price_per,
        price_source=source,
        gross_override=gross_override,
        discountable=discountable,
    )
    _priced_ok(till, apply(sale, added))
    batch.add(str(sale.sale_id), added)
    return batch


def change_quantity(till: Till, c: cmd.ChangeQuantity) -> Batch:
    sale = _editable(till)
    line = sale.line(c.line_no)
    if line is None or line.voided:
        raise Refused(f"there is no line {c.line_no}")
    if line.uom != "ea" or line.gross_override is not None:
        raise Refused("weighed and labelled items cannot change quantity; void the line")
    if isinstance(c.qty, bool) or not 1 <= c.qty <= MAX_QTY:
        raise Refused(f"quantity must be 1 to {MAX_QTY}; void the line to remove it")
    if c.qty == line.qty:
        raise Refused(f"line {c.line_no} already has quantity {c.qty}")
    event = ev.QuantityChanged(at=till.now(), line_no=c.line_no, qty=c.qty)
    _priced_ok(till, apply(sale, event))
    batch = Batch()
    batch.add(str(sale.sale_id), event)
    return batch


def void_line(till: Till, c: cmd.VoidLine) -> Batch:
    sale = _editable(till)
    line = sale.line(c.line_no)
    if line is None or line.voided:
        raise Refused(f"there is no line {c.line_no}")
    batch = Batch()
    batch.add(
        str(sale.sale_id),
        ev.LineVoided(at=till.now(), line_no=c.line_no, by=till.require_session().cashier_id),
    )
    return batch


def void_sale(till: Till, c: cmd.VoidSale) -> Batch:
    sale = till.require_sale()
    if sale.tenders:
        raise Refused("payments were taken; complete the sale and refund it instead")
    manager = till.require_manager(c.approval)
    reason = c.reason.strip()[:200]
    if not reason:
        raise Refused("say why the sale is voided")
    now = till.now()
    cashier = till.require_session().cashier_id
    priced = till.price(sale)
    batch = Batch()
    batch.add(
        str(sale.sale_id), ev.SaleVoided(at=now, by=cashier, authorised_by=manager, reason=reason)
    )
    batch.write(
        lambda conn: conn.execute(
            "UPDATE sales SET status = 'voided', closed_at = ?, total = ? WHERE sale_id = ?",
            (now.isoformat(), priced.total, str(sale.sale_id)),
        )
    )
    batch.uplink.append(
        SaleVoidedRecord(
            sale_id=sale.sale_id,
            opened_at=sale.opened_at,
            voided_at=now,
            cashier_id=cashier,
            authorised_by=manager,
            shift_id=sale.shift_id,
            reason=reason,
            line_count=len(sale.live_lines),
            total=priced.total,
        )
    )
    return batch


def suspend(till: Till, _c: cmd.SuspendSale) -> Batch:
    sale = _editable(till)
    batch = Batch()
    batch.add(
        str(sale.sale_id), ev.SaleSuspended(at=till.now(), by=till.require_session().cashier_id)
    )
    batch.write(
        lambda conn: conn.execute(
            "UPDATE sales SET status = 'suspended' WHERE sale_id = ?", (str(sale.sale_id),)
        )
    )
    return batch


def resume(till: Till, c: cmd.ResumeSale) -> Batch:
    till.require_shift()
    if till.sale is not None:
        raise Refused("finish or suspend the current sale first")
    row = till.conn.execute("SELECT status FROM sales WHERE sale_id = ?", (c.sale_id,)).fetchone()
    if row is None or row[0] != "suspended":
        raise Refused("no suspended sale with that id")
    batch = Batch()
    batch.add(c.sale_id, ev.SaleResumed(at=till.now(), by=till.require_session().cashier_id))
    batch.write(
        lambda conn: conn.execute(
            "UPDATE sales SET status = 'open' WHERE sale_id = ?", (c.sale_id,)
        )
    )
    return batch


def _editable(till: Till) -> Sale:
    sale = till.require_sale()
    if sale.tenders:
        raise Refused("payment has started; no more changes to the basket")
    return sale


# --- members and coupons ----------------------------------------------------------------------


def _phone_key(till: Till, phone: str) -> tuple[str, str]:
    if not till.config.phone_hash_key:
        raise Refused("member lookup by phone is not set up on this till")
    try:
        e164 = normalise_phone(phone, till.config.country_code)
    except PhoneError as exc:
        raise Refused(str(exc)) from None
    return e164, phone_hash(till.config.phone_hash_key, e164)


def _member_event(till: Till, member_id: str) -> ev.MemberAttached:
    row = till.conn.execute(
        "SELECT first_name, tier, birthday, points, offline_redeem_limit, stored_value, "
        "recommendation FROM members WHERE member_id = ?",
        (member_id,),
    ).fetchone()
    pending = till.conn.execute(
        "SELECT coalesce(sum(points), 0), coalesce(sum(stored_value), 0), "
        "coalesce(sum(CASE WHEN kind = 'redeem' THEN points ELSE 0 END), 0) "
        "FROM loyalty_pending WHERE member_id = ?",
        (member_id,),
    ).fetchone()
    return ev.MemberAttached(
        at=till.now(),
        member_id=member_id,
        first_name=row[0],
        tier=row[1],
        birthday=row[2],
        points=max(0, row[3] + pending[0]),
        redeemable_offline=max(0, row[4] + pending[2]),
        stored_value=max(0, row[5] + pending[1]),
        recommendation=row[6],
    )


def attach_member(till: Till, c: cmd.AttachMember) -> Batch:
    till.require_shift()
    if (c.phone is None) == (c.card_no is None):
        raise Refused("key a phone number or scan a member card")
    if c.phone is not None:
        _, hashed = _phone_key(till, c.phone)
        row = till.conn.execute(
            "SELECT member_id FROM members WHERE phone_hash = ?", (hashed,)
        ).fetchone()
    else:
        row = till.conn.execute(
            "SELECT member_id FROM members WHERE card_no = ?", ((c.card_no or "").strip(),)
        ).fetchone()
    if row is None:
        raise Refused("no member found; enrol them?")
    batch = Batch()
    sale = _open_sale(till, batch)
    if sale.member is not None and sale.member.member_id == row[0]:
        raise Refused("this member is already on the sale")
    batch.add(str(sale.sale_id), _member_event(till, row[0]))
    return batch


def enrol_member(till: Till, c: cmd.EnrolMember) -> Batch:
    session = till.require_session()
    till.require_shift()
    e164, hashed = _phone_key(till, c.phone)
    if till.conn.execute("SELECT 1 FROM members WHERE phone_hash = ?", (hashed,)).fetchone():
        raise Refused("this phone number is already a member; attach it instead")
    first_name = (c.first_name or "").strip()[:60] or None
    now = till.now()
    member_id = str(till.new_uuid())
    record = MemberEnrolledRecord(
        member_id=member_id,
        phone=e164,
        card_no=None,
        first_name=first_name,
        consent_marketing=bool(c.consent_marketing),
        enrolled_at=now,
        cashier_id=session.cashier_id,
    )
    batch = Batch()
    batch.add("till", ev.MemberEnrolled(at=now, record=record, phone_hash=hashed))
    batch.write(
        lambda conn: conn.execute(
            "INSERT INTO members (member_id, phone_hash, first_name, points, "
            "offline_redeem_limit, stored_value, coupons) VALUES (?, ?, ?, 0, 0, 0, ?)",
            (member_id, hashed, first_name, b"[]"),
        )
    )
    batch.uplink.append(record)
    if till.sale is not None and till.sale.member is None and not till.sale.tenders:
        batch.add(
            str(till.sale.sale_id),
            ev.MemberAttached(
                at=now,
                member_id=member_id,
                first_name=first_name,
                tier=None,
                birthday=None,
                points=0,
                redeemable_offline=0,
                stored_value=0,
                recommendation=None,
            ),
        )
    return batch


def apply_coupon(till: Till, c: cmd.ApplyCoupon) -> Batch:
    sale = _editable(till)
    code = c.code.strip().upper()
    if not _COUPON.fullmatch(code):
        raise Refused("a coupon code is 1-40 letters, digits and dashes")
    if any(existing == code for existing, _ in sale.coupons):
        raise Refused("this coupon is already on the sale")
    if till.conn.execute("SELECT 1 FROM used_coupons WHERE code = ?", (code,)).fetchone():
        raise Refused("this coupon has already been used")
    promotion_id = _member_coupon(till, sale, code)
    if promotion_id is None and not _shared_code_exists(till, sale, code):
        raise Refused("unknown coupon")
    batch = Batch()
    batch.add(
        str(sale.sale_id), ev.CouponAdded(at=till.now(), code=code, promotion_id=promotion_id)
    )
    return batch


def _member_coupon(till: Till, sale: Sale, code: str) -> str | None:
    if sale.member is None:
        return None
    row = till.conn.execute(
        "SELECT coupons FROM members WHERE member_id = ?", (sale.member.member_id,)
    ).fetchone()
    coupons = msgspec.json.decode(row[0], type=list[MemberCoupon]) if row else []
    for coupon in coupons:
        if coupon.code.upper() == code:
            if coupon.expires_at is not None and coupon.expires_at <= till.now():
                raise Refused("this coupon has expired")
            return coupon.promotion_id
    return None


def _shared_code_exists(till: Till, sale: Sale, code: str) -> bool:
    return till.knows_coupon(sale.promotion_set_version, code)


HANDLERS: dict[type, Callable[..., Batch]] = {
    cmd.AddItem: add_item,
    cmd.ChangeQuantity: change_quantity,
    cmd.VoidLine: void_line,
    cmd.VoidSale: void_sale,
    cmd.SuspendSale: suspend,
    cmd.ResumeSale: resume,
    cmd.AttachMember: attach_member,
    cmd.EnrolMember: enrol_member,
    cmd.ApplyCoupon: apply_coupon,
}
