"""The network (raw TCP on 127.0.0.1) and USB (device file) transports against the emulator."""

from __future__ import annotations

import datetime as dt
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.peripherals.base import DeviceError, PowerState
from edge.peripherals.printer import (
    NetworkTransport,
    PrintWorker,
    ReceiptPrinter,
    UsbTransport,
    enqueue,
    job,
    render_sale,
)
from edge.store.db import open_store
from hil.devices.escpos_printer import EscPosPrinter
from hil.devices.pty_cable import PtyCable
from tests.edge.peripherals.printer.conftest import FAST, watch_power
from tests.edge.peripherals.printer.escpos_decoder import decode, receipts
from tests.edge.peripherals.printer.reference import EXPECTED_42, SALE, STORE

AT = dt.datetime(2026, 11, 22, 12, 1, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    conn = open_store(tmp_path / "till.db")
    try:
        yield tmp_path / "till.db", conn
    finally:
        conn.close()


def _state(conn: sqlite3.Connection, ref: str) -> str:
    found = job(conn, ref)
    assert found is not None
    return found.state


def test_network_printer_prints_survives_a_dropped_connection_and_reconnects(
    store: tuple[Path, sqlite3.Connection],
) -> None:
    path, conn = store
    emulator = EscPosPrinter(tcp=True)
    emulator.start()
    host, port = emulator.tcp_address
    assert host == "127.0.0.1"
    transport = NetworkTransport(host, port, backoff=FAST)
    printer = ReceiptPrinter("printer", transport, status_timeout=0.3)
    online, offline = watch_power(printer)
    printer.open()
    printer.claim()
    printer.enable()
    worker = PrintWorker(path, printer, retry_interval=0.05, clock=lambda: AT)
    try:
        assert online.wait(5)
        doc = printer.encode(render_sale(SALE, STORE, 42))
        enqueue(conn, "r1", "receipt", doc, AT)
        emulator.unplug_after(700)  # the connection drops mid-receipt
        offline.clear()
        online.clear()
        worker.start()
        assert offline.wait(5)
        assert online.wait(5)  # reconnected on its own
        assert worker.wait(lambda: _state(conn, "r1") == "done", 10)
        done = job(conn, "r1")
        assert done is not None
        assert done.attempts == 2
        printed = bytes(emulator.printed)
        assert decode(printed[printed.rindex(b"\x1b@\x1bt") :]).paper(42) == EXPECTED_42
        assert transport.reconnects == 1
        assert emulator.connections == 2

        emulator.set(paper="near_end")
        assert printer.check().reason == "printer paper low"
        assert printer.status.power is PowerState.ONLINE
    finally:
        worker.stop()
        printer.close()
        emulator.stop()


def test_a_network_printer_that_is_not_there_is_offline_and_says_why() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    powers: list[PowerState] = []
    transport = NetworkTransport("127.0.0.1", port, backoff=FAST, connect_timeout=0.2)
    printer = ReceiptPrinter("printer", transport, status_timeout=0.1)
    online, offline = watch_power(printer)
    printer.subscribe(lambda st: powers.append(st.power))
    printer.open()
    try:
        assert offline.wait(5)
        status = printer.check()
        assert not status.ready
        assert "cannot connect to 127.0.0.1" in status.reason
    finally:
        printer.close()
    assert not online.is_set()
    assert PowerState.OFFLINE in powers
    assert PowerState.ONLINE not in powers
    assert transport.reconnects == 0


def test_network_transport_refuses_a_bad_address() -> None:
    with pytest.raises(ValueError, match="needs a host"):
        NetworkTransport("")
    with pytest.raises(ValueError, match="port must be"):
        NetworkTransport("printer.local", 0)


def test_usb_device_file_prints_answers_status_and_reopens_after_unplug(tmp_path: Path) -> None:
    # /dev/usb/lp0 is a character device that reads and writes; a pty is one too, so the
    # emulator stands in for the printer behind usblp.
    cable = PtyCable(tmp_path / "lp0")
    emulator = EscPosPrinter(cable)
    emulator.start()
    transport = UsbTransport(str(cable.path))
    printer = ReceiptPrinter("printer", transport, status_timeout=0.3)
    online, offline = watch_power(printer)
    printer.open()
    printer.claim()
    printer.enable()
    try:
        assert online.wait(5)
        assert printer.check().ready
        emulator.set(cover_open=True)
        assert printer.check().reason == "printer cover open - close it"
        emulator.set(cover_open=False)
        doc = printer.encode(render_sale(SALE, STORE, 42))
        printer.print_bytes(doc)
        assert emulator.wait_for(lambda: len(emulator.printed) == len(doc))
        assert receipts(bytes(emulator.printed))[0].paper(42) == EXPECTED_42

        offline.clear()
        cable.unplug()
        # The first exchange may still reach the dying pty (no reply then) or fail with EIO;
        # either way the printer is not ready, and by the second the node is gone.
        assert not printer.check().ready
        assert not printer.check().ready
        assert offline.is_set()
        with pytest.raises(DeviceError, match="offline"):
            printer.print_bytes(b"lost\n")

        online.clear()
        cable.plug()
        assert printer.check().ready  # reopened by the check itself
        assert online.is_set()
        assert transport.counters()["reconnects"] == 1
    finally:
        printer.close()
        emulator.stop()
        cable.close()
