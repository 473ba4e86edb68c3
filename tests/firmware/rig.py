"""A test bench for the firmware on a virtual clock: the board, its parts, and a till.

:class:`Rig` builds the firmware's ``Board`` on the MicroPython shims — a key matrix, an
HD44780 model on the I2C bus, a PWM buzzer, the drawer pin, a watchdog that counts feeds — and
joins its UART to a till end made of ``protocol.link`` and ``protocol.ioboard``, the code the
real till runs. Time is an int advanced by :meth:`Rig.run`; nothing sleeps.
"""

from __future__ import annotations

from typing import Any

from hil.devices.hd44780 import Hd44780
from hil.devices.mpy_shims import firmware, machine
from hil.devices.mpy_shims.bench import KeyMatrix
from protocol import ioboard
from protocol.link import Link

board_module = firmware("board")
config = firmware("config")
MASK = firmware("ticks").MASK


class Rig:
    def __init__(self, *, start: int = 1000, cause: int = 1, **settings: Any) -> None:
        self.settings = config.Settings(**settings)
        keymap = self.settings.keymap
        self.rows = [machine.Pin(6 + r, machine.Pin.OUT, value=1) for r in range(len(keymap))]
        self.cols = [
            machine.Pin(10 + c, machine.Pin.IN, machine.Pin.PULL_UP) for c in range(len(keymap[0]))
        ]
        self.matrix = KeyMatrix(self.rows, self.cols)
        self.uart = machine.UART(0, rxbuf=4096)
        self.i2c = machine.I2C(0)
        self.display = Hd44780()
        self.i2c.attach(0x27, self.display.write)
        self.pwm = machine.PWM(machine.Pin(15))
        self.drawer = machine.Pin(16, machine.Pin.IN, machine.Pin.PULL_UP)
        self.drawer.level = 0
        self.wdt = machine.WDT(timeout=2000)
        self.now = start & MASK
        self.t = 0  # the till's own clock (protocol.link wants a plain monotonic int)
        self.board: Any = board_module.Board(
            uart=self.uart,
            rows=self.rows,
            cols=self.cols,
            i2c=self.i2c,
            pwm=self.pwm,
            drawer=self.drawer,
            wdt=self.wdt,
            board_id=b"\x01\x02\x03\x04",
            reset_cause=cause,
            now=self.now,
            settings=self.settings,
        )
        self.till = Link()
        self.till_talks = True
        self.till_heartbeat_ms = 200
        """The till sends a heartbeat this often when it has nothing else to say (as its driver
        does), so the board never thinks it silent while :attr:`till_talks`."""
        self._last_heartbeat = 0
        self.received: list[ioboard.BoardMessage] = []
        self.noise = b""
        """Bytes put on the line to the board before the till's next write."""

    def key(self, name: str) -> tuple[int, int]:
        for r, row in enumerate(self.settings.keymap):
            if name in row:
                return r, row.index(name)
        raise KeyError(name)

    def press(self, name: str) -> None:
        self.matrix.press(*self.key(name))

    def release(self, name: str) -> None:
        self.matrix.release(*self.key(name))

    def send(self, msg: ioboard.TillMessage) -> None:
        self.till.send(ioboard.encode(msg))

    def run(self, ms: int, step: int = 1) -> None:
        """Advance ``ms`` milliseconds, stepping the board and the till every ``step`` ms."""
        for _ in range(0, ms, step):
            self.now = (self.now + step) & MASK
            self.t += step
            self.board.step(self.now)
            out = self.uart.take()
            if self.till_talks:
                if self.t - self._last_heartbeat >= self.till_heartbeat_ms:
                    self._last_heartbeat = self.t
                    if self.till.pending == 0:
                        self.send(ioboard.TillHeartbeat())
                for payload in self.till.receive(out, self.t):
                    self.received.append(ioboard.decode_board(payload))
                self.uart.inject(self.noise + self.till.poll(self.t))
                self.noise = b""

    def key_events(self) -> list[tuple[str, str]]:
        return [(m.key, m.kind.value) for m in self.received if isinstance(m, ioboard.KeyEvent)]

    def of_type(self, kind: type[Any]) -> list[Any]:
        return [m for m in self.received if isinstance(m, kind)]
