"""The board's application: keys and drawer to the till, display and buzzer from it.

:class:`Board` owns every part and is advanced by :meth:`Board.step`, called by the cooperative
main loop (``main.py``) with the current tick — no threads, no blocking, no sleeps here, so host
tests and the emulator drive it with any clock. Hardware objects are passed in (``machine``
objects on the board, shims on a host), which is the only difference between the two.

Each step: take bytes from the UART through the link and act on the till's messages; scan the
keypad and the drawer switch; enter or leave the safe state; queue a heartbeat; hand the next
event to the link and write what the link owes; drive display and buzzer; feed the watchdog if
the vital tasks (link, keypad) all succeeded lately. A task that raises is counted and skipped,
so one failing part never stops the others — only a vital one stalling lets the watchdog reset
the board.

Events wait in a bounded outbox until the link takes them (the link holds one at a time): when
the till stops taking them, the oldest are dropped and counted, never queued without limit.
"""

from buzzer import Buzzer
from config import Settings
from debounce import Debounced
from keypad import DOWN, REPEAT, UP, Keypad, MatrixScanner
from lcd import Lcd
from link import Link
from machine import I2C, PWM, UART, WDT, Pin
from ticks import add, diff
from watchdog import Health
from wire import (
    BEEP,
    CLEAR,
    DISPLAY,
    HELLO_REQUEST,
    KEY_DOWN,
    KEY_REPEAT,
    KEY_UP,
    decode_till,
    encode_drawer,
    encode_heartbeat,
    encode_hello,
    encode_key,
)

VITAL = ("link", "keypad")
_KIND = {DOWN: KEY_DOWN, UP: KEY_UP, REPEAT: KEY_REPEAT}


class Board:
    """The whole board; ``main.py`` builds one at boot and steps it forever."""

    def __init__(
        self,
        *,
        uart: UART,
        rows: list[Pin],
        cols: list[Pin],
        i2c: I2C,
        pwm: PWM,
        drawer: Pin,
        wdt: WDT | None,
        board_id: bytes,
        reset_cause: int,
        now: int,
        settings: Settings | None = None,
    ) -> None:
        s = settings if settings is not None else Settings()
        self.settings = s
        self.uart = uart
        self.board_id = board_id
        self.reset_cause = reset_cause
        self.link = Link(s.link_timeout_ms, s.link_retries, s.link_probe_ms, 1)
        self.scanner = MatrixScanner(rows, cols)
        self.keypad = Keypad(s.debounce_ms, s.repeat_delay_ms, s.repeat_rate_ms)
        self.names = [name.encode() for row in s.keymap for name in row]
        self.lcd = Lcd(i2c, now, s.lcd_addr, s.cols, s.lines)
        self.buzzer = Buzzer(pwm)
        self.drawer_pin = drawer
        self.drawer = Debounced(drawer.value(), now, s.drawer_debounce_ms)
        self.health = Health(wdt, now, VITAL, s.stall_ms)
        self.outbox: list[bytes] = []
        self.dropped = 0
        self.bad_messages = 0
        self.errors: dict[str, int] = {}
        self.safe = False
        self.awaiting_display = True  # no DISPLAY/CLEAR from the till since boot
        self.till_lines = [s.boot_lines[0].encode(), s.boot_lines[1].encode()]
        self._last_till = now
        self._last_now = now
        self._uptime_ms = 0
        self._next_scan = now
        self._next_heartbeat = add(now, s.heartbeat_ms)
        for i in range(min(2, s.lines)):
            self.lcd.write(i, self.till_lines[i])
        self.hello()

    # -- what the board tells the till ---------------------------------------------------------

    @property
    def drawer_open(self) -> bool:
        return self.drawer.level == self.settings.drawer_open_level

    @property
    def uptime_s(self) -> int:
        return self._uptime_ms // 1000

    def enqueue(self, payload: bytes) -> None:
        """Queue an event for the till; a full outbox drops (and counts) its oldest."""
        if len(self.outbox) >= self.settings.outbox_max:
            self.outbox.pop(0)
            self.dropped += 1
        self.outbox.append(payload)

    def hello(self) -> None:
        s = self.settings
        self.enqueue(encode_hello(s.firmware, self.reset_cause, s.cols, s.lines, self.board_id))
        self.enqueue(encode_drawer(self.drawer_open))

    def line_errors(self) -> int:
        return self.link.decoder.errors() + self.bad_messages

    # -- the loop ----------------------------------------------------------------------------

    def step(self, now: int) -> None:
        """Advance every part to tick ``now``; never raises.

        Each part runs in its own ``try``: one that raises is counted in :attr:`errors` and
        the others still run. Only vital parts that succeed report in to the watchdog.
        """
        self._uptime_ms += max(0, diff(now, self._last_now))
        self._last_now = now
        try:
            self._link(now)
            self.health.ok("link", now)
        except Exception:
            self._failed("link")
        if diff(now, self._next_scan) >= 0:
            self._next_scan = add(now, self.settings.scan_ms)
            try:
                self._scan(now)
                self.health.ok("keypad", now)
            except Exception:
                self._failed("keypad")
            try:
                self._sense(now)
            except Exception:
                self._failed("drawer")
        try:
            self._check_till(now)
            self.lcd.service(now)
        except Exception:
            self._failed("display")
        try:
            self.buzzer.service(now)
        except Exception:
            self._failed("buzzer")
        self.health.service(now)

    def _failed(self, name: str) -> None:
        self.errors[name] = self.errors.get(name, 0) + 1

    def _link(self, now: int) -> None:
        link = self.link
        waiting = self.uart.any()
        if waiting:
            data = self.uart.read(waiting)
            if data:
                before = link.decoder.frames
                payloads = link.receive(data, now)
                if link.decoder.frames != before:
                    self._heard(now)
                for payload in payloads:
                    self._handle(payload, now)
        if diff(now, self._next_heartbeat) >= 0:
            self._next_heartbeat = add(now, self.settings.heartbeat_ms)
            if not self.outbox and link.pending == 0:
                self.enqueue(
                    encode_heartbeat(
                        self.uptime_s,
                        self.dropped,
                        self.line_errors(),
                        drawer_open=self.drawer_open,
                        safe_state=self.safe,
                        awaiting_display=self.awaiting_display,
                    )
                )
        if self.outbox and link.pending == 0:
            link.send(self.outbox.pop(0))
        out = link.poll(now)
        if out:
            self.uart.write(out)

    def _heard(self, now: int) -> None:
        self._last_till = now
        if self.safe:
            self.safe = False
            for i in range(min(2, self.settings.lines)):
                self.lcd.write(i, self.till_lines[i])

    def _check_till(self, now: int) -> None:
        if not self.safe and diff(now, self._last_till) >= self.settings.silence_ms:
            self.safe = True
            lines = self.settings.safe_lines
            for i in range(min(2, self.settings.lines)):
                self.lcd.write(i, lines[i].encode())

    def _handle(self, payload: bytes, now: int) -> None:
        msg = decode_till(payload)
        if msg is None:
            self.bad_messages += 1
            return
        kind, a, b, text = msg
        if kind in (DISPLAY, CLEAR):
            self.awaiting_display = False
        if kind == DISPLAY:
            self.till_lines[a] = text
            self.lcd.write(a, text)
        elif kind == CLEAR:
            for i in range(len(self.till_lines)):
                self.till_lines[i] = b""
                self.lcd.write(i, b"")
        elif kind == BEEP:
            self.buzzer.beep(a, b, now)
        elif kind == HELLO_REQUEST:
            self.hello()
        # TILL_HEARTBEAT: hearing it is all it is for.

    def _scan(self, now: int) -> None:
        for event, code in self.keypad.update(now, self.scanner.scan()):
            if code < len(self.names):
                self.enqueue(encode_key(_KIND[event], self.names[code]))

    def _sense(self, now: int) -> None:
        if self.drawer.update(now, self.drawer_pin.value()):
            self.enqueue(encode_drawer(self.drawer_open))
