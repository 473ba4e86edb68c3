"""A keyboard-wedge (USB HID) scanner read through evdev, grabbed so it never types elsewhere.

The scanner is opened by its stable path (``/dev/input/by-id/usb-…-event-kbd``) and grabbed
(``EVIOCGRAB``) while claimed: without the grab every scan would also be typed into whatever
window has focus on the operator screen. Key events become text through
:mod:`edge.peripherals.scanner.keymap`. Unplugging makes reads fail with ``ENODEV``; the reader
thread then reopens the path with the same jittered backoff the serial ports use, and grabs again.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import threading
from collections.abc import Iterable
from typing import Any

import evdev

from edge.peripherals.base import DeviceError, PowerState
from edge.peripherals.scanner.device import Scanner
from edge.peripherals.scanner.framing import Outcome
from edge.peripherals.scanner.keymap import KeyTranslator, Layout
from edge.peripherals.serial_port import Backoff
from protocol.barcodes import MAX_SCAN_LENGTH

log = logging.getLogger(__name__)

EV_KEY = 1
POLL = 0.1
"""How long one wait for input lasts, which bounds how fast close() returns."""


def feed_events(translator: KeyTranslator, events: Iterable[Any]) -> list[Outcome]:
    """What a batch of ``evdev.InputEvent`` does: key events typed, the rest (SYN, MSC) ignored."""
    outcomes = (translator.feed(e.code, e.value) for e in events if e.type == EV_KEY)
    return [o for o in outcomes if o is not None]


class HidScanner(Scanner):
    def __init__(
        self,
        name: str,
        path: str,
        layout: Layout,
        *,
        aim: bool = False,
        max_length: int = MAX_SCAN_LENGTH,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(name)
        if not path:
            raise ValueError("a keyboard scanner needs an input device path")
        self.path = path
        self.layout = layout
        self._aim = aim
        self._max_length = max_length
        self._backoff = backoff or Backoff()
        self._rng = random.Random()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dev_lock = threading.Lock()
        self._dev: Any = None  # evdev.InputDevice while open
        self._want_grab = False
        self.reconnects = 0

    def _on_open(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"hid {self.name}", daemon=True)
        self._thread.start()

    def _on_claim(self) -> None:
        with self._dev_lock:
            if self._dev is not None:
                try:
                    self._dev.grab()
                except OSError as exc:
                    msg = f"{self.name}: {self.path} is held by another program"
                    raise DeviceError(msg) from exc
            self._want_grab = True

    def _on_release(self) -> None:
        with self._dev_lock:
            self._want_grab = False
            if self._dev is not None:
                with contextlib.suppress(OSError):
                    self._dev.ungrab()

    def _on_close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._drop_device()

    def _counters(self) -> dict[str, int]:
        return {**super()._counters(), "reconnects": self.reconnects}

    # -- the reader thread -----------------------------------------------------------------

    def _run(self) -> None:
        attempt, offline_reported, ever_online = 0, False, False
        while not self._stop.is_set():
            try:
                self._open_device()
            except OSError as exc:
                if not offline_reported:
                    offline_reported = True
                    self._report(PowerState.OFFLINE, f"cannot open {self.path}: {exc}")
                self._stop.wait(self._backoff.delay(attempt, self._rng))
                attempt += 1
                continue
            if ever_online:
                self.reconnects += 1
            attempt, offline_reported, ever_online = 0, False, True
            self._report(PowerState.ONLINE, "")
            try:
                self._read_until_lost()
            except OSError as exc:
                log.warning("scanner %s lost: %s", self.name, exc)
                offline_reported = True
                self._report(PowerState.OFFLINE, f"connection lost: {exc}")
            self._drop_device()

    def _open_device(self) -> None:
        dev = evdev.InputDevice(self.path)
        with self._dev_lock:
            try:
                if self._want_grab:
                    dev.grab()
            except OSError:
                dev.close()
                raise
            self._dev = dev

    def _read_until_lost(self) -> None:
        translator = KeyTranslator(self.layout, aim=self._aim, max_length=self._max_length)
        dev = self._dev
        while not self._stop.is_set():
            ready, _, _ = select.select([dev.fd], [], [], POLL)
            if not ready:
                continue
            try:
                events = list(dev.read())
            except BlockingIOError:
                continue
            self._handle(feed_events(translator, events))

    def _drop_device(self) -> None:
        with self._dev_lock:
            dev, self._dev = self._dev, None
        if dev is not None:
            with contextlib.suppress(OSError):
                dev.close()

    def _report(self, power: PowerState, detail: str) -> None:
        if not self._stop.is_set():
            self._set_power(power, detail)
