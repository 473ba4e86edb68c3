"""A retail scale, byte for byte, at the far end of a :class:`PtyCable`.

It answers the Toledo 8217 or the Adam (MDW, S.F. 3) protocol from its current state — a load
in integer grams, settling or not, over capacity, below zero — and can misbehave on demand:
never settle, fall silent, put garbage before a reply, send half a reply, or be unplugged
through the cable. The encoders here are written from the manuals independently of the till's
decoders (``edge/peripherals/scale``), so the tests compare two readings of the documents.

Toledo 8217: ``W`` → ``STX`` + weight in kg with its decimal point + ``CR`` when the weight is
valid, else ``STX ? status CR`` (status bits: 0 motion, 1 over capacity, 2 under zero, 3 outside
zero range, 4 centre of zero, 5 and 6 set); ``Z`` → zero, status record.

Adam: ``W CR`` → ``LF`` + 9-character field + ``kg`` + ``CR LF`` + H1 H2 H3 + ``CR ETX``;
``S``/``Z``/``T`` ``CR`` → ``LF H1 H2 H3 CR ETX``; anything else → ``LF ? CR ETX``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType

from hil.devices.pty_cable import PtyCable

STX, CR, LF, ETX = b"\x02", b"\x0d", b"\x0a", b"\x03"
ZERO_RANGE_PERCENT = 2


def even_parity(data: bytes) -> bytes:
    """Set bit 7 of each byte so it has an even number of ones (7E1 as a raw 8-bit stream)."""
    return bytes(b | 0x80 if bin(b).count("1") % 2 else b for b in data)


def kg_text(grams: int, decimals: int, *, pad: bool = True) -> str:
    """Grams as a display shows kg: whole kg (2 digits when ``pad``), point, ``decimals``."""
    units = grams * 10**decimals // 1000
    whole, frac = divmod(units, 10**decimals)
    text = f"{whole:02d}" if pad else str(whole)
    return f"{text}.{frac:0{decimals}d}" if decimals else text


def toledo_weight(grams: int, decimals: int = 3, *, net: bool = False) -> bytes:
    return STX + kg_text(grams, decimals).encode() + (b"N" if net else b"") + CR


def toledo_status(
    *, motion: bool = False, over: bool = False, under: bool = False, center: bool = False
) -> bytes:
    status = 0x60 | motion | over << 1 | under << 2 | center << 4
    return STX + b"?" + bytes([status]) + CR


def adam_status(
    *, motion: bool = False, at_zero: bool = False, under: bool = False, over: bool = False,
    net: bool = False,
) -> bytes:  # fmt: skip
    """H1 H2 H3 (MDW manual, Table 1), normal work mode."""
    return bytes([0x30 | motion | at_zero << 1, 0x70 | under | over << 1, 0x31 | net << 2])


def adam_weight(grams: int, status: bytes, decimals: int = 3, *, unit: bytes = b"kg") -> bytes:
    """``LF field unit CR LF H1H2H3 CR ETX``; over/under capacity fill the field with ^ / _."""
    if status[1] & 2:
        field = "^" * 9
    elif status[1] & 1:
        field = "_" * 9
    else:  # polarity, then 7 digits and the point, leading zeros suppressed
        sign = "-" if grams < 0 else " "
        field = sign + kg_text(abs(grams), decimals, pad=False).rjust(8)
    return LF + field.encode() + unit + CR + LF + status + CR + ETX


def adam_status_reply(status: bytes) -> bytes:
    return LF + status + CR + ETX


@dataclass
class _State:
    load: int = 0
    zero: int = 0
    tare: int = 0
    stable: bool = True
    settle_after: int = 0


class ScaleEmulator:
    """The scale's side of the cable; run it with :meth:`start` / :meth:`stop` (or ``with``).

    ``decimals`` is how many kg decimals the display has (3: 1 g divisions); ``parity_bit``
    sends every byte with its even-parity bit set, as a 7E1 scale looks to an 8N1 port.
    """

    def __init__(
        self,
        cable: PtyCable,
        protocol: str = "toledo8217",
        *,
        decimals: int = 3,
        capacity_grams: int = 15_000,
        parity_bit: bool = False,
    ) -> None:
        if protocol not in ("toledo8217", "adam"):
            raise ValueError(f"unknown protocol {protocol!r}")
        if not 0 <= decimals <= 3:
            raise ValueError("decimals must be 0..3 (kg)")
        self.cable = cable
        self.protocol = protocol
        self.decimals = decimals
        self.capacity_grams = capacity_grams
        self.parity_bit = parity_bit
        self._state = _State()
        self._lock = threading.Lock()
        self._seen = threading.Condition(self._lock)
        self._silent = False
        self._garbage_next = b""
        self._half_next = False
        self._pending = bytearray()
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ScaleEmulator:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="scale emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ScaleEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what a test or the rig does to the scale ------------------------------------------

    def set_weight(self, grams: int, *, stable: bool = True, settle_after: int = 0) -> None:
        """Put ``grams`` (gross) on the platter; in motion for ``settle_after`` requests, or
        for good if not ``stable``."""
        with self._lock:
            self._state.load, self._state.stable = grams, stable
            self._state.settle_after = settle_after

    def never_settle(self) -> None:
        with self._lock:
            self._state.stable = False

    def set_silent(self, silent: bool) -> None:
        with self._lock:
            self._silent = silent

    def garbage_before_next_reply(self, data: bytes) -> None:
        with self._lock:
            self._garbage_next = data

    def half_next_reply(self) -> None:
        """Send only the first half of the next reply (a glitch, or the cable pulled mid-reply)."""
        with self._lock:
            self._half_next = True

    def inject(self, data: bytes) -> None:
        """Raw bytes on the line now."""
        self.cable.write(data)

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """True once ``count`` requests in total have arrived."""
        with self._seen:
            return self._seen.wait_for(lambda: len(self.requests) >= count, timeout)

    # -- the scale -------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.cable.plugged:
                self._stop.wait(0.02)
                continue
            for byte in self.cable.read(0.05):
                command = self._collect(byte)
                if command is not None:
                    self._answer(command)

    def _collect(self, byte: int) -> bytes | None:
        if self.protocol == "toledo8217":
            return bytes([byte & 0x7F])
        if byte == CR[0]:
            command, self._pending = bytes(self._pending), bytearray()
            return command
        self._pending.append(byte)
        return None

    def _answer(self, command: bytes) -> None:
        with self._lock:
            self.requests.append(command)
            self._seen.notify_all()
            if self._silent:
                return
            reply = self._toledo(command) if self.protocol == "toledo8217" else self._adam(command)
            garbage, self._garbage_next = self._garbage_next, b""
            if self._half_next:
                self._half_next = False
                reply = reply[: len(reply) // 2]
        if self.parity_bit:
            reply = even_parity(reply)
        self.cable.write(garbage + reply)

    def _reading(self) -> tuple[int, bool, bool, bool]:
        """(shown grams, motion, over capacity, under zero) as the scale sees them now."""
        s = self._state
        gross = s.load - s.zero
        motion = not s.stable or s.settle_after > 0
        if s.settle_after > 0:
            s.settle_after -= 1
        return gross - s.tare, motion, gross > self.capacity_grams, gross < 0

    def _zero_or_tare(self, command: bytes) -> None:
        s = self._state
        gross = s.load - s.zero
        if not s.stable or s.settle_after > 0 or gross < 0 or gross > self.capacity_grams:
            return
        if command == b"Z" and abs(gross) * 100 <= self.capacity_grams * ZERO_RANGE_PERCENT:
            s.zero, s.tare = s.load, 0
        elif command == b"T":
            s.tare = gross

    def _toledo(self, command: bytes) -> bytes:
        shown, motion, over, under = self._reading()
        if command == b"W" and not (motion or over or under):
            return toledo_weight(shown, self.decimals, net=self._state.tare > 0)
        if command == b"Z":
            self._zero_or_tare(command)
            shown, motion, over, under = self._reading()
        return toledo_status(motion=motion, over=over, under=under, center=shown == 0)

    def _adam(self, command: bytes) -> bytes:
        if command in (b"Z", b"T"):
            self._zero_or_tare(command)
        if command not in (b"W", b"S", b"Z", b"T"):
            return LF + b"?" + CR + ETX
        shown, motion, over, under = self._reading()
        status = adam_status(
            motion=motion, at_zero=shown == 0, under=under, over=over, net=self._state.tare > 0
        )
        if command != b"W":
            return adam_status_reply(status)
        return adam_weight(shown, status, self.decimals)
