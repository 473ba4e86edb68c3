"""What every scanner backend offers the till: scans pushed to subscribers, drops counted.

UnifiedPOS delivers scanner data only while the device is enabled; a code read while disabled
(between sales, in a manager screen) is dropped and counted rather than queued, so an old scan
can never land in the next sale.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from edge.peripherals.base import Device, PowerState
from edge.peripherals.scanner.framing import Code, Dropped, DropReason, Outcome, classify
from protocol.barcodes import MAX_SCAN_LENGTH

log = logging.getLogger(__name__)

ScanListener = Callable[[str, "str | None"], None]
"""``on_scan(code, symbology)``: called on the reader thread, so it must only enqueue."""
DropListener = Callable[[DropReason], None]
"""Told about each dropped read (the till may beep); same threading rule."""


class Scanner(Device):
    """Base of the serial, keyboard (HID) and simulated scanners."""

    kind = "scanner"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        # Its own lock, not the lifecycle one: the reader thread delivers while close() may
        # hold the lifecycle lock waiting for that very thread to stop.
        self._scan_lock = threading.Lock()
        self._scan_listeners: list[ScanListener] = []
        self._drop_listeners: list[DropListener] = []
        self._counts: Counter[str] = Counter()

    def subscribe_scans(self, listener: ScanListener) -> Callable[[], None]:
        """Call ``listener(code, symbology)`` for every good scan while enabled."""
        return self._add(self._scan_listeners, listener)

    def subscribe_drops(self, listener: DropListener) -> Callable[[], None]:
        """Call ``listener(reason)`` for every read that was skipped."""
        return self._add(self._drop_listeners, listener)

    def _add(
        self, listeners: list[Callable[..., None]], listener: Callable[..., None]
    ) -> Callable[[], None]:
        with self._scan_lock:
            listeners.append(listener)

        def unsubscribe() -> None:
            with self._scan_lock:
                if listener in listeners:
                    listeners.remove(listener)

        return unsubscribe

    def _handle(self, outcomes: Iterable[Outcome]) -> None:
        """Count and deliver what the framer or key translator produced (any thread)."""
        for outcome in outcomes:
            if not isinstance(outcome, Code):
                self._drop(outcome)
            elif self._enabled:
                self._deliver(outcome)
            else:
                self._drop(Dropped(DropReason.DISABLED, len(outcome.text)))

    def _drop(self, dropped: Dropped) -> None:
        with self._scan_lock:
            self._counts[dropped.reason.value] += 1
            listeners = list(self._drop_listeners)
        log.debug("scanner %s dropped %d: %s", self.name, dropped.size, dropped.reason)
        for listener in listeners:
            self._call(listener, dropped.reason)

    def _deliver(self, code: Code) -> None:
        with self._scan_lock:
            self._counts["codes"] += 1
            listeners = list(self._scan_listeners)
        for listener in listeners:
            self._call(listener, code.text, code.symbology)

    def _call(self, listener: Callable[..., None], *args: object) -> None:
        try:
            listener(*args)
        except Exception:  # a broken subscriber must not kill the reader
            log.exception("scan listener of %s failed", self.name)

    def _counters(self) -> Mapping[str, int]:
        with self._scan_lock:
            return dict(self._counts)


class SimulatedScanner(Scanner):
    """A scanner driven from code: the demo's shopper and the HIL rig call :meth:`scan`.

    Codes go through the same validation as a real line (printable ASCII plus GS, length,
    AIM identifier), so a test can also feed it bad reads. :meth:`unplug` and :meth:`plug`
    play a pulled cable.
    """

    def __init__(self, name: str, *, aim: bool = False, max_length: int = MAX_SCAN_LENGTH) -> None:
        super().__init__(name)
        self._aim = aim
        self._max_length = max_length
        self._plugged = True

    def open(self) -> None:
        super().open()
        self._set_power(PowerState.ONLINE if self._plugged else PowerState.OFFLINE)

    def scan(self, code: str, symbology: str | None = None) -> None:
        """Deliver ``code`` as if scanned (``symbology`` is the AIM identifier, e.g. ``]E0``)."""
        if not self._plugged:
            return
        text = (symbology or "") + code
        outcome: Outcome
        if not text.isascii():
            outcome = Dropped(DropReason.NON_ASCII, len(text.encode("utf-8")))
        else:
            aim = self._aim or symbology is not None
            outcome = classify(text.encode("ascii"), aim=aim, max_length=self._max_length)
        self._handle([outcome])

    def unplug(self) -> None:
        self._plugged = False
        self._set_power(PowerState.OFFLINE, "unplugged")

    def plug(self) -> None:
        self._plugged = True
        self._set_power(PowerState.ONLINE)
