"""The two command sets 2×20 pole displays speak, as bytes. Pure: no I/O.

**Epson ESC/POS customer display** (DM-D110/DM-D210 and the many displays that emulate them):
``ESC @`` (1B 40) initialise, ``ESC t n`` (1B 74 n) character table (0 = PC437, 2 = PC850,
19 = PC858), ``US MD1`` (1F 01) overwrite mode, ``US C n`` (1F 43 n) cursor on/off,
``US $ x y`` (1F 24 x y) cursor to column x 1..20, row y 1..2, ``CLR`` (0C) clear screen.

**CD5220** (Partner Tech and compatibles, "standard mode"): ``ESC @`` initialise, ``ESC DC1``
(1B 11) overwrite mode, ``ESC _ n`` (1B 5F n) cursor on/off, ``ESC Q A`` text ``CR``
(1B 51 41 … 0D) upper line, ``ESC Q B`` text ``CR`` lower line, ``ESC Q D`` text ``CR``
upper-line continuous scroll (< 40 characters), ``CLR`` (0C). A CD5220 has no command to pick
a code page — a DIP switch does — so the configured page must match the switch.

Both initialisations start with bytes that finish any command a pulled cable cut short (the
display keeps its power, and its parser may be waiting for a parameter or a CR), so the
``ESC @`` that follows is read as a command and not swallowed as a parameter.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from edge.peripherals.pole_display.codepage import CodePage

WIDTH = 20
ROWS = 2

ESC, US, CR, CLR = 0x1B, 0x1F, 0x0D, 0x0C


class CommandSet(Protocol):
    name: ClassVar[str]

    def init(self, page: CodePage) -> bytes:
        """Put the display in a known state: cleared, overwrite mode, cursor off, ``page``."""
        ...

    def line(self, row: int, data: bytes) -> bytes:
        """Replace row 0 (upper) or 1 (lower) with ``data``: 20 encoded printable bytes."""
        ...

    def clear(self) -> bytes: ...


def _check_line(row: int, data: bytes) -> None:
    if row not in (0, 1):
        raise ValueError(f"row must be 0 or 1, got {row}")
    if len(data) != WIDTH:
        raise ValueError(f"a line is exactly {WIDTH} bytes, got {len(data)}")
    if any(b < 0x20 or b == 0x7F for b in data):
        raise ValueError("line data must be printable bytes (no control codes)")


class EpsonCommands:
    """Epson ESC/POS customer display commands."""

    name: ClassVar[str] = "epson"
    TABLES: ClassVar[dict[CodePage, int]] = {
        CodePage.CP437: 0,
        CodePage.CP850: 2,
        CodePage.CP858: 19,
    }

    def init(self, page: CodePage) -> bytes:
        # CLR CLR: completes a cut "US $ x y" (the longest we send) or "ESC t n".
        return bytes((CLR, CLR, ESC, 0x40, ESC, 0x74, self.TABLES[page], US, 0x01, US, 0x43, 0x00))

    def line(self, row: int, data: bytes) -> bytes:
        _check_line(row, data)
        return bytes((US, 0x24, 1, row + 1)) + data

    def clear(self) -> bytes:
        return bytes((CLR,))


class Cd5220Commands:
    """CD5220 standard-mode commands."""

    name: ClassVar[str] = "cd5220"

    def init(self, page: CodePage) -> bytes:
        # CR CR ends a cut "ESC Q A ... CR" (two, because a cut right after "ESC Q" takes the
        # first CR as the line letter); CLR leaves string mode, where ESC @ would be ignored.
        return bytes((CR, CR, CLR, ESC, 0x40, ESC, 0x11, ESC, 0x5F, 0x00))

    def line(self, row: int, data: bytes) -> bytes:
        _check_line(row, data)
        return bytes((ESC, 0x51, 0x41 + row)) + data + bytes((CR,))

    def clear(self) -> bytes:
        return bytes((CLR,))

    @staticmethod
    def scroll_upper(data: bytes) -> bytes:
        """``ESC Q D``: the display scrolls ``data`` (1..39 bytes) on the upper line by itself."""
        if not 1 <= len(data) < 40 or any(b < 0x20 or b == 0x7F for b in data):
            raise ValueError("ESC Q D takes 1..39 printable bytes")
        return bytes((ESC, 0x51, 0x44)) + data + bytes((CR,))


COMMAND_SETS: dict[str, CommandSet] = {"epson": EpsonCommands(), "cd5220": Cd5220Commands()}
