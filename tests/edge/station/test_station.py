"""A whole till in-process with simulated devices: scans become lines, a weighed item takes the
scale's stable weight, the customer sees the basket, a cash sale prints its receipt and opens
the drawer once — and a restart neither prints nor opens again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.checkout import commands as cmd
from edge.peripherals.base import DeviceState, Status
from edge.peripherals.drawer import SimulatedDrawerBackend
from edge.peripherals.ioboard import SimulatedIoBoard
from edge.peripherals.pole_display import PoleDisplay
from edge.peripherals.printer.simulated import SimulatedTransport
from edge.peripherals.printer.status import Paper
from edge.peripherals.scale import SimulatedScale
from edge.peripherals.scanner import SimulatedScanner
from edge.settings import Settings
from edge.station.app import Station
from tests.edge.tillkit import Clock, config, seed_store

DEVICES: dict[str, dict[str, Any]] = {
    "printer": {"backend": "simulated"},
    "drawer": {"backend": "simulated", "open_delay_ms": 1},
    "scanner": {"backend": "simulated"},
    "scale": {"backend": "simulated"},
    "pole_display": {"backend": "simulated", "marquee_ms": 0},
    "ioboard": {"backend": "simulated"},
}


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        config=config(),
        data_dir=tmp_path / "data",
        socket=tmp_path / "till.sock",
        devices=DEVICES,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = _settings(tmp_path)
    s.data_dir.mkdir()
    seed_store(s.store_path)
    return s


@pytest.fixture
def station(settings: Settings) -> Iterator[Station]:
    st = Station(settings, clock=Clock())
    st.start()
    yield st
    st.stop()


def _pulses(station: Station) -> int:
    assert station.devices.drawer is not None
    backend = station.devices.drawer.backend
    assert isinstance(backend, SimulatedDrawerBackend)
    return backend.pulses


def _paper(station: Station) -> SimulatedTransport:
    assert station.devices.printer is not None
    transport = station.devices.printer.transport
    assert isinstance(transport, SimulatedTransport)
    return transport


def test_scan_weigh_pay_print_and_kick_once(settings: Settings, station: Station) -> None:
    submit = station.server.submit
    assert submit(cmd.Login(cashier_id="c1", pin="1234")).ok
    assert submit(cmd.OpenShift(opening_float=10_000)).ok
    # The float goes into the drawer: one kick.
    assert station.effects.wait(lambda e: e.processed >= 1, 10)
    assert _pulses(station) == 1
    drawer = station.devices.drawer
    assert drawer is not None
    assert drawer.wait_open(5)
    assert isinstance(drawer.backend, SimulatedDrawerBackend)
    drawer.backend.close_by_hand()  # the cashier shuts it: a drawer left open is never kicked
    assert drawer.wait_closed(5)

    scanner = station.devices.scanners[0]
    assert isinstance(scanner, SimulatedScanner)
    scale = station.devices.scale
    assert isinstance(scale, SimulatedScale)
    scanner.scan("4006381333931")  # milk 1.19
    assert station.inputs.wait_handled(1, 10)
    assert station.inputs.replies[-1].ok, station.inputs.replies[-1].reason

    scale.set_weight(1250)  # apples 2.99/kg, weighed: 1.250 kg = 3.74
    station.inputs.enter(cmd.AddItem(plu="4131"))  # keyed: loose produce has no barcode
    assert station.inputs.wait_handled(2, 10)
    reply = station.inputs.replies[-1]
    assert reply.ok, reply.reason
    sale = reply.view.sale
    assert sale is not None
    assert [line.qty for line in sale.lines] == [1, 1250]

    display = station.devices.displays[0]
    assert isinstance(display, PoleDisplay)
    assert [line.rstrip() for line in display.lines] == [
        line.rstrip() for line in reply.view.customer
    ]

    paid = submit(cmd.Tender(kind="cash", amount=1000))
    assert paid.ok, paid.reason
    receipt_no = paid.data["receipt_no"] if paid.data else None
    assert receipt_no
    worker = station.devices.print_worker
    assert worker is not None
    assert worker.wait(lambda: len(_paper(station).receipts()) == 1, 10)
    text = "\n".join(_paper(station).receipt_text())
    assert receipt_no in text
    assert "3.74" in text
    assert "1.19" in text
    assert station.effects.wait(lambda e: e.processed >= 3, 10)  # float kick, receipt, sale kick
    assert _pulses(station) == 2


def test_a_restart_neither_prints_nor_kicks_again(settings: Settings) -> None:
    first = Station(settings, clock=Clock())
    first.start()
    try:
        submit = first.server.submit
        assert submit(cmd.Login(cashier_id="c1", pin="1234")).ok
        assert submit(cmd.OpenShift(opening_float=0)).ok
        assert submit(cmd.AddItem(code="4006381333931")).ok
        assert submit(cmd.Tender(kind="cash", amount=200)).ok
        assert first.effects.wait(lambda e: e.processed >= 2, 10)
        worker = first.devices.print_worker
        assert worker is not None
        assert worker.wait(lambda: len(_paper(first).receipts()) == 1, 10)
        assert _pulses(first) == 1
    finally:
        first.stop()

    second = Station(settings, clock=Clock())
    second.start()
    try:
        # Give it every chance to find something to do, then check it did nothing.
        second.effects.wake()
        assert second.effects.wait(lambda e: True, 5)
        pending = second.conn.execute(
            "SELECT COUNT(*) FROM effects WHERE state = 'pending'"
        ).fetchone()[0]
        assert pending == 0
        assert _pulses(second) == 0
        assert _paper(second).receipts() == []
    finally:
        second.stop()


def test_no_printer_or_drawer_configured_never_blocks_a_sale(tmp_path: Path) -> None:
    s = Settings(
        config=config(),
        data_dir=tmp_path / "data",
        socket=tmp_path / "till.sock",
        devices={},
    )
    s.data_dir.mkdir()
    seed_store(s.store_path)
    station = Station(s, clock=Clock())
    station.start()
    try:
        submit = station.server.submit
        assert submit(cmd.Login(cashier_id="c1", pin="1234")).ok
        assert submit(cmd.OpenShift(opening_float=0)).ok
        assert submit(cmd.AddItem(code="4006381333931")).ok
        assert submit(cmd.Tender(kind="cash", amount=200)).ok
        assert station.effects.wait(lambda e: e.processed >= 2, 10)
        rows = dict(
            station.conn.execute("SELECT kind, detail FROM effects WHERE kind != 'x'").fetchall()
        )
        assert rows["receipt"] == "no printer configured"
        assert "open it by key" in rows["drawer"]
    finally:
        station.stop()


def test_the_keypad_sells_loose_produce_by_plu_and_weight(station: Station) -> None:
    submit = station.server.submit
    assert submit(cmd.Login(cashier_id="c1", pin="1234")).ok
    assert submit(cmd.OpenShift(opening_float=0)).ok
    scale = station.devices.scale
    assert isinstance(scale, SimulatedScale)
    board = station.devices.ioboard
    assert board is not None
    backend = board.backend
    assert isinstance(backend, SimulatedIoBoard)
    scale.set_weight(500)  # apples 2.99/kg: 1.50 (HALF_UP of 1.495)
    backend.type(["4", "1", "3", "1", "PLU"])
    assert station.inputs.wait_handled(1, 10)
    reply = station.inputs.replies[-1]
    assert reply.ok, reply.reason
    assert reply.view.sale is not None
    assert [line.qty for line in reply.view.sale.lines] == [500]
    backend.type(["CASH"])  # no entry: the exact amount due
    assert station.inputs.wait_handled(2, 10)
    paid = station.inputs.replies[-1]
    assert paid.ok, paid.reason
    assert paid.view.sale is None
    assert paid.view.last_change == 0


def test_a_printer_out_of_paper_tells_the_cashier_and_the_receipt_waits(station: Station) -> None:
    submit = station.server.submit
    assert submit(cmd.Login(cashier_id="c1", pin="1234")).ok
    assert submit(cmd.OpenShift(opening_float=0)).ok
    printer = station.devices.printer
    assert printer is not None
    in_error = threading.Event()

    # Listeners run in subscription order: when this one runs, the station's already has.
    def on_status(status: Status) -> None:
        if status.state is DeviceState.ERROR:
            in_error.set()

    printer.subscribe(on_status)
    _paper(station).set_paper(Paper.OUT)
    assert submit(cmd.AddItem(code="4006381333931")).ok
    assert submit(cmd.Tender(kind="cash", amount=200)).ok  # the sale completes regardless
    worker = station.devices.print_worker
    assert worker is not None
    assert in_error.wait(10), printer.status
    view = submit(cmd.Status()).view
    assert any("paper" in notice for notice in view.notices), view.notices
    assert _paper(station).receipts() == []
    _paper(station).set_paper(Paper.OK)
    worker.wake()
    assert worker.wait(lambda: len(_paper(station).receipts()) == 1, 10)
    assert submit(cmd.Status()).view.notices == ()
