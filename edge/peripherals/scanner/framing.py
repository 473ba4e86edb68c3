"""A serial scanner's byte stream cut into codes — pure: bytes in, codes and counted drops out.

A scanner on a serial line sends each code as ``[prefix] [AIM identifier] data suffix`` with no
checksum, so the line itself is the only framing. Everything that cannot be a code is dropped
with a reason, never raised: a byte above 0x7F (noise, wrong baud rate), a control character
other than GS (the transmitted FNC1 of GS1 symbols, which :func:`protocol.barcodes.parse_scan`
expects), a run longer than the longest scan without its suffix (a jammed reader, or a wrong
suffix setting), a half code cut off by an idle gap or by the next prefix.

With no suffix configured (``none``) a code ends at an idle gap on the line, which the driver
detects and reports with :meth:`ScanFramer.flush`; with a suffix the same gap marks a half code.

The AIM symbology identifier (ISO/IEC 15424, ``]`` + letter + modifier, e.g. ``]E0``) is split
off and reported next to the data, so the till can hand ``symbology + code`` back to
``parse_scan`` unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from protocol.barcodes import MAX_SCAN_LENGTH

SUFFIXES: Mapping[str, bytes] = {
    "CR": b"\r",
    "LF": b"\n",
    "CRLF": b"\r\n",
    "TAB": b"\t",
    "ETX": b"\x03",
    "none": b"",
}
"""Suffix names as configured in TOML and the bytes each one is on the wire."""

PREFIXES: Mapping[str, bytes] = {"none": b"", "STX": b"\x02", "SOH": b"\x01"}
"""Fixed prefixes. Only control bytes, so a prefix can never be mistaken for data."""

GS = 0x1D
_AIM_ID = re.compile(r"\][A-Za-z][0-9A-Za-z]")


class DropReason(StrEnum):
    """Why bytes did not become a code; each is a health counter of the scanner."""

    GARBAGE = "garbage"
    """Bytes outside any frame (before a configured prefix)."""
    NON_ASCII = "non_ascii"
    NON_PRINTABLE = "non_printable"
    TOO_LONG = "too_long"
    TRUNCATED = "truncated"
    """A half code: an idle gap or a new prefix came before the suffix."""
    EMPTY = "empty"
    UNMAPPED_KEY = "unmapped_key"
    """(Keyboard scanners) a key the configured layout cannot turn into ASCII."""
    DISABLED = "disabled"
    """(Device) a good code read while the scanner was disabled."""


@dataclass(frozen=True, slots=True)
class Code:
    """One good scan: the data, and the AIM identifier if the scanner sent one."""

    text: str
    symbology: str | None = None


@dataclass(frozen=True, slots=True)
class Dropped:
    """Bytes (or keys) that were skipped, and why."""

    reason: DropReason
    size: int


Outcome = Code | Dropped


@dataclass(frozen=True, slots=True)
class FramerConfig:
    """How the scanner is set up to frame its codes."""

    suffix: bytes = b"\r"
    prefix: bytes = b""
    aim: bool = False
    max_length: int = MAX_SCAN_LENGTH
    """Longest code accepted, AIM identifier included (as ``parse_scan`` counts)."""

    def __post_init__(self) -> None:
        if self.suffix not in SUFFIXES.values():
            raise ValueError(f"unsupported suffix {self.suffix!r}")
        if self.prefix not in PREFIXES.values():
            raise ValueError(f"unsupported prefix {self.prefix!r}")
        if not 1 <= self.max_length <= MAX_SCAN_LENGTH:
            raise ValueError(f"max_length must be 1..{MAX_SCAN_LENGTH}")


def classify(data: bytes, *, aim: bool, max_length: int) -> Outcome:
    """Decide whether one frame's bytes are a code (shared by the serial and keyboard paths)."""
    if not data:
        return Dropped(DropReason.EMPTY, 0)
    if len(data) > max_length:
        return Dropped(DropReason.TOO_LONG, len(data))
    if max(data) > 0x7F:
        return Dropped(DropReason.NON_ASCII, len(data))
    if any((b < 0x20 and b != GS) or b == 0x7F for b in data):
        return Dropped(DropReason.NON_PRINTABLE, len(data))
    text = data.decode("ascii")
    if aim and _AIM_ID.match(text):
        if len(text) == 3:
            return Dropped(DropReason.EMPTY, len(data))
        return Code(text[3:], text[:3])
    return Code(text)


class ScanFramer:
    """Streaming: :meth:`feed` every chunk read from the port; call :meth:`flush` after an
    idle gap. Never raises on any input."""

    def __init__(self, config: FramerConfig) -> None:
        self.config = config
        self._buf = bytearray()
        self._in_frame = not config.prefix
        self._discarding = 0
        """Bytes of an over-long run dropped so far (0: not discarding)."""

    @property
    def pending(self) -> int:
        """Bytes seen that are not yet a code or a drop (the idle timer's business)."""
        return len(self._buf) + self._discarding

    @property
    def waiting(self) -> bool:
        """True while a code (or a half one) is open, so an idle gap must end it."""
        return bool(self.pending) or (self._in_frame and bool(self.config.prefix))

    @property
    def held(self) -> int:
        """Bytes kept in memory, bounded by the longest code whatever the line sends."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Outcome]:
        out: list[Outcome] = []
        prefix, suffix = self.config.prefix, self.config.suffix
        self._buf += data
        while self._buf:
            if not self._in_frame:
                start = self._buf.find(prefix)
                if start < 0:
                    keep = len(prefix) - 1  # a prefix may be split across chunks
                    garbage = len(self._buf) - keep
                    if garbage > 0:
                        out.append(Dropped(DropReason.GARBAGE, garbage))
                        del self._buf[:garbage]
                    break
                if start:
                    out.append(Dropped(DropReason.GARBAGE, start))
                del self._buf[: start + len(prefix)]
                self._in_frame = True
                continue
            end = self._buf.find(suffix) if suffix else -1
            restart = self._buf.find(prefix) if prefix else -1
            if restart >= 0 and (end < 0 or restart < end):
                # A new prefix before this frame's suffix: the frame so far is a half code
                # (or, with no suffix configured, a complete one).
                out.append(self._end_frame(bytes(self._buf[:restart]), complete=not suffix))
                del self._buf[: restart + len(prefix)]
                continue
            if end >= 0:
                out.append(self._end_frame(bytes(self._buf[:end]), complete=True))
                del self._buf[: end + len(suffix)]
                self._in_frame = not prefix
                continue
            self._trim_overlong()
            break
        return out

    def flush(self) -> list[Outcome]:
        """The line went idle: what is held is a code (no suffix configured) or a half code."""
        if not self.waiting:
            return []
        if not self._in_frame:
            size = len(self._buf)
            self._buf.clear()
            return [Dropped(DropReason.GARBAGE, size)]
        outcome = self._end_frame(bytes(self._buf), complete=not self.config.suffix)
        self._buf.clear()
        self._in_frame = not self.config.prefix
        return [outcome]

    def _end_frame(self, frame: bytes, *, complete: bool) -> Outcome:
        if self._discarding:
            size = self._discarding + len(frame)
            self._discarding = 0
            return Dropped(DropReason.TOO_LONG, size)
        if not complete:
            return Dropped(DropReason.TRUNCATED, len(frame))
        return classify(frame, aim=self.config.aim, max_length=self.config.max_length)

    def _trim_overlong(self) -> None:
        """Stop holding a run that can no longer be a code; keep only what may start a suffix."""
        keep = max(len(self.config.suffix) - 1, len(self.config.prefix) - 1, 0)
        if self._discarding or len(self._buf) > self.config.max_length + keep:
            drop = len(self._buf) - keep
            self._discarding += drop
            del self._buf[:drop]
