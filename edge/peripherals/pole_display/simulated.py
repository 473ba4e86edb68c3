"""A pole display in memory, for the demo and the HIL rig: it holds what the glass would show.

:meth:`SimulatedDisplayBackend.wait_for` lets a test or the HIL rig wait (on a condition, not
a sleep) until the customer would see given text; :meth:`unplug` and :meth:`plug` play a
pulled cable, which the device answers by re-sending everything.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from edge.peripherals.base import DeviceError, PowerState
from edge.peripherals.pole_display.codepage import CodePage
from edge.peripherals.pole_display.commands import ROWS, WIDTH
from edge.peripherals.pole_display.device import PowerHandler

_BLANK = " " * WIDTH


class SimulatedDisplayBackend:
    def __init__(self, code_page: CodePage = CodePage.CP858) -> None:
        self._code_page = code_page
        self._cond = threading.Condition()
        self._rows = [_BLANK] * ROWS
        self._plugged = True
        self._on_power: PowerHandler | None = None
        self._writes = 0

    @property
    def code_page(self) -> CodePage:
        return self._code_page

    @property
    def lines(self) -> tuple[str, str]:
        """What a customer would read on the display now."""
        with self._cond:
            return self._rows[0], self._rows[1]

    def wait_for(self, line1: str, line2: str, timeout: float) -> bool:
        """True once the display shows these lines (compared without trailing spaces)."""
        want = (line1.rstrip(), line2.rstrip())
        return self.wait_until(
            lambda lines: (lines[0].rstrip(), lines[1].rstrip()) == want, timeout
        )

    def wait_until(self, predicate: Callable[[tuple[str, str]], bool], timeout: float) -> bool:
        """True once ``predicate(lines)`` holds; it is checked after every write."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate((self._rows[0], self._rows[1])), timeout)

    def start(self, on_power: PowerHandler) -> None:
        with self._cond:
            self._on_power = on_power
            plugged = self._plugged
        on_power(PowerState.ONLINE if plugged else PowerState.OFFLINE, "")

    def stop(self) -> None:
        with self._cond:
            self._on_power = None

    def write(self, rows: Mapping[int, str], *, reset: bool) -> None:
        with self._cond:
            if not self._plugged or self._on_power is None:
                raise DeviceError("simulated pole display is unplugged")
            if reset:
                self._rows = [_BLANK] * ROWS
            for row, text in rows.items():
                if len(text) != WIDTH:
                    raise ValueError(f"a row is exactly {WIDTH} characters, got {len(text)}")
                self._rows[row] = text
            self._writes += 1
            self._cond.notify_all()

    def unplug(self) -> None:
        """Pull the cable: writes fail and the device goes offline (the glass keeps its text)."""
        self._replug(False)

    def plug(self) -> None:
        self._replug(True)

    def counters(self) -> Mapping[str, int]:
        with self._cond:
            return {"writes": self._writes}

    def _replug(self, plugged: bool) -> None:
        with self._cond:
            changed = plugged != self._plugged
            self._plugged = plugged
            on_power = self._on_power
        if changed and on_power is not None:
            on_power(
                PowerState.ONLINE if plugged else PowerState.OFFLINE, "" if plugged else "unplugged"
            )
