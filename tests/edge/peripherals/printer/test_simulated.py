"""The simulated printer: what the demo and the HIL rig print on, driven through the same device."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.peripherals.base import DeviceError, DeviceState, PowerState, Status
from edge.peripherals.printer import (
    Paper,
    PrintWorker,
    ReceiptPrinter,
    SimulatedTransport,
    build,
    enqueue,
    job,
    render_sale,
)
from edge.peripherals.printer.escpos_encode import drawer_kick
from edge.store.db import open_store
from tests.edge.peripherals.printer.escpos_decoder import decode
from tests.edge.peripherals.printer.reference import EXPECTED_42, SALE, STORE

AT = dt.datetime(2026, 11, 22, 12, 1, tzinfo=dt.UTC)


@pytest.fixture
def printer() -> Iterator[ReceiptPrinter]:
    p = build("printer", {"backend": "simulated"})
    p.open()
    p.claim()
    p.enable()
    try:
        yield p
    finally:
        p.close()


def _sim(printer: ReceiptPrinter) -> SimulatedTransport:
    assert isinstance(printer.transport, SimulatedTransport)
    return printer.transport


def test_it_is_online_as_soon_as_it_is_open(printer: ReceiptPrinter) -> None:
    assert printer.status.power is PowerState.ONLINE
    assert printer.check().ready


def test_the_worker_prints_on_it_and_paper_out_holds_the_job(
    printer: ReceiptPrinter, tmp_path: Path
) -> None:
    sim = _sim(printer)
    path = tmp_path / "till.db"
    conn: sqlite3.Connection = open_store(path)
    worker = PrintWorker(path, printer, retry_interval=0.05, clock=lambda: AT)
    try:
        sim.set_paper(Paper.OUT)
        enqueue(conn, "r1", "receipt", printer.encode(render_sale(SALE, STORE, 42)), AT)
        worker.start()
        reason = "printer paper out - load a new roll"
        assert worker.wait(lambda: getattr(job(conn, "r1"), "last_error", None) == reason, 10)
        assert printer.status.state is DeviceState.ERROR
        assert sim.receipts() == []

        sim.set_paper(Paper.OK)
        assert worker.wait(lambda: getattr(job(conn, "r1"), "state", None) == "done", 10)
        (receipt,) = sim.receipts()
        assert decode(receipt).paper(42) == EXPECTED_42
        # The demo's virtual paper: the text lines, styles and alignment dropped.
        assert sim.receipt_text() == [line.text for line in decode(receipt).lines]
        assert sim.receipt_text()[-1] == "Returns within 30 days with receipt"
    finally:
        worker.stop()
        conn.close()


def test_unplugging_it_is_seen_by_the_device(printer: ReceiptPrinter) -> None:
    sim = _sim(printer)
    seen: list[PowerState] = []
    changed = threading.Event()

    def listener(status: Status) -> None:
        seen.append(status.power)
        changed.set()

    printer.subscribe(listener)
    sim.plug(False)
    assert changed.wait(1)
    assert seen == [PowerState.OFFLINE]
    assert not printer.check().ready
    with pytest.raises(DeviceError, match="offline"):
        printer.print_bytes(b"x\n")
    sim.plug(True)
    assert seen[-1] is PowerState.ONLINE
    assert printer.check().ready


def test_a_silent_simulated_printer_and_errors(printer: ReceiptPrinter) -> None:
    sim = _sim(printer)
    sim.set_answering(False)
    assert printer.check().reason == "printer not answering: no reply to a status query"
    sim.set_answering(True)
    sim.set_cover_open(True)
    assert printer.check().reason == "printer cover open - close it"
    sim.set_cover_open(False)
    sim.set_error(cutter=True)
    assert printer.check().cutter_error
    sim.set_error()
    sim.set_drawer_pin(True)
    status = printer.check()
    assert status.ready
    assert status.drawer_pin3_high


def test_drawer_kicks_are_counted_and_recorded(printer: ReceiptPrinter) -> None:
    printer.kick_drawer()
    sim = _sim(printer)
    assert sim.kicks == 1
    assert bytes(sim.received).endswith(drawer_kick())


def test_config_can_start_it_without_paper() -> None:
    p = build("printer", {"backend": "simulated", "paper": "out"})
    p.open()
    try:
        assert p.check().paper is Paper.OUT
    finally:
        p.close()
