"""The printer's real-time status (``DLE EOT n``), checked at the boundary (pure).

A printer answers each ``DLE EOT n`` with one byte whose bits 0 and 7 are 0 and bits 1 and 4
are 1 (``0b0xx1xx10``). Anything else on the line — a stale reply, noise, a byte of another
command's answer — fails that pattern and is skipped and counted, never read as "paper out":
python-escpos's ``Dummy.paper_status()`` shows what happens when a query byte is mistaken for
its reply. The result is one :class:`PrinterStatus` value with a reason a cashier can act on.

Bits used (Epson ESC/POS, "DLE EOT"):

====  ======================================================================================
n=1   bit 2 drawer connector pin 3 high, bit 3 offline
n=2   bit 2 cover open, bit 3 paper being fed by the button, bit 5 stopped at paper end,
      bit 6 error
n=3   bit 3 autocutter error, bit 5 unrecoverable error, bit 6 auto-recoverable error
n=4   bits 2-3 paper near end, bits 5-6 paper end
====  ======================================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

_MASK = 0b1001_0011
_FIXED = 0b0001_0010


class Paper(StrEnum):
    OK = "ok"
    NEAR_END = "near_end"
    OUT = "out"


def is_status_byte(value: int) -> bool:
    """True if ``value`` has the fixed bits of a ``DLE EOT`` reply."""
    return 0 <= value <= 0xFF and value & _MASK == _FIXED


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What the printer said (or that it said nothing)."""

    answered: bool
    offline: bool = False
    cover_open: bool = False
    paper: Paper = Paper.OK
    feeding: bool = False
    cutter_error: bool = False
    unrecoverable_error: bool = False
    recoverable_error: bool = False
    drawer_pin3_high: bool = False
    """The drawer connector's sense pin: what "high" means depends on the drawer's wiring."""
    detail: str = ""
    """Why there was no answer (transport offline, timeout)."""

    @property
    def ready(self) -> bool:
        """Fit to print now: answering, online, cover shut, paper in, no error."""
        return self.answered and not self.reason_blocking

    @property
    def reason_blocking(self) -> str:
        """Why the printer cannot print, for the cashier; ``""`` if it can."""
        if not self.answered:
            return f"printer not answering: {self.detail}" if self.detail else "printer offline"
        if self.cover_open:
            return "printer cover open - close it"
        if self.paper is Paper.OUT:
            return "printer paper out - load a new roll"
        if self.cutter_error:
            return "printer cutter jammed - open the cover and clear it"
        if self.unrecoverable_error:
            return "printer error - switch the printer off and on"
        if self.recoverable_error:
            return "printer error (overheated?) - wait a moment"
        if self.feeding:
            return "printer feeding paper"
        if self.offline:
            return "printer offline"
        return ""

    @property
    def reason(self) -> str:
        """What the cashier should know: the blocking reason, else a warning, else ``""``."""
        blocking = self.reason_blocking
        if blocking:
            return blocking
        return "printer paper low" if self.paper is Paper.NEAR_END else ""


def no_answer(detail: str) -> PrinterStatus:
    return PrinterStatus(answered=False, detail=detail)


def parse(replies: Mapping[int, int]) -> PrinterStatus:
    """The status from the reply bytes by query ``n`` (1 required; 2, 3, 4 if asked).

    Raises :class:`ValueError` for a byte without the fixed bits: callers pass only bytes
    that :func:`is_status_byte` accepted.
    """
    for n, value in replies.items():
        if n not in (1, 2, 3, 4) or not is_status_byte(value):
            raise ValueError(f"not a DLE EOT {n} reply: {value:#04x}")
    if 1 not in replies:
        raise ValueError("the printer status (DLE EOT 1) is required")
    r1, r2, r3, r4 = (replies.get(n, _FIXED) for n in (1, 2, 3, 4))
    if r4 & 0b0110_0000:
        paper = Paper.OUT
    elif r4 & 0b0000_1100:
        paper = Paper.NEAR_END
    else:
        paper = Paper.OK
    return PrinterStatus(
        answered=True,
        offline=bool(r1 & 0x08),
        drawer_pin3_high=bool(r1 & 0x04),
        cover_open=bool(r2 & 0x04),
        feeding=bool(r2 & 0x08),
        paper=Paper.OUT if r2 & 0x20 else paper,
        cutter_error=bool(r3 & 0x08),
        unrecoverable_error=bool(r3 & 0x20),
        recoverable_error=bool(r3 & 0x40),
    )


def needs_error_detail(reply2: int) -> bool:
    """Whether the offline-cause byte reports an error, so ``DLE EOT 3`` is worth asking."""
    return bool(reply2 & 0x40)


def reply_byte(n: int, status: PrinterStatus) -> int:
    """The byte a printer in ``status`` answers to ``DLE EOT n`` (for the simulated printer)."""
    error = status.cutter_error or status.unrecoverable_error or status.recoverable_error
    bits: tuple[tuple[bool, int], ...]
    if n == 1:
        offline = status.offline or status.cover_open or status.paper is Paper.OUT or error
        bits = ((status.drawer_pin3_high, 0x04), (offline, 0x08))
    elif n == 2:
        bits = (
            (status.cover_open, 0x04),
            (status.feeding, 0x08),
            (status.paper is Paper.OUT, 0x20),
            (error, 0x40),
        )
    elif n == 3:
        bits = (
            (status.cutter_error, 0x08),
            (status.unrecoverable_error, 0x20),
            (status.recoverable_error, 0x40),
        )
    elif n == 4:
        bits = ((status.paper is not Paper.OK, 0x0C), (status.paper is Paper.OUT, 0x60))
    else:
        raise ValueError(f"DLE EOT takes n = 1..4, got {n}")
    value = _FIXED
    for on, mask in bits:
        if on:
            value |= mask
    return value
