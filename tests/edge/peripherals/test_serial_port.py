"""The reconnecting serial port against a real pty that is unplugged and plugged back."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import pytest

from edge.peripherals.base import DeviceError, PowerState
from edge.peripherals.serial_port import Backoff, SerialConnection, SerialSettings
from hil.devices.pty_cable import PtyCable


def _collect(cable: PtyCable, want: bytes, timeout: float = 5.0) -> bytes:
    got = b""
    deadline = 50
    while len(got) < len(want) and deadline:
        got += cable.read(timeout / 50)
        deadline -= 1
    return got


def test_bytes_both_ways_and_reconnect_after_unplug(tmp_path: Path) -> None:
    cable = PtyCable(tmp_path / "ttyScanner")
    data: queue.Queue[bytes] = queue.Queue()
    powers: queue.Queue[PowerState] = queue.Queue()
    conn = SerialConnection(
        SerialSettings(str(cable.path), baudrate=9600),
        data.put,
        lambda p, _d: powers.put(p),
        backoff=Backoff(initial=0.01, maximum=0.05),
    )
    conn.start()
    try:
        assert powers.get(timeout=5) is PowerState.ONLINE
        cable.write(b"4006381333931\r")
        got = b""
        while not got.endswith(b"\r"):
            got += data.get(timeout=5)
        assert got == b"4006381333931\r"
        conn.write(b"\x1b@")
        assert _collect(cable, b"\x1b@") == b"\x1b@"

        cable.unplug()
        assert powers.get(timeout=5) is PowerState.OFFLINE
        with pytest.raises(DeviceError, match="offline"):
            conn.write(b"x")

        cable.plug()
        assert powers.get(timeout=5) is PowerState.ONLINE
        assert conn.reconnects == 1
        cable.write(b"again\r")
        got = b""
        while not got.endswith(b"\r"):
            got += data.get(timeout=5)
        assert got == b"again\r"
    finally:
        conn.stop()
        cable.close()


def test_a_port_that_never_appears_reports_offline_once(tmp_path: Path) -> None:
    powers: list[PowerState] = []
    reported = threading.Event()

    def on_power(p: PowerState, _detail: str) -> None:
        powers.append(p)
        reported.set()

    conn = SerialConnection(
        SerialSettings(str(tmp_path / "missing")),
        lambda _b: None,
        on_power,
        backoff=Backoff(initial=0.001, maximum=0.002),
    )
    conn.start()
    try:
        assert reported.wait(5)
        assert not conn.wait_online(0.2)
    finally:
        conn.stop()
    assert powers == [PowerState.OFFLINE]


def test_backoff_grows_to_its_maximum_within_jitter() -> None:
    import random

    b = Backoff(initial=0.1, maximum=2.0, jitter=0.2)
    rng = random.Random(1)
    delays = [b.delay(i, rng) for i in range(10)]
    assert 0.08 <= delays[0] <= 0.12
    assert all(1.6 <= d <= 2.4 for d in delays[5:])
