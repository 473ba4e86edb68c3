"""A barcode scanner on a serial line (RS-232, or USB in CDC/serial emulation mode).

Bytes go from :class:`~edge.peripherals.serial_port.SerialConnection`'s reader thread through a
:class:`~edge.peripherals.scanner.framing.ScanFramer`; the connection owns reconnecting after a
pulled cable, an :class:`~edge.peripherals.scanner.idle.IdleTimer` ends codes (no suffix) or
drops half codes (suffix) after a quiet gap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from edge.peripherals.base import DeviceError, PowerState
from edge.peripherals.scanner.device import Scanner
from edge.peripherals.scanner.framing import FramerConfig, ScanFramer
from edge.peripherals.scanner.idle import IdleTimer
from edge.peripherals.serial_port import Backoff, SerialConnection, SerialSettings


class SerialScanner(Scanner):
    """``idle`` (seconds) is the quiet gap that ends a code without suffix or drops a half one."""

    def __init__(
        self,
        name: str,
        settings: SerialSettings,
        framing: FramerConfig,
        *,
        idle: float = 0.2,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(name)
        if idle <= 0:
            raise ValueError("idle gap must be positive")
        self.settings = settings
        self.framing = framing
        self.idle = idle
        self._backoff = backoff
        self._framer_lock = threading.Lock()
        self._framer = ScanFramer(framing)
        self._last_data = 0.0
        self._closing = False
        self._conn: SerialConnection | None = None
        self._timer: IdleTimer | None = None

    def _on_open(self) -> None:
        self._closing = False
        self._framer = ScanFramer(self.framing)
        self._timer = IdleTimer(self.idle, self._on_idle, name=self.name)
        self._timer.start()
        self._conn = SerialConnection(
            self.settings, self._on_data, self._on_power, backoff=self._backoff, name=self.name
        )
        self._conn.start()

    def _on_close(self) -> None:
        self._closing = True
        if self._conn is not None:
            self._conn.stop()
        if self._timer is not None:
            self._timer.stop()

    def wait_online(self, timeout: float) -> bool:
        """True once the port is open (start-up and tests; the till never blocks on it)."""
        if self._conn is None:
            raise DeviceError(f"{self.name} is not open")
        return self._conn.wait_online(timeout)

    # -- reader and timer threads ----------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        with self._framer_lock:
            outcomes = self._framer.feed(data)
            waiting = self._framer.waiting
            self._last_data = time.monotonic()
        self._handle(outcomes)
        if waiting and self._timer is not None:
            self._timer.touch()

    def _on_idle(self) -> None:
        with self._framer_lock:
            if time.monotonic() - self._last_data < self.idle:
                return  # bytes came in while the timer fired; it has been re-armed
            outcomes = self._framer.flush()
        self._handle(outcomes)

    def _on_power(self, power: PowerState, detail: str) -> None:
        if power is PowerState.OFFLINE:
            with self._framer_lock:  # a code cut by the pulled cable is a half code
                outcomes = self._framer.flush() if self.framing.suffix else []
            self._handle(outcomes)
        if not self._closing:
            self._set_power(power, detail)

    def _counters(self) -> Mapping[str, int]:
        counters = dict(super()._counters())
        if self._conn is not None:
            counters["reconnects"] = self._conn.reconnects
            counters["bytes_in"] = self._conn.bytes_in
        return counters
