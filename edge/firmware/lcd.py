"""The 2x20 character display: an HD44780 behind a PCF8574 I2C backpack, with a text buffer.

The backpack's eight port bits drive the display: P0 RS, P1 RW, P2 E, P3 backlight, P4..P7
D4..D7, so the HD44780 runs in 4-bit mode and every byte goes over as two nibbles, each latched
by a pulse on E (a write with E high, then the same with E low). One I2C byte takes about
90 µs at 100 kHz, longer than every HD44780 command except clear and home, which is why the
driver never waits between bytes and never uses those two after start-up.

What the firmware wants shown lives in a text buffer; :meth:`Lcd.service`, called from the main
loop, first steps through the init sequence (without blocking: each step is due some
milliseconds after the one before) and then sends only the characters that differ from what the
display holds, one run per line. An I2C error (display unplugged, backpack dead) is counted, the
display is marked unknown, and a second later the init sequence runs again and everything is
rewritten, so a display plugged back in recovers by itself.
"""

from machine import I2C
from micropython import const
from ticks import add, diff

RS = const(0x01)
E = const(0x04)
BACKLIGHT = const(0x08)
LINE_ADDR = (0x00, 0x40)
RETRY_MS = const(1000)
POWER_ON_MS = const(50)

# The HD44780 4-bit init sequence: (value, is a lone nibble, wait in ms after it). Three
# "8-bit" function sets reset the controller whatever mode it was in, then 0x2 selects 4-bit;
# from then on every command is two nibbles: 2 lines 5x8, display off, clear, entry mode
# left-to-right, display on without cursor.
INIT = (
    (0x30, True, 5),
    (0x30, True, 1),
    (0x30, True, 1),
    (0x20, True, 1),
    (0x28, False, 0),
    (0x08, False, 0),
    (0x01, False, 2),
    (0x06, False, 0),
    (0x0C, False, 0),
)


class Lcd:
    """An HD44780 2x20 (or any ``cols`` x ``lines`` up to 2 lines) on a PCF8574 at ``addr``."""

    def __init__(
        self, i2c: I2C, now: int, addr: int = 0x27, cols: int = 20, lines: int = 2
    ) -> None:
        self.i2c = i2c
        self.addr = addr
        self.cols = cols
        self.lines = lines
        self.errors = 0
        self.ready = False
        self.want = [bytearray(b" " * cols) for _ in range(lines)]
        self._shown = [bytearray(b" " * cols) for _ in range(lines)]
        self._stage = 0
        self._due = add(now, POWER_ON_MS)  # the HD44780 needs 40 ms after power-up

    # -- the 4-bit protocol -------------------------------------------------------------------

    def _nibbles(self, value: int, rs: int, out: bytearray) -> None:
        for nibble in (value & 0xF0, (value << 4) & 0xF0):
            port = nibble | BACKLIGHT | rs
            out.append(port | E)
            out.append(port)

    def command_bytes(self, cmd: int) -> bytearray:
        out = bytearray()
        self._nibbles(cmd, 0, out)
        return out

    def data_bytes(self, text: bytes | bytearray) -> bytearray:
        out = bytearray()
        for byte in text:
            self._nibbles(byte, RS, out)
        return out

    def _send(self, raw: bytes | bytearray) -> None:
        self.i2c.writeto(self.addr, raw)

    def service(self, now: int) -> bool:
        """Advance the init sequence or flush the buffer; True when the display shows it.

        The init sequence is a little state machine instead of a function with sleeps, so
        the loop keeps scanning keys and answering the till while the display starts up.
        """
        if not self.ready:
            self._init_step(now)
            if not self.ready:
                return False
        return self.flush(now)

    def _init_step(self, now: int) -> None:
        while diff(now, self._due) >= 0:
            value, is_nibble, wait = INIT[self._stage]
            if is_nibble:
                port = value | BACKLIGHT
                raw = bytearray((port | E, port))
            else:
                raw = self.command_bytes(value)
            try:
                self._send(raw)
            except OSError:
                self.errors += 1
                self._stage = 0
                self._due = add(now, RETRY_MS)
                return
            self._stage += 1
            # +1: a wait of n ms must last n ms even if the tick turns right after this write.
            self._due = add(now, wait + 1) if wait else now
            if self._stage == len(INIT):
                self._stage = 0
                for shown in self._shown:
                    for i in range(self.cols):
                        shown[i] = 0x20
                self.ready = True
                return

    # -- the text buffer -------------------------------------------------------------------

    def write(self, line: int, text: bytes | bytearray) -> None:
        """Set buffer line ``line`` to ``text``, cut or padded with spaces to the width."""
        if line < 0 or line >= self.lines:
            return
        want = self.want[line]
        n = min(len(text), self.cols)
        for i in range(self.cols):
            want[i] = text[i] if i < n else 0x20

    def text(self, line: int) -> bytes:
        return bytes(self.want[line])

    @property
    def dirty(self) -> bool:
        return not self.ready or self.want != self._shown

    def flush(self, now: int = 0) -> bool:
        """Send what differs from the display; True when the display shows the buffer."""
        if not self.ready:
            return False
        try:
            for line in range(self.lines):
                want = self.want[line]
                shown = self._shown[line]
                first = 0
                while first < self.cols and want[first] == shown[first]:
                    first += 1
                if first == self.cols:
                    continue
                last = self.cols - 1
                while want[last] == shown[last]:
                    last -= 1
                raw = self.command_bytes(0x80 | (LINE_ADDR[line] + first))
                raw += self.data_bytes(want[first : last + 1])
                self._send(raw)
                for i in range(first, last + 1):
                    shown[i] = want[i]
        except OSError:
            self.errors += 1
            self.ready = False
            self._due = add(now, RETRY_MS)
            return False
        return True
