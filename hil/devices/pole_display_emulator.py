"""A 2×20 customer pole display, byte-accurate, at the far end of a :class:`PtyCable`.

It interprets what a real display would: the Epson ESC/POS customer-display command set
(DM-D110/DM-D210) or the CD5220 standard-mode set, chosen like the display's DIP switch, and
shows characters from its code page. Tests and the HIL rig read :attr:`PoleDisplayEmulator.lines`
— the two lines a customer would see, as ``str`` — and wait for them with
:meth:`PoleDisplayEmulator.wait_for` instead of sleeping.

Like the hardware it keeps its state when the cable is pulled (it has its own power), including
a command cut in half: :meth:`PoleDisplayEmulator.unplug_after` cuts the cable after a given
number of bytes, so the driver's recovery is tested against a parser left mid-command.
Unknown commands and stray control bytes are skipped and counted, never fatal.

Sources for the command bytes: Epson DM-D110 specification (section 5.4, "Command details")
and the CD5220 user's manual ("CD5220 standard mode command list").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import Literal

from hil.devices.pty_cable import PtyCable

WIDTH = 20
ROWS = 2
ESC, US, CR, LF, BS, HT, HOM, CLR, CAN = 0x1B, 0x1F, 0x0D, 0x0A, 0x08, 0x09, 0x0B, 0x0C, 0x18

CommandSetName = Literal["epson", "cd5220"]
Mode = Literal["overwrite", "vertical", "horizontal"]

EPSON_TABLES = {0: "cp437", 2: "cp850", 16: "cp1252", 17: "cp866", 18: "cp852", 19: "cp858"}
"""``ESC t n`` pages this emulator has (Epson numbering); other pages are ignored, as a display
without them would."""

Parser = Generator[None, int, None]


class DisplayInterpreter:
    """The display's logic without the wire: bytes in, two lines of cells out. Not thread-safe."""

    def __init__(self, command_set: CommandSetName = "epson", code_page: str = "cp437") -> None:
        if command_set not in ("epson", "cd5220"):
            raise ValueError(f"command_set must be 'epson' or 'cd5220', got {command_set!r}")
        b"x".decode(code_page)  # an unknown codec fails here, not on the first character
        self.command_set: CommandSetName = command_set
        self.default_code_page = code_page
        self.unknown = 0  # unknown commands and stray control bytes skipped
        self.bytes_in = 0
        self.cells: list[list[str]] = []
        self.x = self.y = 0
        self.mode: Mode = "overwrite"
        self.code_page = code_page
        self.cursor_visible = True
        self.selected = True  # ESC = n: whether data is for the display (vs. a printer behind it)
        self.string_mode = False  # CD5220 after ESC Q A / ESC Q B
        self.scroll_text: str | None = None  # CD5220 ESC Q D
        self.scroll_pos = 0
        self.brightness = 4
        self._shift_pending = False
        self._reset()
        self._parser: Parser = self._epson() if command_set == "epson" else self._cd5220()
        next(self._parser)

    # -- what a customer sees ------------------------------------------------------------------

    @property
    def lines(self) -> tuple[str, str]:
        if self.scroll_text is not None:
            return self._scroll_frame(), "".join(self.cells[1])
        return "".join(self.cells[0]), "".join(self.cells[1])

    def feed(self, data: bytes) -> None:
        for b in data:
            self.bytes_in += 1
            if self.scroll_text is not None:
                # CD5220: a scrolling upper line runs until the next command, which clears it.
                self.scroll_text = None
                self.cells[0] = [" "] * WIDTH
                self.x = self.y = 0
            self._parser.send(b)

    def tick(self) -> None:
        """Advance a CD5220 ``ESC Q D`` scroll by one column (the display's own timer)."""
        if self.scroll_text is not None:
            self.scroll_pos = (self.scroll_pos + 1) % (len(self.scroll_text) + WIDTH)

    # -- state ------------------------------------------------------------------------------------

    def _reset(self) -> None:
        self.cells = [[" "] * WIDTH for _ in range(ROWS)]
        self.x = self.y = 0
        self.mode = "overwrite"
        self.code_page = self.default_code_page
        self.cursor_visible = True
        self.selected = True
        self.string_mode = False
        self.scroll_text = None
        self.scroll_pos = 0
        self.brightness = 4
        self._shift_pending = False

    def _glyph(self, b: int) -> str:
        if b == 0x7F:
            return "\u2302"  # ⌂ in the PC character sets; Python's codecs call it DEL
        return bytes((b,)).decode(self.code_page, errors="replace")

    def _put(self, b: int) -> None:
        if self.mode == "horizontal" and self._shift_pending:
            row = self.cells[self.y]
            row[:] = [*row[1:], " "]
            self._shift_pending = False
        self.cells[self.y][self.x] = self._glyph(b)
        if self.x < WIDTH - 1:
            self.x += 1
        elif self.mode == "horizontal":
            self._shift_pending = True  # the next character scrolls the line left
        elif self.y == 0:
            self.x, self.y = 0, 1
        elif self.mode == "vertical":
            self.cells = [self.cells[1], [" "] * WIDTH]
            self.x = 0
        else:  # overwrite: wrap to the home position
            self.x, self.y = 0, 0

    def _move(self, x: int, y: int) -> None:
        self.x, self.y = x, y
        self._shift_pending = False

    def _clear(self) -> None:
        self.cells = [[" "] * WIDTH for _ in range(ROWS)]
        self._move(0, 0)

    def _clear_line(self) -> None:
        self.cells[self.y] = [" "] * WIDTH
        self._move(0, self.y)

    def _left(self) -> None:
        if self.x > 0:
            self._move(self.x - 1, self.y)
        else:
            self._move(WIDTH - 1, 1 - self.y)

    def _right(self) -> None:
        if self.x < WIDTH - 1:
            self._move(self.x + 1, self.y)
        else:
            self._move(0, 1 - self.y)

    def _control(self, b: int) -> bool:
        """The single-byte controls both sets share; False if ``b`` is not one of them."""
        actions: dict[int, Callable[[], None]] = {
            BS: self._left,
            HT: self._right,
            LF: lambda: self._move(self.x, 1),
            HOM: lambda: self._move(0, 0),
            CR: lambda: self._move(0, self.y),
            CLR: self._clear,
            CAN: self._clear_line,
        }
        action = actions.get(b)
        if action is None:
            return False
        action()
        return True

    def _user_chars(self) -> Parser:
        """``ESC & s n m [a p1..p(s×a)] × (m-n+1)``: consumed; we draw the built-in font."""
        s = yield
        n = yield
        m = yield
        if s != 1 or not 0x20 <= n <= m <= 0x7E:
            self.unknown += 1
            return
        for _ in range(m - n + 1):
            a = yield
            if a > 5:
                self.unknown += 1
                return
            for _ in range(s * a):
                yield

    # -- Epson ESC/POS customer display -----------------------------------------------------------

    def _epson(self) -> Parser:
        while True:
            b = yield
            if not self.selected:
                if b == ESC and (yield) == 0x3D:
                    self._select_peripheral((yield))
                continue
            if b >= 0x20:
                self._put(b)
            elif b == ESC:
                yield from self._epson_esc()
            elif b == US:
                yield from self._epson_us()
            elif not self._control(b):
                self.unknown += 1

    def _epson_esc(self) -> Parser:
        c = yield
        if c == 0x40:  # ESC @
            self._reset()
        elif c == 0x74:  # ESC t n
            page = EPSON_TABLES.get((yield))
            if page is not None:
                self.code_page = page
        elif c == 0x3D:  # ESC = n
            self._select_peripheral((yield))
        elif c in (0x52, 0x25, 0x3F):  # ESC R n, ESC % n, ESC ? n
            yield
        elif c == 0x26:  # ESC &
            yield from self._user_chars()
        elif c == 0x57:  # ESC W n m [x1 y1 x2 y2]
            yield
            if (yield) in (1, 49):
                for _ in range(4):
                    yield
        else:
            self.unknown += 1

    def _epson_us(self) -> Parser:
        c = yield
        modes: dict[int, Mode] = {0x01: "overwrite", 0x02: "vertical", 0x03: "horizontal"}
        if c in modes:  # US MD1 / MD2 / MD3
            self.mode = modes[c]
            self._shift_pending = False
        elif c == 0x24:  # US $ x y
            x = yield
            y = yield
            if 1 <= x <= WIDTH and 1 <= y <= ROWS:
                self._move(x - 1, y - 1)
        elif c == 0x43:  # US C n
            self.cursor_visible = bool((yield) & 1)
        elif c == 0x58:  # US X n
            n = yield
            if 1 <= n <= 4:
                self.brightness = n
        elif c in (0x45, 0x72, 0x2E, 0x2C, 0x3B):  # blink, reverse, period/comma/semicolon
            yield
        elif c in (0x23, 0x5E, 0x54):  # annunciator, macro, set time
            yield
            yield
        elif c == LF:  # US LF: up
            self._move(self.x, 0)
        elif c == CR:  # US CR: right-most
            self._move(WIDTH - 1, self.y)
        elif c == 0x42:  # US B: bottom left
            self._move(0, 1)
        elif c in (0x40, 0x3A, 0x55):  # self-test, macro start/end, show time
            pass
        else:
            self.unknown += 1

    def _select_peripheral(self, n: int) -> None:
        if n in (1, 49):
            self.selected = False
        elif n in (2, 3, 50, 51):
            self.selected = True

    # -- CD5220 standard mode -------------------------------------------------------------------

    def _cd5220(self) -> Parser:
        while True:
            b = yield
            if not self.selected:
                if b == ESC and (yield) == 0x3D:
                    self._select_peripheral((yield))
                continue
            if self.string_mode:
                # "While using ESC Q A or ESC Q B, other commands can not be used except CLR
                # or CAN to change operating mode."
                if b == ESC:
                    if (yield) == 0x51:
                        yield from self._cd5220_string((yield))
                    continue
                if b in (CLR, CAN):
                    self.string_mode = False
                    self._control(b)
                continue
            if b >= 0x20:
                self._put(b)
            elif b == ESC:
                yield from self._cd5220_esc()
            elif b == US:
                yield from self._cd5220_us()
            elif not self._control(b):
                self.unknown += 1

    def _cd5220_string(self, which: int) -> Parser:
        data = bytearray()
        while (b := (yield)) != CR:
            if len(data) < 64:  # the display keeps no more; a missing CR must not eat memory
                data.append(b)
        text = "".join(self._glyph(b) if b >= 0x20 else " " for b in data)
        if which in (0x41, 0x42):  # ESC Q A / ESC Q B: a whole line
            self.cells[which - 0x41] = list(text[:WIDTH].ljust(WIDTH))
            self.string_mode = True
        elif which == 0x44:  # ESC Q D: the upper line scrolls until the next command
            self.scroll_text = text[:39]
            self.scroll_pos = 0
        else:
            self.unknown += 1

    def _cd5220_esc(self) -> Parser:
        c = yield
        modes: dict[int, Mode] = {0x11: "overwrite", 0x12: "vertical", 0x13: "horizontal"}
        if c == 0x40:  # ESC @
            self._reset()
        elif c in modes:  # ESC DC1 / DC2 / DC3
            self.mode = modes[c]
            self._shift_pending = False
        elif c == 0x51:  # ESC Q x ... CR
            yield from self._cd5220_string((yield))
        elif c == 0x5B:  # ESC [ x
            yield from self._cd5220_cursor()
        elif c == 0x6C:  # ESC l x y
            x = yield
            y = yield
            if 1 <= x <= WIDTH and 1 <= y <= ROWS:
                self._move(x - 1, y - 1)
        elif c == 0x57:  # ESC W s x1 x2 y
            for _ in range(4):
                yield
        elif c == 0x2A:  # ESC * n
            n = yield
            if 1 <= n <= 4:
                self.brightness = n
        elif c == 0x5F:  # ESC _ n
            self.cursor_visible = bool((yield) & 1)
        elif c == 0x3D:  # ESC = n
            self._select_peripheral((yield))
        elif c in (0x3F, 0x25, 0x66, 0x63, 0x73, 0x64, 0x23):  # ? % f c s d #: one parameter
            yield
        elif c == 0x26:  # ESC &
            yield from self._user_chars()
        else:
            self.unknown += 1

    def _cd5220_cursor(self) -> Parser:
        d = yield
        moves: dict[int, Callable[[], None]] = {
            0x44: self._left,  # ESC [ D
            0x43: self._right,  # ESC [ C
            0x41: lambda: self._move(self.x, 0),  # ESC [ A
            0x42: lambda: self._move(self.x, 1),  # ESC [ B
            0x48: lambda: self._move(0, 0),  # ESC [ H
            0x4C: lambda: self._move(0, self.y),  # ESC [ L
            0x52: lambda: self._move(WIDTH - 1, self.y),  # ESC [ R
            0x4B: lambda: self._move(0, 1),  # ESC [ K
        }
        move = moves.get(d)
        if move is None:
            self.unknown += 1
        else:
            move()

    def _cd5220_us(self) -> Parser:
        c = yield
        modes: dict[int, Mode] = {0x01: "overwrite", 0x02: "vertical", 0x03: "horizontal"}
        if c in modes:
            self.mode = modes[c]
            self._shift_pending = False
        elif c == LF:
            self._move(self.x, 0)
        elif c == CR:
            self._move(WIDTH - 1, self.y)
        elif c == 0x42:
            self._move(0, 1)
        elif c == 0x45:  # US E n: blink
            yield
        elif c == 0x40:  # US @: self-test
            pass
        else:
            self.unknown += 1

    def _scroll_frame(self) -> str:
        assert self.scroll_text is not None
        # The message enters at the right edge and leaves at the left, then starts over.
        band = " " * WIDTH + self.scroll_text + " " * WIDTH
        start = self.scroll_pos + 1
        return band[start : start + WIDTH]


class PoleDisplayEmulator:
    """The display on a cable: reads what the till sends and shows it."""

    def __init__(
        self,
        cable: PtyCable,
        *,
        command_set: CommandSetName = "epson",
        code_page: str = "cp437",
    ) -> None:
        self.cable = cable
        self.display = DisplayInterpreter(command_set, code_page)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cut_after: int | None = None
        self.cut = threading.Event()

    def start(self) -> PoleDisplayEmulator:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pole display emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def lines(self) -> tuple[str, str]:
        with self._cond:
            return self.display.lines

    def wait_for(self, line1: str, line2: str, timeout: float) -> bool:
        """True once the display shows these two lines (trailing spaces ignored)."""
        want = (line1.rstrip(), line2.rstrip())
        return self.wait_until(
            lambda lines: (lines[0].rstrip(), lines[1].rstrip()) == want, timeout
        )

    def wait_until(self, predicate: Callable[[tuple[str, str]], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.display.lines), timeout)

    def feed(self, data: bytes) -> None:
        """Interpret ``data`` as if it had arrived on the cable."""
        with self._cond:
            self.display.feed(data)
            self._cond.notify_all()

    def tick(self) -> None:
        with self._cond:
            self.display.tick()
            self._cond.notify_all()

    def unplug_after(self, nbytes: int) -> None:
        """Pull the cable once ``nbytes`` more bytes have arrived; the rest of that read is lost.

        :attr:`cut` is set when it happened.
        """
        with self._cond:
            self.cut.clear()
            self._cut_after = nbytes

    def send(self, data: bytes) -> None:
        """Bytes from the display to the till (a real display sends none; garbage tests do)."""
        self.cable.write(data)

    @property
    def counters(self) -> dict[str, int]:
        with self._cond:
            return {"bytes_in": self.display.bytes_in, "unknown": self.display.unknown}

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.cable.plugged:
                self._stop.wait(0.01)  # the display idles until a cable is plugged back in
                continue
            data = self.cable.read(0.05)
            if data:
                self._received(data)

    def _received(self, data: bytes) -> None:
        with self._cond:
            cut_after = self._cut_after
            if cut_after is not None and len(data) >= cut_after:
                data = data[:cut_after]
                self._cut_after = None
            elif cut_after is not None:
                self._cut_after = cut_after - len(data)
                cut_after = None
            self.display.feed(data)
            self._cond.notify_all()
        if cut_after is not None:
            self.cable.unplug()
            self.cut.set()
