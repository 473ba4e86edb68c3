"""An in-memory receipt printer for the demo, the HIL rig and tests of code that prints.

It answers status queries from state a test or the demo sets (paper, cover, errors, plugged
in or not), records every byte it is sent, and keeps what "came out" — the bytes written while
it was fit to print — split into receipts at each cut, with their text for a screen showing
the virtual paper. Written while the paper is out or the cover is open, bytes are held (as a
real printer holds its buffer) and come out when the fault clears.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping

from edge.peripherals.base import DeviceError, PowerState
from edge.peripherals.printer.codepages import CODE_PAGES
from edge.peripherals.printer.status import Paper, PrinterStatus, reply_byte
from edge.peripherals.printer.transport import Accept, PowerHandler

_DLE_EOT = b"\x10\x04"
_KICK = b"\x1bp"
_CUTS = (b"\x1dV\x00", b"\x1dV\x01")


class SimulatedTransport:
    """A printer that exists only in memory; every setter may be called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._on_power: PowerHandler = lambda _p, _d: None
        self._started = False
        self._plugged = True
        self._answering = True
        self._state = PrinterStatus(answered=True)
        self._held = bytearray()
        self.received = bytearray()
        """Every byte sent, status queries and drawer kicks included."""
        self.printed = bytearray()
        """The bytes that reached the paper."""
        self.kicks = 0
        self._generation = 0

    # -- what the demo, the rig or a test sets ----------------------------------------------

    def set_paper(self, paper: Paper) -> None:
        self._update(paper=paper)

    def set_cover_open(self, is_open: bool) -> None:
        self._update(cover_open=is_open)

    def set_error(self, *, cutter: bool = False, unrecoverable: bool = False) -> None:
        self._update(cutter_error=cutter, unrecoverable_error=unrecoverable)

    def set_drawer_pin(self, high: bool) -> None:
        self._update(drawer_pin3_high=high)

    def set_answering(self, answering: bool) -> None:
        """False: connected but silent (the printer is switched off behind its cable)."""
        with self._lock:
            self._answering = answering

    def plug(self, plugged: bool) -> None:
        """Connect or pull the cable; the driver sees its link go up or down."""
        with self._lock:
            changed = plugged != self._plugged
            self._plugged = plugged
            if changed and plugged:
                self._generation += 1
            report = self._started and changed
        if report:
            self._on_power(
                PowerState.ONLINE if plugged else PowerState.OFFLINE,
                "" if plugged else "simulated cable unplugged",
            )

    # -- what came out -----------------------------------------------------------------------

    def receipts(self) -> list[bytes]:
        """The printed jobs, each up to and including its cut."""
        with self._lock:
            data = bytes(self.printed)
        out: list[bytes] = []
        start = 0
        i = 0
        while i < len(data):
            if data[i : i + 3] in _CUTS:
                out.append(data[start : i + 3])
                start = i = i + 3
                continue
            i += 1
        return out

    def receipt_text(self, index: int = -1) -> list[str]:
        """The text lines of a printed receipt (styles and barcode dropped), for a screen."""
        return plain_text(self.receipts()[index])

    # -- the Transport interface --------------------------------------------------------------

    @property
    def online(self) -> bool:
        return self._started and self._plugged

    @property
    def generation(self) -> int:
        return self._generation

    def start(self, on_power: PowerHandler) -> None:
        self._on_power = on_power
        self._started = True
        on_power(
            PowerState.ONLINE if self._plugged else PowerState.OFFLINE,
            "" if self._plugged else "simulated cable unplugged",
        )

    def stop(self) -> None:
        self._started = False

    def write(self, data: bytes) -> None:
        with self._lock:
            self._require_plugged()
            self.received += data
            if data.startswith(_KICK):
                self.kicks += 1
            self._held += data
            self._flush_if_ready()

    def ask(self, request: bytes, accept: Accept, timeout: float) -> int | None:
        with self._lock:
            self._require_plugged()
            self.received += request
            if not self._answering or len(request) != 3 or not request.startswith(_DLE_EOT):
                return None
            value = reply_byte(request[2], self._state)
        return value if accept(value) else None

    def counters(self) -> Mapping[str, int]:
        return {"bytes_out": len(self.received), "kicks": self.kicks}

    # -- inside ---------------------------------------------------------------------------------

    def _update(self, **changes: object) -> None:
        with self._lock:
            self._state = dataclasses.replace(self._state, **changes)  # type: ignore[arg-type]
            self._flush_if_ready()

    def _flush_if_ready(self) -> None:
        if self._state.ready and self._held:
            self.printed += self._held
            self._held.clear()

    def _require_plugged(self) -> None:
        if not (self._started and self._plugged):
            raise DeviceError("simulated printer is offline")


def plain_text(job: bytes) -> list[str]:
    """The text lines of a job this package encoded (its own few commands, nothing else)."""
    lengths = {b"@": 0, b"t": 1, b"a": 1, b"E": 1, b"d": 1, b"p": 3}
    gs_lengths = {b"!": 1, b"V": 1, b"h": 1, b"w": 1, b"H": 1}
    codec = "cp437"
    lines: list[str] = []
    text = bytearray()
    i = 0
    while i < len(job):
        byte = job[i : i + 1]
        if byte == b"\x1b" and i + 1 < len(job):
            cmd = job[i + 1 : i + 2]
            if cmd == b"t" and i + 2 < len(job):
                page = next((p for p in CODE_PAGES.values() if p.table == job[i + 2]), None)
                codec = page.codec if page else codec
            i += 2 + lengths.get(cmd, 0)
        elif byte == b"\x1d" and i + 1 < len(job):
            cmd = job[i + 1 : i + 2]
            if cmd == b"k" and i + 3 < len(job):
                i += 4 + job[i + 3]
            else:
                i += 2 + gs_lengths.get(cmd, 0)
        elif byte == b"\n":
            lines.append(text.decode(codec, "replace"))
            text.clear()
            i += 1
        else:
            if byte >= b" ":
                text += byte
            i += 1
    return lines
