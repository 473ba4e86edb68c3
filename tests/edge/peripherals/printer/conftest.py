"""A receipt printer driver wired to the emulated printer over a real pty (and TCP)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge.peripherals.base import PowerState, Status
from edge.peripherals.printer import ReceiptPrinter, SerialTransport
from edge.peripherals.serial_port import Backoff, SerialSettings
from hil.devices.escpos_printer import EscPosPrinter
from hil.devices.pty_cable import PtyCable

FAST = Backoff(initial=0.01, maximum=0.05)


@dataclass
class Rig:
    cable: PtyCable
    emulator: EscPosPrinter
    printer: ReceiptPrinter
    online: threading.Event
    offline: threading.Event


def watch_power(printer: ReceiptPrinter) -> tuple[threading.Event, threading.Event]:
    """Events set whenever the printer's power becomes online / offline (tests clear them)."""
    online, offline = threading.Event(), threading.Event()

    def listener(status: Status) -> None:
        if status.power is PowerState.ONLINE:
            online.set()
        elif status.power is PowerState.OFFLINE:
            offline.set()

    printer.subscribe(listener)
    return online, offline


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    cable = PtyCable(tmp_path / "ttyPrinter")
    emulator = EscPosPrinter(cable)
    emulator.start()
    transport = SerialTransport(SerialSettings(str(cable.path), baudrate=38400), backoff=FAST)
    printer = ReceiptPrinter("printer", transport, status_timeout=0.3)
    online, offline = watch_power(printer)
    printer.open()
    printer.claim()
    printer.enable()
    try:
        assert online.wait(5), "the printer's port never opened"
        yield Rig(cable, emulator, printer, online, offline)
    finally:
        printer.close()
        emulator.stop()
        cable.close()
