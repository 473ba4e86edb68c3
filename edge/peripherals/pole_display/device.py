"""The customer's 2×20 pole display: two lines of text, kept right through a pulled cable.

The till calls :meth:`PoleDisplay.show` whenever the sale changes and never waits for the
display: the text is stored, and a writer thread puts it on the glass — coalescing bursts (at
9600 baud a full refresh takes ~50 ms, and only the newest text matters) and scrolling lines
longer than 20 columns as a marquee. When the display comes back after being unplugged, the
writer re-initialises it and re-sends both lines, so the customer never keeps seeing a stale
total. Text is folded to the display's code page first (:mod:`.codepage`), so what
:attr:`PoleDisplay.lines` reports is exactly what the customer sees.

The backend (:class:`DisplayBackend`) is the wire: a serial port speaking a command set, or a
simulation holding the two lines in memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import ClassVar, Protocol

from edge.peripherals.base import Device, PowerState
from edge.peripherals.pole_display import marquee
from edge.peripherals.pole_display.codepage import CodePage, fold
from edge.peripherals.pole_display.commands import ROWS, WIDTH

log = logging.getLogger(__name__)

PowerHandler = Callable[[PowerState, str], None]


class DisplayBackend(Protocol):
    """Puts 20-column rows on a display; reports whether the display is reachable."""

    @property
    def code_page(self) -> CodePage:
        """The character table the display uses; the device folds text to it."""
        ...

    def start(self, on_power: PowerHandler) -> None:
        """Begin; call ``on_power`` with every online/offline change (on any thread)."""
        ...

    def stop(self) -> None:
        """Stop and free the port; must not raise."""
        ...

    def write(self, rows: Mapping[int, str], *, reset: bool) -> None:
        """Show ``rows`` (row index → 20 folded characters), after initialising if ``reset``.

        Raises :class:`DeviceError` if it could not be sent; the device will send it again.
        """
        ...

    def counters(self) -> Mapping[str, int]: ...


class PoleDisplay(Device):
    """Two lines for the customer; marquee for long lines; re-sent after every reconnect."""

    kind: ClassVar[str] = "pole_display"

    RETRY_AFTER = 1.0
    """After a failed write with no reconnect reported, try again after this many seconds."""

    def __init__(
        self,
        name: str,
        backend: DisplayBackend,
        *,
        marquee_interval: float | None = 0.35,
        marquee_gap: int = 3,
        marquee_hold: int = 2,
    ) -> None:
        super().__init__(name)
        if marquee_interval is not None and marquee_interval <= 0:
            raise ValueError("marquee_interval must be > 0 seconds, or None for manual ticks")
        marquee.cycle_length("", gap=marquee_gap, hold=marquee_hold)  # validates them
        self.backend = backend
        self.marquee_interval = marquee_interval
        self._gap = marquee_gap
        self._hold = marquee_hold
        self._cond = threading.Condition()
        self._text = ["", ""]  # folded, full length
        self._start = [0, 0]  # the tick at which each row's text was set
        self._tick = 0
        self._dirty: set[int] = set()
        self._reset_needed = False
        self._online = False
        self._power_gen = 0  # bumped by every "online" report
        self._failed_gen: int | None = None  # power_gen at the last failed write
        self._retry_at = 0.0
        self._writing = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._counts = {"frames_written": 0, "write_failures": 0, "refreshes": 0, "ticks": 0}

    # -- what the till uses ----------------------------------------------------------------

    def show(self, line1: str, line2: str = "") -> None:
        """Show two lines (any Unicode; longer than 20 columns scrolls). Never waits."""
        self._require_enabled()
        page = self.backend.code_page
        texts = (fold(line1, page), fold(line2, page))
        with self._cond:
            for row, text in enumerate(texts):
                if text != self._text[row]:
                    self._text[row] = text
                    self._start[row] = self._tick
                    self._dirty.add(row)
            if self._dirty:
                self._cond.notify_all()

    def clear(self) -> None:
        """Blank both lines."""
        self.show("", "")

    def tick(self) -> None:
        """Advance scrolling lines by one frame (the timer calls this; tests call it directly)."""
        with self._cond:
            self._advance()

    @property
    def lines(self) -> tuple[str, str]:
        """What the display shows now (or will, once reachable): two 20-character strings."""
        with self._cond:
            return self._frame(0), self._frame(1)

    def wait_written(self, timeout: float) -> bool:
        """True once everything shown so far has been sent; for start-up, shutdown and tests."""
        with self._cond:
            return self._cond.wait_for(
                lambda: (
                    self._online
                    and not self._dirty
                    and not self._reset_needed
                    and not self._writing
                ),
                timeout,
            )

    # -- lifecycle ---------------------------------------------------------------------------

    def _on_open(self) -> None:
        with self._cond:
            self._stopping = False
            self._reset_needed = True
        self._thread = threading.Thread(target=self._run, name=f"display {self.name}", daemon=True)
        self._thread.start()
        try:
            self.backend.start(self._power_changed)
        except Exception:
            self._stop_writer()
            raise
        with self._cond:
            if self._online:  # reported during start(), before the device counted as open
                self._power = PowerState.ONLINE

    def close(self) -> None:
        # Stop the port and the writer before taking the lifecycle lock: the port's reader
        # thread may be waiting for that lock to report a power change, and stopping joins it.
        self.backend.stop()
        self._stop_writer()
        super().close()

    def _on_close(self) -> None:
        with self._cond:
            self._online = False

    def _counters(self) -> Mapping[str, int]:
        with self._cond:
            counts = dict(self._counts)
        counts.update(self.backend.counters())
        return counts

    # -- the writer ----------------------------------------------------------------------------

    def _power_changed(self, power: PowerState, detail: str) -> None:
        with self._cond:
            self._online = power is PowerState.ONLINE
            if self._online:
                self._power_gen += 1
                self._reset_needed = True  # whatever the display shows now is not ours
            self._cond.notify_all()
        self._set_power(power, detail)

    def _run(self) -> None:
        next_tick: float | None = None
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    now = time.monotonic()
                    next_tick = self._auto_tick(now, next_tick)
                    if self._can_write(now):
                        break
                    deadlines = [d for d in (next_tick, self._retry_deadline()) if d is not None]
                    self._cond.wait(max(0.0, min(deadlines) - now) if deadlines else None)
                reset = self._reset_needed
                rows = {row: self._frame(row) for row in (range(ROWS) if reset else self._dirty)}
                self._dirty.clear()
                self._reset_needed = False
                self._writing = True
                gen = self._power_gen
            try:
                self.backend.write(rows, reset=reset)
            except Exception as exc:  # DeviceError, or a port library's own; never the thread
                log.warning("display %s: write failed, will re-send: %r", self.name, exc)
                with self._cond:
                    self._writing = False
                    self._reset_needed = True
                    self._failed_gen = gen
                    self._retry_at = time.monotonic() + self.RETRY_AFTER
                    self._counts["write_failures"] += 1
                    self._cond.notify_all()
                continue
            with self._cond:
                self._writing = False
                self._failed_gen = None
                self._counts["frames_written"] += 1
                if reset:
                    self._counts["refreshes"] += 1
                self._cond.notify_all()

    def _stop_writer(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- helpers, called with self._cond held ---------------------------------------------------

    def _frame(self, row: int) -> str:
        return marquee.frame(
            self._text[row], self._tick - self._start[row], gap=self._gap, hold=self._hold
        )

    def _scrolling(self) -> list[int]:
        return [row for row in range(ROWS) if len(self._text[row]) > WIDTH]

    def _advance(self) -> None:
        self._tick += 1
        self._counts["ticks"] += 1
        scrolling = self._scrolling()
        if scrolling:
            self._dirty.update(scrolling)
            self._cond.notify_all()

    def _auto_tick(self, now: float, next_tick: float | None) -> float | None:
        if self.marquee_interval is None or not self._scrolling():
            return None
        if next_tick is None:
            return now + self.marquee_interval
        if now >= next_tick:
            self._advance()
            return now + self.marquee_interval
        return next_tick

    def _can_write(self, now: float) -> bool:
        if not self._online or not (self._dirty or self._reset_needed):
            return False
        # After a failure, wait for a reconnect report (or the retry time) instead of spinning.
        return self._failed_gen != self._power_gen or now >= self._retry_at

    def _retry_deadline(self) -> float | None:
        if self._online and self._failed_gen == self._power_gen:
            return self._retry_at
        return None
