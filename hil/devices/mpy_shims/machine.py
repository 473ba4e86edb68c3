"""Host stand-in for MicroPython's ``machine`` module on an RP2040: pins, I2C, UART, PWM, WDT.

Each class takes the constructor arguments the real one does (so ``main.py`` builds under it)
and adds a *host side* to drive and inspect it, as gpiozero's mock pins do: an input pin can be
driven or wired to a function, an I2C bus hands writes to attached devices, a UART has bytes
injected and taken, a PWM and a watchdog record what was done to them. Any part can be told to
fail (``fail = OSError(...)``) to test how the firmware copes.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from typing import Any

PWRON_RESET = 1
WDT_RESET = 3

RESET_CAUSE = PWRON_RESET
"""What :func:`reset_cause` reports; a test may set it."""
UNIQUE_ID = bytes.fromhex("e6614c311b7a5c2e")
"""What :func:`unique_id` reports (8 bytes, like an RP2040's flash id)."""


def reset_cause() -> int:
    return RESET_CAUSE


def unique_id() -> bytes:
    return UNIQUE_ID


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(
        self, id: Any, mode: int = -1, pull: int = -1, *, value: Any = None, **_: Any
    ) -> None:
        self.id = id
        self.mode = mode
        self.pull = pull
        self._out = 1 if value else 0
        self.source: Callable[[], int] | None = None
        """Host side: what an input reads (a wired circuit); None reads :attr:`level`."""
        self.level: int | None = None
        """Host side: the level driven onto an input; None floats to its pull."""
        self.fail: BaseException | None = None
        self.writes = 0

    def value(self, x: Any = None) -> int | None:
        if self.fail is not None:
            raise self.fail
        if x is not None:
            self._out = 1 if x else 0
            self.writes += 1
            return None
        if self.mode == Pin.OUT:
            return self._out
        if self.source is not None:
            return 1 if self.source() else 0
        if self.level is not None:
            return self.level
        return 1 if self.pull == Pin.PULL_UP else 0

    def on(self) -> None:
        self.value(1)

    def off(self) -> None:
        self.value(0)

    @property
    def output(self) -> int:
        """Host side: the level this pin drives as an output."""
        return self._out


class I2C:
    def __init__(self, id: Any = 0, *, scl: Any = None, sda: Any = None, freq: int = 400_000,
                 timeout: int = 50_000) -> None:  # fmt: skip
        self.id = id
        self.freq = freq
        self.devices: dict[int, Callable[[bytes], None]] = {}
        self.log: list[tuple[int, bytes]] = []
        """Host side: every acknowledged write, as ``(address, bytes)``."""
        self.fail: BaseException | None = None

    def attach(self, addr: int, device: Callable[[bytes], None]) -> None:
        """Host side: put a device on the bus; it receives the bytes of each write to it."""
        self.devices[addr] = device

    def writeto(self, addr: int, buf: bytes | bytearray, stop: bool = True, /) -> int:
        if self.fail is not None:
            raise self.fail
        device = self.devices.get(addr)
        if device is None:  # nobody acknowledges the address
            raise OSError(errno.EIO, "I2C address not acknowledged")
        data = bytes(buf)
        self.log.append((addr, data))
        device(data)
        return len(data)

    def scan(self) -> list[int]:
        return sorted(self.devices)


class UART:
    def __init__(self, id: Any = 0, baudrate: int = 9600, bits: int = 8, parity: Any = None,
                 stop: int = 1, *, rxbuf: int | None = None, **_: Any) -> None:  # fmt: skip
        self.id = id
        self.baudrate = baudrate
        self.rxbuf = rxbuf or 256
        self._rx = bytearray()
        self._tx = bytearray()
        self._lock = threading.Lock()
        self.overruns = 0
        """Host side: bytes lost because the receive buffer was full (as in hardware)."""
        self.fail: BaseException | None = None

    def any(self) -> int:
        if self.fail is not None:
            raise self.fail
        with self._lock:
            return len(self._rx)

    def read(self, nbytes: int | None = None) -> bytes | None:
        if self.fail is not None:
            raise self.fail
        with self._lock:
            n = len(self._rx) if nbytes is None else min(nbytes, len(self._rx))
            if n == 0:
                return None
            data = bytes(self._rx[:n])
            del self._rx[:n]
            return data

    def write(self, buf: bytes | bytearray) -> int:
        if self.fail is not None:
            raise self.fail
        with self._lock:
            self._tx += buf
        return len(buf)

    def inject(self, data: bytes) -> None:
        """Host side: bytes arriving on RX (beyond ``rxbuf`` they are lost, as on the chip)."""
        with self._lock:
            room = self.rxbuf - len(self._rx)
            self._rx += data[:room]
            self.overruns += max(0, len(data) - room)

    def take(self) -> bytes:
        """Host side: everything written to TX since the last call."""
        with self._lock:
            data = bytes(self._tx)
            self._tx.clear()
            return data

    def clear(self) -> None:
        """Host side: drop both buffers (the chip was reset)."""
        with self._lock:
            self._rx.clear()
            self._tx.clear()


class PWM:
    def __init__(self, dest: Any, *, freq: int = 1000, duty_u16: int = 0, **_: Any) -> None:
        self.dest = dest
        self._freq = freq
        self._duty = duty_u16
        self.log: list[tuple[int, int]] = []
        """Host side: ``(freq, duty_u16)`` after every change of either."""
        self.on_change: Callable[[int, int], None] | None = None
        self.fail: BaseException | None = None

    def freq(self, value: int | None = None) -> int | None:
        if self.fail is not None:
            raise self.fail
        if value is None:
            return self._freq
        self._freq = value
        self._changed()
        return None

    def duty_u16(self, value: int | None = None) -> int | None:
        if self.fail is not None:
            raise self.fail
        if value is None:
            return self._duty
        self._duty = value
        self._changed()
        return None

    def deinit(self) -> None:
        self.duty_u16(0)

    def _changed(self) -> None:
        self.log.append((self._freq, self._duty))
        if self.on_change is not None:
            self.on_change(self._freq, self._duty)


class WDT:
    def __init__(self, id: int = 0, timeout: int = 5000) -> None:
        self.timeout = timeout
        self.feeds = 0
        """Host side: how often the firmware fed it."""

    def feed(self) -> None:
        self.feeds += 1
