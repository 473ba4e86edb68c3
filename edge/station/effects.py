"""Carry out the effects the checkout recorded: print receipts, kick the drawer.

The checkout commits an ``effects`` row (``pending``) in the same transaction as the sale; this
runner, on its own thread and store connection, takes each one in order:

* ``receipt`` — the committed record (never live state) is laid out, encoded for this printer
  and queued in ``print_jobs`` **in the same transaction** that marks the effect done. The print
  worker prints it until it succeeds: a receipt is printed at least once, never lost.
* ``drawer`` — the effect is marked done **before** the kick: a crash between the two costs a
  key-opening, never a second opening (cash handed over twice is money lost).
* ``test_page`` — HQ's ``print_test_page`` command, printed unconfirmed.
* ``report`` — X/Z reports are records in the journal and at HQ; printing them needs a report
  layout the printer does not have yet, so the effect is closed with that said.

A missing or broken device never blocks anything: the effect is closed with the reason (shown
in ``device.health`` and the operator screen), and the cashier falls back to the drawer key.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from edge.checkout import events as ev
from edge.peripherals.base import DeviceError
from edge.peripherals.printer.document import Align, Document, Text
from edge.peripherals.printer.layout import StoreInfo, render_refund, render_sale
from edge.peripherals.printer.queue import enqueue
from edge.station.devices import Devices
from edge.store.db import open_store, transaction
from edge.store.documents import device_config
from protocol.messages.uplink import SaleCompleted

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class EffectsRunner:
    """Takes pending effects in order; see the module docstring."""

    POLL_S = 1.0
    """Also look without being woken (effects left by a crash, a wake-up lost)."""

    def __init__(
        self,
        store_path: Path,
        devices: Devices,
        *,
        store_name: str,
        clock: Clock | None = None,
    ) -> None:
        self.store_path = store_path
        self.devices = devices
        self.store_name = store_name
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self.done = 0
        self.failed = 0
        self.processed = 0
        """Effects fully carried out (a drawer effect counts once its kick returned)."""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="effects", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wake(self) -> None:
        """New effects were committed (called after every accepted command)."""
        self._wake.set()

    def wait(self, predicate: Callable[[EffectsRunner], bool], timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: predicate(self), timeout)

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        conn = open_store(self.store_path, check=False)
        try:
            while not self._stop.is_set():
                self._wake.clear()
                while not self._stop.is_set() and self._one(conn):
                    pass
                with self._idle:
                    self._idle.notify_all()
                self._wake.wait(self.POLL_S)
        finally:
            conn.close()

    def _one(self, conn: sqlite3.Connection) -> bool:
        row = conn.execute(
            "SELECT id, kind, ref FROM effects WHERE state = 'pending' ORDER BY id LIMIT 1"
        ).fetchone()
        if row is None:
            return False
        effect_id, kind, ref = int(row[0]), str(row[1]), str(row[2])
        try:
            if kind == "receipt":
                self._receipt(conn, effect_id, ref)
            elif kind == "drawer":
                self._drawer(conn, effect_id, ref)
            elif kind == "test_page":
                self._test_page(conn, effect_id)
            else:
                self._close(conn, effect_id, "done", f"no {kind} printing on this till yet")
        except Exception as exc:  # one bad effect must not block the ones after it
            log.exception("effect %s %s failed", kind, ref)
            self._close(conn, effect_id, "failed", f"internal error: {exc}"[:200])
        with self._idle:
            self.processed += 1
            self._idle.notify_all()
        return True

    def _close(
        self, conn: sqlite3.Connection, effect_id: int, state: str, detail: str | None
    ) -> None:
        with transaction(conn):
            self._mark(conn, effect_id, state, detail)

    def _mark(
        self, conn: sqlite3.Connection, effect_id: int, state: str, detail: str | None
    ) -> None:
        conn.execute(
            "UPDATE effects SET state = ?, detail = ?, done_at = ? WHERE id = ?",
            (state, detail, self.clock().isoformat(), effect_id),
        )
        if state == "done":
            self.done += 1
        else:
            self.failed += 1

    # -- receipts --------------------------------------------------------------------------

    def _receipt(self, conn: sqlite3.Connection, effect_id: int, receipt_no: str) -> None:
        printer = self.devices.printer
        if printer is None:
            self._close(conn, effect_id, "done", "no printer configured")
            return
        store = self._store_info(conn)
        doc = self._layout(conn, receipt_no, store, printer.width)
        if doc is None:
            self._close(conn, effect_id, "failed", f"no record of receipt {receipt_no}")
            return
        data = printer.encode(doc)
        with transaction(conn):
            enqueue(conn, receipt_no, "receipt", data, self.clock())
            self._mark(conn, effect_id, "done", "queued for the printer")
        if self.devices.print_worker is not None:
            self.devices.print_worker.wake()

    def _layout(
        self, conn: sqlite3.Connection, receipt_no: str, store: StoreInfo, width: int
    ) -> Document | None:
        row = conn.execute(
            "SELECT record FROM sales WHERE receipt_no = ? AND record IS NOT NULL", (receipt_no,)
        ).fetchone()
        if row is not None:
            return render_sale(_sale(bytes(row[0])), store, width)
        for (data,) in conn.execute(
            "SELECT data FROM journal WHERE kind = 'refund.completed' ORDER BY id DESC"
        ):
            event = ev.decode(data)
            if isinstance(event, ev.RefundCompleted) and event.record.receipt_no == receipt_no:
                original = conn.execute(
                    "SELECT record FROM sales WHERE sale_id = ?",
                    (str(event.record.original_sale_id),),
                ).fetchone()
                bought = _sale(bytes(original[0])) if original and original[0] else None
                return render_refund(event.record, store, width, original=bought)
        return None

    def _store_info(self, conn: sqlite3.Connection) -> StoreInfo:
        config = device_config(conn)
        if config is not None:
            return StoreInfo.from_device_config(config)
        return StoreInfo(name=self.store_name)

    def _test_page(self, conn: sqlite3.Connection, effect_id: int) -> None:
        printer = self.devices.printer
        if printer is None:
            self._close(conn, effect_id, "done", "no printer configured")
            return
        self._close(conn, effect_id, "done", "sent to the printer")
        lines = ("TEST PAGE", self._store_info(conn).name, self.clock().isoformat()[:19])
        doc = Document(
            printer.width, tuple(Text(line[: printer.width], Align.CENTER) for line in lines)
        )
        try:
            printer.print_bytes(printer.encode(doc))
        except DeviceError as exc:
            log.warning("test page not printed: %s", exc)

    # -- the drawer ------------------------------------------------------------------------

    def _drawer(self, conn: sqlite3.Connection, effect_id: int, ref: str) -> None:
        drawer = self.devices.drawer
        if drawer is None:
            self._close(conn, effect_id, "failed", "no drawer configured: open it by key")
            return
        # Done first: at most once, even across a crash right after this commit.
        self._close(conn, effect_id, "done", "kicked")
        try:
            drawer.kick(ref)
        except DeviceError as exc:
            log.warning("drawer not opened for %s: %s", ref, exc)
            with transaction(conn):
                conn.execute(
                    "UPDATE effects SET state = 'failed', detail = ? WHERE id = ?",
                    (f"{exc} — open it by key"[:200], effect_id),
                )
            self.failed += 1


def _sale(data: bytes) -> SaleCompleted:
    return msgspec.json.decode(data, type=SaleCompleted)
