"""The serial scanner over a real pseudo-terminal, against the byte-accurate HIL emulator."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from edge.peripherals.base import PowerState, Status
from edge.peripherals.scanner import DropReason, FramerConfig, SerialScanner
from edge.peripherals.serial_port import Backoff, SerialSettings
from hil.devices.pty_cable import PtyCable
from hil.devices.scanner_emulator import WIRE_PREFIXES, WIRE_SUFFIXES, ScannerEmulator

WAIT = 5.0


class Rig:
    def __init__(self, scanner: SerialScanner, emulator: ScannerEmulator) -> None:
        self.scanner = scanner
        self.emulator = emulator
        self.scans: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self.drops: queue.Queue[DropReason] = queue.Queue()
        self.powers: queue.Queue[PowerState] = queue.Queue()
        scanner.subscribe_scans(lambda code, sym: self.scans.put((code, sym)))
        scanner.subscribe_drops(self.drops.put)
        scanner.subscribe(self._status)
        self._last_power = PowerState.UNKNOWN

    def _status(self, status: Status) -> None:
        if status.power is not self._last_power:
            self._last_power = status.power
            self.powers.put(status.power)

    def next_scan(self) -> tuple[str, str | None]:
        return self.scans.get(timeout=WAIT)

    def next_drop(self) -> DropReason:
        return self.drops.get(timeout=WAIT)

    def wait_power(self, power: PowerState) -> None:
        while (got := self.powers.get(timeout=WAIT)) is not power:
            pass
        assert got is power


@contextmanager
def rig(
    tmp_path: Path,
    *,
    suffix: str = "CR",
    prefix: str = "none",
    aim: bool = False,
    idle: float = 0.2,
) -> Iterator[Rig]:
    cable = PtyCable(tmp_path / "ttyScanner")
    scanner = SerialScanner(
        "scanner",
        SerialSettings(str(cable.path)),
        FramerConfig(suffix=WIRE_SUFFIXES[suffix], prefix=WIRE_PREFIXES[prefix], aim=aim),
        idle=idle,
        backoff=Backoff(initial=0.01, maximum=0.05),
    )
    r = Rig(scanner, ScannerEmulator(cable, suffix=suffix, prefix=prefix, aim=aim))
    try:
        with scanner.session():
            r.wait_power(PowerState.ONLINE)
            yield r
    finally:
        cable.close()


@pytest.mark.parametrize(
    ("suffix", "prefix", "aim"),
    [("CR", "none", False), ("CRLF", "none", True), ("ETX", "STX", True), ("TAB", "SOH", False)],
)
def test_codes_arrive_with_their_symbology(
    tmp_path: Path, suffix: str, prefix: str, aim: bool
) -> None:
    with rig(tmp_path, suffix=suffix, prefix=prefix, aim=aim) as r:
        r.emulator.scan("4006381333931", "]E0")
        r.emulator.scan_many(["96385074", "\x1d0104012345678901"], "]C1")
        ean, gs1 = ("]E0", "]C1") if aim else (None, None)
        assert r.next_scan() == ("4006381333931", ean)
        assert r.next_scan() == ("96385074", gs1)
        assert r.next_scan() == ("\x1d0104012345678901", gs1)
        assert r.scanner.health().counters["codes"] == 3


def test_garbage_and_half_codes_are_skipped_and_counted(tmp_path: Path) -> None:
    with rig(tmp_path, idle=0.1) as r:
        r.emulator.send_garbage(b"\xff\xfe\x00\x13BOOT\r")
        assert r.next_drop() is DropReason.NON_ASCII
        r.emulator.send_half("4006381333931")
        assert r.next_drop() is DropReason.TRUNCATED  # the idle gap ends it
        r.emulator.send_garbage(b"9" * 500 + b"\r")
        assert r.next_drop() is DropReason.TOO_LONG
        r.emulator.scan("4006381333931")
        assert r.next_scan() == ("4006381333931", None)
        counters = r.scanner.health().counters
        assert counters["non_ascii"] == counters["truncated"] == counters["too_long"] == 1
        assert counters["codes"] == 1
        assert r.scans.empty()


def test_without_suffix_the_idle_gap_ends_each_code(tmp_path: Path) -> None:
    with rig(tmp_path, suffix="none", idle=0.1) as r:
        r.emulator.scan("4006381333931")
        assert r.next_scan() == ("4006381333931", None)
        r.emulator.scan("96385074")
        assert r.next_scan() == ("96385074", None)


def test_scans_while_disabled_are_dropped_not_queued(tmp_path: Path) -> None:
    with rig(tmp_path) as r:
        r.scanner.disable()
        r.emulator.scan("1111111111116")
        assert r.next_drop() is DropReason.DISABLED
        r.scanner.enable()
        r.emulator.scan("4006381333931")
        assert r.next_scan() == ("4006381333931", None)
        assert r.scanner.health().counters["disabled"] == 1


def test_a_pulled_cable_goes_offline_and_scanning_resumes_when_plugged_back(
    tmp_path: Path,
) -> None:
    with rig(tmp_path) as r:
        r.emulator.scan("4006381333931")
        assert r.next_scan() == ("4006381333931", None)
        r.emulator.cable.unplug()
        r.wait_power(PowerState.OFFLINE)
        health = r.scanner.health()
        assert not health.ok
        r.emulator.cable.plug()
        r.wait_power(PowerState.ONLINE)
        r.emulator.scan("96385074")
        assert r.next_scan() == ("96385074", None)
        assert r.scanner.health().ok
