"""Device input to checkout commands: a scan adds an item, a weighed item takes the scale's
stable weight, and the customer displays follow the view.

Device threads only enqueue here; one worker thread turns the queue into commands on the
checkout's own command queue (``submit``), so a slow scale never holds up a reader thread and
the checkout stays the only writer.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable

import msgspec

from edge.checkout import commands as cmd
from edge.checkout.till import Reply
from edge.peripherals.base import DeviceError
from edge.station.devices import Devices
from edge.station.keypad import Keypad

log = logging.getLogger(__name__)

Submit = Callable[[cmd.Command], Reply]


class InputRouter:
    """Turns scans into ``AddItem`` commands (with a stable weight where the item needs one)."""

    WEIGH_TIMEOUT_S = 8.0
    """How long a weighed item may take to settle on the scale before the scan is given up."""

    def __init__(self, devices: Devices, submit: Submit) -> None:
        self.devices = devices
        self.submit = submit
        self._queue: queue.Queue[cmd.Command | None] = queue.Queue(maxsize=256)
        self.keypad = Keypad()
        self._due: int | None = None
        self._thread: threading.Thread | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self.replies: list[Reply] = []
        self.handled = 0
        self.dropped = 0
        self._handled = threading.Condition()

    def start(self) -> None:
        for scanner in self.devices.scanners:
            self._unsubscribe.append(scanner.subscribe_scans(self._on_scan))
        if self.devices.ioboard is not None:
            self._unsubscribe.append(self.devices.ioboard.on_key(self._on_key))
        self._thread = threading.Thread(target=self._run, name="inputs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _on_scan(self, code: str, symbology: str | None) -> None:
        self.enter(cmd.AddItem(code=(symbology or "") + code))

    def _on_key(self, key: str, kind: str) -> None:
        if kind == "up":
            return
        command = self.keypad.key(key, self._due)
        if command is not None:
            self.enter(command)

    def enter(self, command: cmd.Command) -> None:
        """Queue a command from a device: an item scanned or keyed (a PLU for loose produce
        takes the scale's weight), or a keyed tender."""
        try:
            self._queue.put_nowait(command)
        except queue.Full:  # the checkout is stuck; a cashier rescans what did not beep
            self.dropped += 1

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._add(item)
            except Exception:  # a bug in one scan must not end scanning
                log.exception("%r could not be handled", item)
            with self._handled:
                self.handled += 1
                self._handled.notify_all()

    def wait_handled(self, count: int, timeout: float) -> bool:
        """Block until ``count`` scans were handled (tests and the demo's shopper)."""
        with self._handled:
            return self._handled.wait_for(lambda: self.handled >= count, timeout)

    def _add(self, command: cmd.Command) -> None:
        reply = self.submit(command)
        if (
            isinstance(command, cmd.AddItem)
            and not reply.ok
            and (reply.data or {}).get("needs") == "weight"
        ):
            reply = self._weighed(command) or reply
        self._feedback(reply)

    def _weighed(self, command: cmd.AddItem) -> Reply | None:
        scale = self.devices.scale
        if scale is None:
            return None
        try:
            reading = scale.wait_stable(self.WEIGH_TIMEOUT_S)
        except DeviceError as exc:
            log.info("weighing for %r failed: %s", command, exc)
            return None
        if reading.grams is None:
            return None
        return self.submit(msgspec.structs.replace(command, weight_g=reading.grams))

    def _feedback(self, reply: Reply) -> None:
        sale = reply.view.sale
        self._due = sale.due if sale is not None else None
        self.replies.append(reply)
        del self.replies[:-50]
        board = self.devices.ioboard
        if board is not None and not reply.ok:
            board.beep(300)  # a refused scan is heard, its reason is on the operator screen


def show_customer(devices: Devices, reply: Reply) -> None:
    """Put the view's customer lines on every customer-facing display (never blocks)."""
    line1, line2 = reply.view.customer
    for display in devices.displays:
        with contextlib.suppress(DeviceError):  # out of service: health says so
            display.show(line1, line2)
    board = devices.ioboard
    if board is not None:
        with contextlib.suppress(DeviceError):
            board.show(line1, line2)
