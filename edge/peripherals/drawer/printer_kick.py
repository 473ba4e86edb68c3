"""A drawer on the receipt printer's RJ11 drawer port, kicked with ESC/POS ``ESC p``.

The printer driver owns the printer's connection, so this backend only needs something that
sends raw bytes (:class:`KickSink`, which the printer implements) and, if the drawer's switch is
wired to the port's pin 3, something that asks the printer for its ``DLE EOT 1`` status byte.
Without that callable the drawer's state is unknown.

Bytes (Epson ESC/POS): ``ESC p m t1 t2`` = ``1B 70 m t1 t2``; ``m`` 0 or 1 picks connector
pin 2 or pin 5; the pulse is on for ``t1 × 2 ms`` and off for ``t2 × 2 ms`` (a printer uses t1
when t2 < t1). ``DLE EOT 1`` = ``10 04 01`` answers one byte: bits 1 and 4 always 1, bits 0 and
7 always 0, bit 2 the level of connector pin 3. Which level means "open" depends on the drawer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Literal, Protocol

from edge.peripherals.drawer.device import SenseHandler

log = logging.getLogger(__name__)

Level = Literal["high", "low"]

DLE_EOT_PRINTER_STATUS = b"\x10\x04\x01"
"""The real-time query whose reply :func:`drawer_open_from_status` reads."""

_FIXED_MASK = 0b1001_0011
_FIXED_BITS = 0b0001_0010
_PIN3_HIGH = 0b0000_0100
_MAX_UNITS = 255
_MS_PER_UNIT = 2


class KickSink(Protocol):
    """Anything that passes bytes to the printer unchanged (the receipt printer driver)."""

    def send_raw(self, data: bytes) -> None:
        """Send ``data`` now; raise ``DeviceError`` if the printer cannot take it."""
        ...


PrinterStatus = Callable[[], int | None]
"""Asks the printer ``DLE EOT 1`` and returns its one-byte reply, ``None`` if it did not answer."""


def encode_kick(connector: int, on_ms: int, off_ms: int | None = None) -> bytes:
    """``ESC p m t1 t2`` for a pulse of ``on_ms`` then a rest of ``off_ms`` (default ``on_ms``).

    Times are rounded up to the printer's 2 ms unit, so the solenoid is never driven shorter
    than asked; the rest is never shorter than the pulse (the printer would ignore it anyway).
    """
    if connector not in (0, 1):
        raise ValueError(f"connector must be 0 (pin 2) or 1 (pin 5), got {connector!r}")
    top = _MAX_UNITS * _MS_PER_UNIT
    if isinstance(on_ms, bool) or not isinstance(on_ms, int) or not 1 <= on_ms <= top:
        raise ValueError(f"on_ms must be an int 1..{top}, got {on_ms!r}")
    off = on_ms if off_ms is None else off_ms
    if isinstance(off, bool) or not isinstance(off, int) or not 1 <= off <= top:
        raise ValueError(f"off_ms must be an int 1..{top}, got {off_ms!r}")
    t1 = -(-on_ms // _MS_PER_UNIT)
    t2 = max(t1, -(-off // _MS_PER_UNIT))
    return bytes((0x1B, 0x70, connector, t1, t2))


def drawer_open_from_status(status: int, open_level: Level) -> bool | None:
    """Read the drawer from a ``DLE EOT 1`` reply; ``None`` if the byte is not such a reply.

    The fixed bits are checked because a printer that answers something else (an ASB packet, a
    stale byte, line noise) must not be taken for a drawer state.
    """
    if not 0 <= status <= 0xFF or status & _FIXED_MASK != _FIXED_BITS:
        return None
    pin3_high = bool(status & _PIN3_HIGH)
    return pin3_high if open_level == "high" else not pin3_high


class PrinterKickBackend:
    """Kick through the printer; poll its status for the switch if a status callable is given."""

    def __init__(
        self,
        sink: KickSink,
        *,
        connector: int = 0,
        pulse_ms: int = 100,
        off_ms: int | None = None,
        status: PrinterStatus | None = None,
        sense_open_level: Level = "high",
        poll_interval: float = 0.25,
    ) -> None:
        self._command = encode_kick(connector, pulse_ms, off_ms)
        if poll_interval <= 0:
            raise ValueError("poll_interval must be > 0 seconds")
        self._sink = sink
        self._status = status
        self.sense_open_level: Level = sense_open_level
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._counts = {"pulses": 0, "status_bad": 0, "status_missing": 0}

    @property
    def command(self) -> bytes:
        return self._command

    @property
    def has_sense(self) -> bool:
        return self._status is not None

    def start(self, on_sense: SenseHandler) -> bool | None:
        if self._status is None:
            return None
        self._stop.clear()
        first = self._read()
        self._thread = threading.Thread(
            target=self._poll, args=(on_sense,), name="drawer status poll", daemon=True
        )
        self._thread.start()
        return first

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def pulse(self) -> None:
        self._sink.send_raw(self._command)
        self._counts["pulses"] += 1

    def counters(self) -> Mapping[str, int]:
        return dict(self._counts)

    def _poll(self, on_sense: SenseHandler) -> None:
        # No interrupt exists on this path: the printer only answers when asked.
        while not self._stop.wait(self.poll_interval):
            reading = self._read()
            if reading is not None:
                on_sense(reading)

    def _read(self) -> bool | None:
        assert self._status is not None
        try:
            reply = self._status()
        except Exception as exc:  # the printer's problem must not end the poll
            self._counts["status_missing"] += 1
            log.debug("drawer status query failed: %s", exc)
            return None
        if reply is None:
            self._counts["status_missing"] += 1
            return None
        reading = drawer_open_from_status(reply, self.sense_open_level)
        if reading is None:
            self._counts["status_bad"] += 1
            log.debug("drawer status: not a DLE EOT 1 reply: %#04x", reply)
        return reading
