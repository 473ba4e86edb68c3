"""Barcode scanners: serial, USB keyboard-wedge (HID, through evdev) and simulated.

Each good scan reaches subscribers as ``on_scan(code, symbology)``; the till hands
``(symbology or "") + code`` to :func:`protocol.barcodes.parse_scan`.
"""

from edge.peripherals.scanner.config import build
from edge.peripherals.scanner.device import DropListener, ScanListener, Scanner, SimulatedScanner
from edge.peripherals.scanner.framing import DropReason, FramerConfig
from edge.peripherals.scanner.hid import HidScanner
from edge.peripherals.scanner.keymap import LAYOUTS, Layout
from edge.peripherals.scanner.serial_scanner import SerialScanner

__all__ = [
    "LAYOUTS",
    "DropListener",
    "DropReason",
    "FramerConfig",
    "HidScanner",
    "Layout",
    "ScanListener",
    "Scanner",
    "SerialScanner",
    "SimulatedScanner",
    "build",
]
