"""Scanners from TOML tables, the simulated scanner, and a keyboard scanner whose device is gone."""

from __future__ import annotations

import queue
import threading
import tomllib
from pathlib import Path
from typing import Any

import pytest

from edge.peripherals.base import DeviceError, PowerState, Status
from edge.peripherals.scanner import (
    LAYOUTS,
    DropReason,
    HidScanner,
    SerialScanner,
    SimulatedScanner,
    build,
)
from edge.peripherals.serial_port import Backoff

TOML = """
[devices.scanner]
backend = "serial"
port = "/dev/serial/by-id/usb-Datalogic-if00"
baudrate = 115200
parity = "E"
bytesize = 7
suffix = "CRLF"
prefix = "STX"
aim = true
max_length = 64
idle_ms = 100

[devices.wedge]
backend = "hid"
path = "/dev/input/by-id/usb-Honeywell-event-kbd"
layout = "de"

[devices.demo]
backend = "simulated"
"""


def test_build_from_toml() -> None:
    devices = tomllib.loads(TOML)["devices"]
    serial = build("scanner", devices["scanner"])
    assert isinstance(serial, SerialScanner)
    assert (serial.settings.baudrate, serial.settings.parity, serial.settings.bytesize) == (
        115200,
        "E",
        7,
    )
    assert serial.framing.suffix == b"\r\n"
    assert serial.framing.prefix == b"\x02"
    assert serial.framing.aim
    assert serial.framing.max_length == 64
    assert serial.idle == 0.1
    wedge = build("wedge", devices["wedge"])
    assert isinstance(wedge, HidScanner)
    assert wedge.layout is LAYOUTS["de"]
    assert isinstance(build("demo", devices["demo"]), SimulatedScanner)


def test_defaults() -> None:
    scanner = build("s", {"backend": "serial", "port": "/dev/ttyUSB0"})
    assert isinstance(scanner, SerialScanner)
    assert scanner.framing.suffix == b"\r"
    assert scanner.framing.prefix == b""
    assert scanner.idle == 0.2
    no_suffix = build("s", {"backend": "serial", "port": "/dev/ttyUSB0", "suffix": "none"})
    assert isinstance(no_suffix, SerialScanner)
    assert no_suffix.idle == 0.05


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({}, r"devices\.s\.backend must be one of serial, hid, simulated"),
        ({"backend": "usb"}, r"devices\.s\.backend"),
        ({"backend": "serial"}, r"devices\.s\.port is required"),
        ({"backend": "serial", "port": "/dev/x", "baud": 9600}, r"unknown key 'baud'"),
        ({"backend": "serial", "port": "/dev/x", "baudrate": 1234}, r"devices\.s\.baudrate"),
        ({"backend": "serial", "port": "/dev/x", "baudrate": "9600"}, r"devices\.s\.baudrate"),
        ({"backend": "serial", "port": "/dev/x", "suffix": "CR+LF"}, r"devices\.s\.suffix"),
        ({"backend": "serial", "port": "/dev/x", "prefix": "]E0"}, r"devices\.s\.prefix"),
        ({"backend": "serial", "port": "/dev/x", "parity": "M"}, r"devices\.s\.parity"),
        ({"backend": "serial", "port": "/dev/x", "idle_ms": 0}, r"devices\.s\.idle_ms"),
        ({"backend": "serial", "port": "/dev/x", "aim": "yes"}, r"devices\.s\.aim"),
        ({"backend": "serial", "port": "/dev/x", "max_length": 500}, r"devices\.s\.max_length"),
        ({"backend": "serial", "port": 7}, r"devices\.s\.port must be a string"),
        ({"backend": "hid"}, r"devices\.s\.path is required"),
        ({"backend": "hid", "path": "/dev/input/x", "layout": "fr"}, r"devices\.s\.layout"),
        ({"backend": "simulated", "port": "/dev/x"}, r"unknown key 'port'"),
    ],
)
def test_bad_config_names_the_key(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build("s", section)


def test_simulated_scanner_delivers_validates_and_unplugs() -> None:
    scanner = SimulatedScanner("scanner", max_length=20)
    scans: queue.Queue[tuple[str, str | None]] = queue.Queue()
    drops: queue.Queue[DropReason] = queue.Queue()
    scanner.subscribe_scans(lambda c, s: scans.put((c, s)))
    unsubscribe = scanner.subscribe_drops(drops.put)
    with scanner.session():
        assert scanner.power is PowerState.ONLINE
        scanner.scan("4006381333931")
        scanner.scan("4006381333931", "]E0")
        assert scans.get_nowait() == ("4006381333931", None)
        assert scans.get_nowait() == ("4006381333931", "]E0")
        scanner.scan("4006381333931\r")
        scanner.scan("Grüße")
        scanner.scan("1" * 21)
        assert [drops.get_nowait() for _ in range(3)] == [
            DropReason.NON_PRINTABLE,
            DropReason.NON_ASCII,
            DropReason.TOO_LONG,
        ]
        unsubscribe()
        scanner.unplug()
        assert scanner.status.power is PowerState.OFFLINE
        assert not scanner.health().ok
        scanner.scan("96385074")  # nothing: the cable is out
        scanner.plug()
        scanner.scan("96385074")
        assert scans.get_nowait() == ("96385074", None)
        assert scans.empty()
        assert scanner.health().counters == {
            "codes": 3,
            "non_printable": 1,
            "non_ascii": 1,
            "too_long": 1,
        }


def test_a_broken_listener_does_not_stop_delivery() -> None:
    scanner = SimulatedScanner("scanner")
    got: list[str] = []

    def broken(_code: str, _sym: str | None) -> None:
        raise RuntimeError("subscriber bug")

    scanner.subscribe_scans(broken)
    scanner.subscribe_scans(lambda c, _s: got.append(c))
    with scanner.session():
        scanner.scan("96385074")
    assert got == ["96385074"]


def test_a_keyboard_scanner_that_is_not_there_reports_offline(tmp_path: Path) -> None:
    """Real evdev against a path with no device: offline with the reason, and the till goes on."""
    scanner = HidScanner(
        "wedge", str(tmp_path / "event-kbd"), LAYOUTS["us"], backoff=Backoff(0.01, 0.02)
    )
    offline = threading.Event()
    details: list[str] = []

    def on_status(status: Status) -> None:
        if status.power is PowerState.OFFLINE:
            details.append(status.detail)
            offline.set()

    scanner.subscribe(on_status)
    with scanner.session():
        assert offline.wait(5)
        assert scanner.status.enabled
        assert not scanner.health().ok
    assert "cannot open" in details[0]
    assert "event-kbd" in details[0]


def test_a_keyboard_scanner_on_a_non_input_file_is_offline(tmp_path: Path) -> None:
    path = tmp_path / "not-an-input-device"
    path.write_bytes(b"")
    scanner = HidScanner("wedge", str(path), LAYOUTS["us"], backoff=Backoff(0.01, 0.02))
    offline = threading.Event()
    scanner.subscribe(lambda s: offline.set() if s.power is PowerState.OFFLINE else None)
    with scanner.session():
        assert offline.wait(5)


def test_lifecycle_is_enforced() -> None:
    scanner = SimulatedScanner("scanner")
    with pytest.raises(DeviceError, match="not open"):
        scanner.claim()
    scanner.open()
    with pytest.raises(DeviceError, match="claimed"):
        scanner.enable()
    scanner.close()
