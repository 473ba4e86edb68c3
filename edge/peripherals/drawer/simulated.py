"""A drawer that exists only in memory, for the demo and the HIL rig.

It behaves like the real thing seen from the till: a kick opens it after a short delay (the
latch releasing and the tray sliding out), a jammed one never opens, and someone must close it
by hand (:meth:`SimulatedDrawerBackend.close_by_hand`) — or open it with the key. The delay
runs on a timer, so tests wait on the drawer's events instead of sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from edge.peripherals.base import DeviceError
from edge.peripherals.drawer.device import SenseHandler


class SimulatedDrawerBackend:
    """A drawer with a sense switch, a configurable opening delay, and a jam switch."""

    def __init__(
        self, *, open_delay: float = 0.15, jammed: bool = False, starts_open: bool = False
    ) -> None:
        if open_delay < 0:
            raise ValueError("open_delay must be >= 0 seconds")
        self.open_delay = open_delay
        self.jammed = jammed
        self._open = starts_open
        self._lock = threading.Lock()
        self._deliver = threading.Lock()
        self._on_sense: SenseHandler | None = None
        self._timer: threading.Timer | None = None
        self.pulses = 0

    @property
    def has_sense(self) -> bool:
        return True

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._open

    def start(self, on_sense: SenseHandler) -> bool | None:
        with self._lock:
            self._on_sense = on_sense
            return self._open

    def stop(self) -> None:
        with self._lock:
            self._on_sense = None
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def pulse(self) -> None:
        with self._lock:
            if self._on_sense is None:
                raise DeviceError("simulated drawer is not open")
            self.pulses += 1
            if self.jammed:
                return
            if self.open_delay > 0:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = threading.Timer(self.open_delay, self._spring_open)
                self._timer.name = "simulated drawer"
                self._timer.daemon = True
                self._timer.start()
                return
        self._spring_open()

    def close_by_hand(self) -> None:
        """The cashier pushes the tray shut."""
        self._move(False)

    def open_by_key(self) -> None:
        """Someone opens the drawer with its key (no kick)."""
        self._move(True)

    def counters(self) -> Mapping[str, int]:
        return {"pulses": self.pulses}

    def _spring_open(self) -> None:
        with self._lock:
            self._timer = None
            if self.jammed:
                return
        self._move(True)

    def _move(self, is_open: bool) -> None:
        with self._deliver:  # readings reach the drawer in the order the tray moved
            with self._lock:
                self._open = is_open
                on_sense = self._on_sense
            if on_sense is not None:
                on_sense(is_open)
