"""How bytes reach a receipt printer and its one-byte status replies come back.

Every backend (serial, network, USB, simulated) offers the same small interface, so the
printer device, its status checks and the print queue never know which one is underneath.
Replies arrive on a reader thread (serial, network) and are handed over through
:class:`Replies`, a queue the asking thread drains before it asks and then reads with a
timeout: a stale answer to an earlier query that timed out, or noise on the line, is skipped and
counted, never taken as the answer to this one.
"""

from __future__ import annotations

import queue
import termios
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from edge.peripherals.base import DeviceError, PowerState
from edge.peripherals.serial_port import Backoff, SerialConnection, SerialSettings

PowerHandler = Callable[[PowerState, str], None]
Accept = Callable[[int], bool]

_MAX_PENDING = 4096


class Transport(Protocol):
    """The link to one printer. ``write`` and ``ask`` raise ``DeviceError`` when offline."""

    @property
    def online(self) -> bool:
        """Whether the link is up (not whether the printer is fit to print)."""
        ...

    @property
    def generation(self) -> int:
        """Changes whenever the link is re-established (a reply on a new link confirms
        nothing that was sent on the old one)."""
        ...

    def start(self, on_power: PowerHandler) -> None:
        """Connect (in the background where that can take time); report power changes."""
        ...

    def stop(self) -> None: ...

    def write(self, data: bytes) -> None: ...

    def ask(self, request: bytes, accept: Accept, timeout: float) -> int | None:
        """Send ``request``; the first reply byte ``accept`` likes, or ``None`` by ``timeout``."""
        ...

    def counters(self) -> Mapping[str, int]: ...


class Replies:
    """Reply bytes from a reader thread to the one thread that asks (serialised by its caller)."""

    def __init__(self) -> None:
        self._pending: queue.Queue[int] = queue.Queue(maxsize=_MAX_PENDING)
        self._lock = threading.Lock()
        self.skipped = 0
        """Bytes that were not the awaited reply: stale answers, noise."""
        self.dropped = 0
        """Bytes lost because nobody was asking and the buffer was full (a babbling line)."""

    def feed(self, data: bytes) -> None:
        """Called on the reader thread with every chunk received; never blocks."""
        for value in data:
            try:
                self._pending.put_nowait(value)
            except queue.Full:
                with self._lock:
                    self.dropped += 1

    def discard(self) -> None:
        """Forget everything received so far (before a new query)."""
        while True:
            try:
                self._pending.get_nowait()
            except queue.Empty:
                return
            with self._lock:
                self.skipped += 1

    def wait(self, accept: Accept, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                value = self._pending.get(timeout=remaining)
            except queue.Empty:
                return None
            if accept(value):
                return value
            with self._lock:
                self.skipped += 1


class SerialTransport:
    """A printer on a serial port (RS-232 or USB-serial), kept open by :class:`SerialConnection`."""

    def __init__(self, settings: SerialSettings, *, backoff: Backoff | None = None) -> None:
        self.settings = settings
        self._backoff = backoff
        self._replies = Replies()
        self._conn: SerialConnection | None = None

    @property
    def online(self) -> bool:
        return self._conn is not None and self._conn.online

    @property
    def generation(self) -> int:
        return self._conn.reconnects if self._conn is not None else 0

    def start(self, on_power: PowerHandler) -> None:
        if self._conn is None:
            self._conn = SerialConnection(
                self.settings, self._replies.feed, on_power, backoff=self._backoff
            )
        self._conn.start()

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.stop()

    def write(self, data: bytes) -> None:
        conn = self._connection()
        try:
            conn.write(data)
        except termios.error as exc:
            # pyserial's flush() is tcdrain(), which fails with termios.error (not an OSError)
            # on a port whose device vanished; SerialConnection lets it through.
            raise DeviceError(f"{self.settings.port} write failed: {exc}") from exc

    def ask(self, request: bytes, accept: Accept, timeout: float) -> int | None:
        self._connection()
        self._replies.discard()
        self.write(request)
        return self._replies.wait(accept, timeout)

    def counters(self) -> Mapping[str, int]:
        conn = self._conn
        return {
            "reconnects": conn.reconnects if conn else 0,
            "bytes_out": conn.bytes_out if conn else 0,
            "bytes_in": conn.bytes_in if conn else 0,
            "replies_skipped": self._replies.skipped,
            "replies_dropped": self._replies.dropped,
        }

    def _connection(self) -> SerialConnection:
        if self._conn is None:
            raise DeviceError(f"{self.settings.port} is not started")
        return self._conn
