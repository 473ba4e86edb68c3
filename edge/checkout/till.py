"""The till service: the one place commands become committed events.

``Till.handle(command)`` checks the command against the current state; a refusal carries a
reason for the cashier and changes nothing. An accepted command yields a :class:`Batch` —
events for the journal, writes to the projections, uplink events for the outbox, effects owed
(print, drawer) — which is committed in ONE SQLite transaction before the in-memory state moves
on. Only after COMMIT does anything get shown, printed, opened or sent, so a power cut at any
instant leaves either all of a command or none of it.

Handlers live in small modules by topic (``selling``, ``payment``, ``after_sale``, ``shift``);
this module owns the state, the commit and the view.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from edge.checkout import commands as cmd
from edge.checkout import customer_display
from edge.checkout import events as ev
from edge.checkout.auth import check_pin
from edge.checkout.batch import Batch, Refused
from edge.checkout.config import TillConfig, with_device_config
from edge.checkout.handlers import HANDLERS
from edge.checkout.pricing import (
    BasketLine,
    MemberInfo,
    PresentedCoupon,
    PricedBasket,
    Pricer,
    PricingContext,
    TaxSettings,
)
from edge.checkout.state import Sale, apply, fold
from edge.store import journal, outbox
from edge.store.db import transaction
from edge.store.documents import device_config
from protocol.errors import MessageError
from protocol.ids import uuid7
from protocol.messages import Body
from protocol.messages.promotions import Promotion

Clock = Callable[[], datetime]
MAX_PIN_FAILURES = 5
PIN_LOCKOUT = timedelta(minutes=5)
Entropy = Callable[[int], bytes]


@dataclass(frozen=True, slots=True)
class Session:
    cashier_id: str
    role: str


class LineView(msgspec.Struct, frozen=True, kw_only=True):
    line_no: int
    name: str
    qty: int
    uom: str
    gross: int
    discount: int
    net: int
    voided: bool


class SaleView(msgspec.Struct, frozen=True, kw_only=True):
    sale_id: str
    status: str
    lines: list[LineView]
    subtotal: int
    discount_total: int
    tax_total: int
    total: int
    rounding: int
    paid: int
    due: int
    member: str | None
    member_points: int | None
    recommendation: str | None


class View(msgspec.Struct, frozen=True, kw_only=True):
    """What the operator screen shows; the state stream sends this after every command.

    ``customer`` is the two lines of the customer's pole display; ``notices`` what the devices
    need the cashier to know ("printer: paper out — 2 receipts wait", "drawer did not open").
    """

    cashier: str | None
    shift_id: str | None
    sale: SaleView | None
    last_receipt: str | None
    last_change: int | None
    customer: tuple[str, str]
    notices: tuple[str, ...] = ()


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    reason: str | None
    view: View
    data: dict[str, Any] | None = None


class Till:
    """One till's checkout: state in memory, truth in the store."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        config: TillConfig,
        *,
        clock: Clock | None = None,
        entropy: Entropy = os.urandom,
        online: Callable[[], bool] = lambda: False,
    ) -> None:
        self.conn = conn
        self._local_config = config
        hq = device_config(conn)
        self.config = with_device_config(config, hq) if hq is not None else config
        self._documents_changed = threading.Event()
        self._notices: dict[str, str] = {}
        self._notices_lock = threading.Lock()
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.entropy = entropy
        self.online = online
        self._pricers: dict[int, Pricer] = {}
        self._coupon_codes: dict[int, frozenset[str]] = {}
        self.session: Session | None = None
        self.shift: ev.ShiftOpened | None = None
        self.sale: Sale | None = None
        self.last_completed: Sale | None = None
        self.last_change: int | None = None
        self._greet = False
        self._pin_failures: dict[str, list[datetime]] = {}
        self._last_priced: tuple[Sale, PricedBasket] | None = None
        self.origin = outbox.Origin(config.tenant, config.store, config.device)
        self._load()

    def notice(self, source: str, text: str | None) -> None:
        """Set (or, with ``None``, clear) what ``source`` needs the cashier to know.

        Called from device threads; the next view shows it.
        """
        with self._notices_lock:
            if text:
                self._notices[source] = text
            else:
                self._notices.pop(source, None)

    def documents_changed(self, kind: str) -> None:
        """HQ's documents changed in the store (called from the sync thread).

        Only a flag is set here; the next command re-reads the device config on the checkout's
        own thread. Prices and promotions need nothing: a sale keeps the versions it opened
        with, and the next sale reads the new ones.
        """
        del kind
        self._documents_changed.set()

    # --- start-up: rebuild from the store -----------------------------------------------------

    def _load(self) -> None:
        row = self.conn.execute("SELECT value FROM settings WHERE key = 'session'").fetchone()
        if row is not None and row[0]:
            data = msgspec.json.decode(row[0])
            self.session = Session(data["cashier_id"], data["role"])
        row = self.conn.execute(
            "SELECT shift_id FROM shifts WHERE closed_at IS NULL ORDER BY opened_at DESC LIMIT 1"
        ).fetchone()
        if row is not None:
            for event in journal.read_stream(self.conn, "till"):
                if isinstance(event, ev.ShiftOpened) and str(event.shift_id) == row[0]:
                    self.shift = event
        row = self.conn.execute("SELECT sale_id FROM sales WHERE status = 'open'").fetchone()
        if row is not None:
            events = list(journal.read_stream(self.conn, row[0]))
            self.sale = fold(events)
            self._greet = isinstance(events[-1], ev.MemberAttached)
        row = self.conn.execute(
            "SELECT sale_id FROM sales WHERE status = 'completed' "
            "ORDER BY closed_at DESC, rowid DESC LIMIT 1"
        ).fetchone()
        if row is not None:
            self.last_completed = fold(journal.read_stream(self.conn, row[0]))
            if self.last_completed is not None and self.last_completed.tenders:
                self.last_change = self.last_completed.tenders[-1].change

    # --- the one entry point ------------------------------------------------------------------

    def handle(self, command: cmd.Command) -> Reply:
        """Carry out ``command`` or refuse it; either way return the current view."""
        if self._documents_changed.is_set():
            self._documents_changed.clear()
            hq = device_config(self.conn)
            if hq is not None:
                self.config = with_device_config(self._local_config, hq)
        handler = HANDLERS.get(type(command))
        if handler is None:
            return self._reply(False, f"unknown command {type(command).__name__}")
        try:
            batch = handler(self, command)
            self._commit(batch)
        except Refused as refusal:
            needs = {"needs": refusal.needs} if refusal.needs is not None else None
            return self._reply(False, refusal.reason, needs)
        return self._reply(True, None, batch.data)

    def _reply(self, ok: bool, reason: str | None, data: dict[str, Any] | None = None) -> Reply:
        return Reply(ok=ok, reason=reason, view=self.view(), data=data)

    def _commit(self, batch: Batch) -> None:
        now = self.now()
        try:
            with transaction(self.conn):
                for stream, event in batch.events:
                    journal.append(self.conn, stream, event)
                for write in batch.writes:
                    write(self.conn)
                for body in batch.uplink:
                    self._queue_uplink(body, now)
                for kind, ref in batch.effects:
                    journal.add_effect(self.conn, kind, ref, now)
        except MessageError as exc:  # a record HQ would refuse: a bug, but never a lost sale
            raise Refused(f"internal error, nothing was changed: {exc}") from exc
        except sqlite3.Error as exc:
            raise Refused(f"storage error, nothing was changed: {exc}") from exc
        for stream, event in batch.events:
            self._apply(stream, event)

    def _queue_uplink(self, body: Body, now: datetime) -> None:
        outbox.queue(self.conn, self.origin, body, event_id=self.new_uuid(), at=now)

    def _apply(self, stream: str, event: ev.DomainEvent) -> None:
        """Move the in-memory state on by one committed event."""
        assert isinstance(event, ev.SaleEvent | ev.TillEvent)
        if isinstance(event, ev.CashierLoggedIn):
            self.session = Session(event.cashier_id, event.role)
        elif isinstance(event, ev.CashierLoggedOut):
            self.session = None
        elif isinstance(event, ev.ShiftOpened):
            self.shift = event
        elif isinstance(event, ev.ShiftClosed):
            self.shift = None
        elif isinstance(event, ev.FeedbackRecorded):
            if self.last_completed is not None and str(self.last_completed.sale_id) == stream:
                self.last_completed = apply(self.last_completed, event)
        elif isinstance(event, ev.SaleEvent):
            current = (
                self.sale if self.sale is not None and str(self.sale.sale_id) == stream else None
            )
            if current is None and not isinstance(event, ev.SaleOpened | ev.SaleResumed):
                return
            if isinstance(event, ev.SaleResumed):
                self.sale = fold(journal.read_stream(self.conn, stream))
                self._greet = False
                return
            sale = apply(current, event)
            self._greet = isinstance(event, ev.MemberAttached)
            if sale.status == "open":
                self.sale = sale
            else:
                self.sale = None
                if sale.status == "completed":
                    self.last_completed = sale
                    self.last_change = sale.tenders[-1].change if sale.tenders else None

    # --- helpers the handlers share -----------------------------------------------------------

    def _current_notices(self) -> tuple[str, ...]:
        with self._notices_lock:
            return tuple(self._notices[k] for k in sorted(self._notices))

    def now(self) -> datetime:
        return self.clock()

    def new_uuid(self) -> uuid.UUID:
        return uuid7(int(self.now().timestamp() * 1000), self.entropy(10))

    def require_session(self) -> Session:
        if self.session is None:
            raise Refused("log in first")
        return self.session

    def require_shift(self) -> ev.ShiftOpened:
        self.require_session()
        if self.shift is None:
            raise Refused("open a shift first")
        return self.shift

    def require_sale(self) -> Sale:
        if self.sale is None:
            raise Refused("no sale in progress")
        return self.sale

    def verify_pin(self, cashier_id: str, pin: str, what: str = "cashier") -> str:
        """Check a cashier's PIN and return their role, or refuse.

        After :data:`MAX_PIN_FAILURES` wrong PINs for one id within :data:`PIN_LOCKOUT`, that id
        is locked for the rest of the window: a four-digit PIN must not be guessable at the
        counter by trying all 10,000. The count lives in memory, so a restart clears it.
        """
        now = self.now()
        recent = [t for t in self._pin_failures.get(cashier_id, []) if now - t < PIN_LOCKOUT]
        if len(recent) >= MAX_PIN_FAILURES:
            wait = int((PIN_LOCKOUT - (now - recent[0])).total_seconds() // 60) + 1
            raise Refused(f"too many wrong PINs for {cashier_id[:20]}; try again in {wait} min")
        row = self.conn.execute(
            "SELECT role, pin_hash, active FROM cashiers WHERE cashier_id = ?", (cashier_id,)
        ).fetchone()
        if row is None or not row[2] or not check_pin(pin, row[1]):
            self._pin_failures[cashier_id] = [*recent, now]
            raise Refused(f"{what} id or PIN not accepted")
        self._pin_failures.pop(cashier_id, None)
        return str(row[0])

    def require_manager(self, approval: cmd.ManagerApproval | None) -> str:
        """Check a manager's PIN given at the till for this one action; returns the manager id."""
        if approval is None:
            raise Refused("this needs a manager's approval")
        role = self.verify_pin(approval.manager_id, approval.manager_pin, "manager")
        if role != "manager":
            raise Refused(f"{approval.manager_id} is not a manager")
        return approval.manager_id

    def pricer(self, version: int) -> Pricer:
        """The pricer for a promotion-set version (kept while a sale uses it)."""
        pricer = self._pricers.get(version)
        if pricer is None:
            row = self.conn.execute(
                "SELECT body FROM promotion_sets WHERE version = ?", (version,)
            ).fetchone()
            promotions = (
                msgspec.json.decode(row[0], type=list[Promotion]) if row is not None else []
            )
            pricer = Pricer(promotions)
            self._pricers = {version: pricer, **dict(list(self._pricers.items())[:1])}
            self._coupon_codes[version] = frozenset(
                p.conditions.coupon_code.strip().upper()
                for p in promotions
                if p.conditions.coupon == "code" and p.conditions.coupon_code
            )
        return pricer

    def knows_coupon(self, version: int, code: str) -> bool:
        """True if a promotion of the set unlocks with the shared ``code``."""
        self.pricer(version)
        return code in self._coupon_codes.get(version, frozenset())

    def price(self, sale: Sale) -> PricedBasket:
        """Price a sale as of when it was opened, with the promotions it was opened under.

        A handler prices the state it is about to commit and the view then prices the same
        state again; the last result is kept and reused when the sale is equal, which is exact
        because a price depends only on the sale (it carries its promotion-set version).
        """
        if self._last_priced is not None and self._last_priced[0] == sale:
            return self._last_priced[1]
        priced = self._price(sale)
        self._last_priced = (sale, priced)
        return priced

    def _price(self, sale: Sale) -> PricedBasket:
        lines = [
            BasketLine(
                line_no=line.line_no,
                sku=line.sku,
                category=line.category,
                tax_class=line.tax_class,
                qty=line.qty,
                uom=line.uom,
                unit_price=line.unit_price,
                price_per=line.price_per,
                gross_override=line.gross_override,
                discountable=line.discountable,
            )
            for line in sale.live_lines
        ]
        member = (
            MemberInfo(sale.member.member_id, sale.member.tier, sale.member.birthday)
            if sale.member is not None
            else None
        )
        ctx = PricingContext(
            now=sale.opened_at.astimezone(self.config.tz),
            store_id=self.config.store,
            member=member,
            coupons=tuple(PresentedCoupon(code, pid) for code, pid in sale.coupons),
        )
        tax = TaxSettings(
            prices_include_tax=sale.prices_include_tax,
            per_receipt=self.config.tax_per_receipt,
            rates_ppm={line.tax_class: line.tax_rate_ppm for line in sale.live_lines},
        )
        return self.pricer(sale.promotion_set_version).price(lines, ctx, tax)

    def next_receipt(self) -> tuple[int, str]:
        """The next receipt number and its printed form; claim it with ``claim_counter``."""
        n = journal.counter(self.conn, "receipt") + 1
        return n, f"{self.config.receipt_stem}-{n:06d}"

    def versions(self) -> tuple[int, int, bool]:
        """(price book version, promotion set version, prices include tax) running now."""
        rows = dict(
            self.conn.execute(
                "SELECT kind, version FROM documents WHERE kind IN ('price_book', 'promotion_set')"
            ).fetchall()
        )
        row = self.conn.execute(
            "SELECT value FROM settings WHERE key = 'prices_include_tax'"
        ).fetchone()
        include = row is None or row[0] == "1"
        return int(rows.get("price_book", 0)), int(rows.get("promotion_set", 0)), include

    def due(self, sale: Sale, priced: PricedBasket | None = None) -> int:
        """What is still to pay: total, plus cash rounding settled, less tenders taken."""
        priced = priced or self.price(sale)
        return priced.total + sale.rounding - sale.paid

    # --- the view -----------------------------------------------------------------------------

    def view(self) -> View:
        sale_view = None
        total = due = 0
        if self.sale is not None:
            sale = self.sale
            priced = self.price(sale)
            by_line = {p.line_no: p for p in priced.lines}
            lines = []
            for line in sale.lines:
                p = by_line.get(line.line_no)
                lines.append(
                    LineView(
                        line_no=line.line_no,
                        name=line.name,
                        qty=line.qty,
                        uom=line.uom,
                        gross=p.gross if p else 0,
                        discount=(p.gross - p.net) if p else 0,
                        net=p.net if p else 0,
                        voided=line.voided,
                    )
                )
            sale_view = SaleView(
                sale_id=str(sale.sale_id),
                status=sale.status,
                lines=lines,
                subtotal=priced.subtotal,
                discount_total=priced.discount_total,
                tax_total=priced.tax_total,
                total=priced.total,
                rounding=sale.rounding,
                paid=sale.paid,
                due=self.due(sale, priced),
                member=(sale.member.first_name or sale.member.member_id) if sale.member else None,
                member_points=sale.member.points if sale.member else None,
                recommendation=sale.member.recommendation if sale.member else None,
            )
            total, due = priced.total, sale_view.due
        last = self.last_completed.record if self.last_completed is not None else None
        return View(
            cashier=self.session.cashier_id if self.session else None,
            shift_id=str(self.shift.shift_id) if self.shift else None,
            sale=sale_view,
            last_receipt=last.receipt_no if last is not None else None,
            last_change=self.last_change,
            customer=customer_display.lines(
                self.sale,
                total=total,
                due=due,
                currency=self.config.money,
                store_name=self.config.store_name,
                change=self.last_change,
                greet=self._greet,
            ),
            notices=self._current_notices(),
        )
