"""A character display as the I2C bus sees it: PCF8574 backpack + HD44780 controller.

It decodes the bytes written to the backpack exactly as the chips would — the E line's falling
edge latches a nibble, the controller starts in 8-bit mode, a function set with DL=0 switches it
to 4-bit, after which each instruction or character takes two nibbles — and keeps the display
data RAM. So a test or the HIL rig reads what a person would see, and a driver that gets the
nibble order, the init sequence or a DDRAM address wrong shows garbage here as on the glass.

Backpack port bits: P0 RS, P1 RW, P2 E, P3 backlight, P4..P7 D4..D7 (the common wiring).
"""

from __future__ import annotations

import threading

RS = 0x01
RW = 0x02
E = 0x04
BACKLIGHT = 0x08
LINE_BASES = (0x00, 0x40)
LINE_LEN = 0x28  # 40 bytes of DDRAM per line


class Hd44780:
    """The display's state after the bytes fed to :meth:`write` (the I2C device callback)."""

    def __init__(self, cols: int = 20, lines: int = 2) -> None:
        self.cols = cols
        self.lines = lines
        self.ddram = bytearray(b" " * 0x80)
        self.address = 0
        self.eight_bit = True  # the controller's state at power-up
        self.two_lines = False
        self.display_on = False
        self.increment = True
        self.backlight = False
        self.instructions: list[tuple[str, int]] = []
        """Every instruction and character, decoded: ``("cmd", 0x28)``, ``("data", 0x41)``."""
        self.reads = 0
        self._port = 0
        self._high: int | None = None
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        """Take the bytes of one I2C write to the backpack."""
        with self._lock:
            for byte in data:
                if self._port & E and not byte & E:
                    self._latch(self._port)
                self._port = byte
                self.backlight = bool(byte & BACKLIGHT)

    def _latch(self, port: int) -> None:
        if port & RW:
            self.reads += 1
            return
        nibble = port >> 4
        if self.eight_bit:  # D0..D3 are not wired: they read as 0
            self._execute(bool(port & RS), nibble << 4)
        elif self._high is None:
            self._high = nibble
        else:
            value, self._high = (self._high << 4) | nibble, None
            self._execute(bool(port & RS), value)

    def _execute(self, rs: bool, value: int) -> None:
        self.instructions.append(("data" if rs else "cmd", value))
        if rs:
            self.ddram[self.address] = value
            self._advance()
        elif value & 0x80:
            self.address = value & 0x7F
        elif value & 0x40:
            pass  # CGRAM address: custom glyphs are not modelled
        elif value & 0x20:
            self.eight_bit = bool(value & 0x10)
            self.two_lines = bool(value & 0x08)
            self._high = None
        elif value & 0x10:
            pass  # cursor/display shift: not used by the firmware
        elif value & 0x08:
            self.display_on = bool(value & 0x04)
        elif value & 0x04:
            self.increment = bool(value & 0x02)
        elif value & 0x02:
            self.address = 0
        elif value & 0x01:
            self.ddram[:] = b" " * len(self.ddram)
            self.address = 0
            self.increment = True

    def _advance(self) -> None:
        step = 1 if self.increment else -1
        if not self.two_lines:
            self.address = (self.address + step) % 0x50
            return
        line = 1 if self.address >= 0x40 else 0
        offset = (self.address - LINE_BASES[line] + step) % (2 * LINE_LEN)
        if offset >= LINE_LEN:  # ran off this line's 40 bytes: continue on the other line
            line, offset = 1 - line, offset - LINE_LEN
        self.address = LINE_BASES[line] + offset

    def text(self) -> tuple[str, ...]:
        """What each line's visible columns hold (blank while the display is off)."""
        with self._lock:
            if not self.display_on:
                return tuple(" " * self.cols for _ in range(self.lines))
            return tuple(
                "".join(
                    chr(b) if 0x20 <= b <= 0x7E else "?"
                    for b in self.ddram[base : base + self.cols]
                )
                for base in LINE_BASES[: self.lines]
            )

    def stripped(self) -> tuple[str, ...]:
        """:meth:`text` without trailing spaces, handy in assertions."""
        return tuple(line.rstrip() for line in self.text())
