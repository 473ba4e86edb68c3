"""The keypad/display I/O board on a pseudo-terminal: the real firmware on emulated hardware.

:class:`IoBoardEmulator` loads the board's MicroPython firmware from ``edge/firmware`` (through
:mod:`hil.devices.mpy_shims`), builds its :class:`Board` on shim hardware — a key matrix, an
HD44780 display model on the I2C bus, a PWM buzzer, the drawer-sense pin, a watchdog — and runs
its loop in a thread against a wall clock, with the UART joined to a :class:`PtyCable`. So the
till's driver and the HIL rig talk to the same code, byte for byte, that runs on the board.

The host side is what a person or a fault does: press and release keys, open the drawer, read
the display, hear the beeps, reset the board, hang its loop (the emulated watchdog then resets
it, reporting ``watchdog``), or put garbage on the line.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hil.devices.hd44780 import Hd44780
from hil.devices.mpy_shims import firmware, machine
from hil.devices.mpy_shims.bench import KeyMatrix
from hil.devices.pty_cable import PtyCable

DEFAULT_BOARD_ID = bytes.fromhex("e6614c311b7a5c2e")
_MASK = (1 << 30) - 1
_CAUSES = {"power-on": 1, "watchdog": 2, "soft": 3, "hard": 4}  # the wire's reset-cause codes


@dataclass(frozen=True, slots=True)
class BeepHeard:
    """A beep the buzzer made: its frequency and how long it sounded on the emulator's clock."""

    freq_hz: int
    started_ms: int
    stopped_ms: int

    @property
    def ms(self) -> int:
        return self.stopped_ms - self.started_ms


class IoBoardEmulator:
    """One I/O board on ``cable``; :meth:`start` powers it up, :meth:`stop` powers it down."""

    def __init__(
        self,
        cable: PtyCable,
        *,
        board_id: bytes = DEFAULT_BOARD_ID,
        settings: Mapping[str, Any] | None = None,
        tick_s: float = 0.002,
        watchdog_ms: int = 2000,
    ) -> None:
        self.cable = cable
        self.board_id = board_id
        self.tick_s = tick_s
        self.watchdog_ms = watchdog_ms
        self._config = firmware("config")
        self._board_module = firmware("board")
        self._settings_overrides = dict(settings or {})
        self.keymap: tuple[tuple[str, ...], ...] = self._new_settings().keymap
        rows = len(self.keymap)
        cols = max(len(r) for r in self.keymap)
        self.rows = [machine.Pin(6 + r, machine.Pin.OUT, value=1) for r in range(rows)]
        self.cols = [machine.Pin(10 + c, machine.Pin.IN, machine.Pin.PULL_UP) for c in range(cols)]
        self.matrix = KeyMatrix(self.rows, self.cols)
        self.uart = machine.UART(0, baudrate=115200, rxbuf=1024)
        self.i2c = machine.I2C(0)
        self.display = Hd44780()
        self.i2c.attach(0x27, self.display.write)
        self.pwm = machine.PWM(machine.Pin(15))
        self.pwm.on_change = self._pwm_changed
        self.drawer_pin = machine.Pin(16, machine.Pin.IN, machine.Pin.PULL_UP)
        self.drawer_pin.level = 0  # drawer closed: the switch pulls the pin low
        self.wdt = machine.WDT(timeout=watchdog_ms)
        self.beeps: list[BeepHeard] = []
        self.boots: list[str] = []
        """The reset cause of every boot, in order."""
        self.board: Any = None
        """The firmware's Board object (for counters); replaced at every reset."""
        self._beep_start: tuple[int, int] | None = None
        self._releases: list[tuple[int, tuple[int, int]]] = []
        self._hung = False
        self._step_now = 0
        self._last_feeds = 0
        self._last_feed_ms = 0
        self._cond = threading.Condition(threading.RLock())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic_ns()

    # -- power and faults ----------------------------------------------------------------------

    def start(self) -> None:
        """Power up (boot with reset cause ``power-on``) and run the loop in a thread."""
        with self._cond:
            self._boot("power-on")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ioboard emulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> IoBoardEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self, cause: str = "soft") -> None:
        """Reset the board now, as its reset button or a watchdog would: RAM and link are new."""
        with self._cond:
            self._boot(cause)

    def hang(self) -> None:
        """Stop the firmware's loop (a bug, a stuck bus): nothing is sent, the watchdog starves."""
        with self._cond:
            self._hung = True

    def inject(self, data: bytes) -> None:
        """Put raw bytes on the line to the till (noise, half frames) between the board's writes."""
        with self._cond:
            self.cable.write(data)

    def _boot(self, cause: str) -> None:
        self.uart.clear()
        self._hung = False
        self._beep_start = None
        now = self._now()
        self.board = self._board_module.Board(
            uart=self.uart,
            rows=self.rows,
            cols=self.cols,
            i2c=self.i2c,
            pwm=self.pwm,
            drawer=self.drawer_pin,
            wdt=self.wdt,
            board_id=self.board_id,
            reset_cause=_CAUSES.get(cause, 0),
            now=now,
            settings=self._new_settings(),
        )
        self._last_feeds = self.wdt.feeds
        self._last_feed_ms = now
        self.boots.append(cause)
        self._cond.notify_all()

    def _new_settings(self) -> Any:
        return self._config.Settings(**self._settings_overrides)

    # -- what a person does ----------------------------------------------------------------

    def _position(self, key: str) -> tuple[int, int]:
        for r, row in enumerate(self.keymap):
            if key in row:
                return r, row.index(key)
        raise KeyError(f"no key {key!r} on this keypad")

    def press(self, key: str) -> None:
        self.matrix.press(*self._position(key))

    def release(self, key: str) -> None:
        self.matrix.release(*self._position(key))

    def tap(self, key: str, hold_ms: int = 60) -> None:
        """Press ``key`` now and release it ``hold_ms`` later (returns at once)."""
        pos = self._position(key)
        with self._cond:
            self.matrix.press(*pos)
            self._releases.append((self._now() + hold_ms, pos))

    def set_drawer(self, is_open: bool) -> None:
        """Open or close the cash drawer (its switch opens with it, the pull-up reads 1)."""
        self.drawer_pin.level = 1 if is_open else 0

    # -- what a person sees and hears ---------------------------------------------------------

    def lines(self) -> tuple[str, ...]:
        """The display's lines without trailing spaces."""
        return self.display.stripped()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate()`` holds (checked after every loop step); False on timeout."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def wait_lines(self, *lines: str, timeout: float = 5.0) -> bool:
        """Wait until the display shows ``lines`` (missing trailing lines blank)."""
        want = tuple(lines) + ("",) * (self.display.lines - len(lines))
        return self.wait_for(lambda: self.lines() == want, timeout)

    # -- the loop ----------------------------------------------------------------------------

    def _now(self) -> int:
        return ((time.monotonic_ns() - self._t0) // 1_000_000) & _MASK

    def _pwm_changed(self, freq: int, duty: int) -> None:
        now = self._step_now  # the firmware's own idea of the time
        if duty and self._beep_start is None:
            self._beep_start = (freq, now)
        elif not duty and self._beep_start is not None:
            freq0, start = self._beep_start
            self._beep_start = None
            self.beeps.append(BeepHeard(freq0, start, now))

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.cable.plugged:
                data = self.cable.read(self.tick_s)
            else:  # nothing can arrive: keep the board's time going at the loop's pace
                self._stop.wait(self.tick_s)
                data = b""
            with self._cond:
                now = self._now()
                if data:
                    self.uart.inject(data)
                for due, pos in [r for r in self._releases if r[0] <= now]:
                    self._releases.remove((due, pos))
                    self.matrix.release(*pos)
                if not self._hung:
                    self._step_now = now
                    self.board.step(now)
                if self.wdt.feeds != self._last_feeds:
                    self._last_feeds = self.wdt.feeds
                    self._last_feed_ms = now
                elif now - self._last_feed_ms > self.watchdog_ms:
                    self._boot("watchdog")
                out = self.uart.take()
                if out:
                    with contextlib.suppress(OSError):
                        self.cable.write(out)
                self._cond.notify_all()
