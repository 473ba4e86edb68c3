"""A printer on the network: raw TCP to port 9100 ("JetDirect"), kept connected in a thread.

It behaves like :class:`~edge.peripherals.serial_port.SerialConnection` for a serial port: a
reader thread connects, reports ``online``, hands every received byte over, and on a lost
connection (the printer reset, a switch rebooted) reports ``offline`` and reconnects with the
same jittered backoff. Many network printers serve one connection at a time and drop idle ones,
which this survives the same way. TCP keepalive is switched on with short timers so a printer
whose cable was pulled is noticed even while no receipt is printing; a write to a vanished
printer that TCP still buffers is caught by the status check the queue makes after each job.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import socket
import threading
from collections.abc import Mapping

from edge.peripherals.base import DeviceError, PowerState
from edge.peripherals.printer.transport import Accept, PowerHandler, Replies
from edge.peripherals.serial_port import Backoff

log = logging.getLogger(__name__)

RAW_PORT = 9100
_POLL = 0.05
"""How long the reader waits for data before checking for stop (bounds :meth:`stop`)."""


class NetworkTransport:
    """A printer at ``host:port``, reached over TCP."""

    def __init__(
        self,
        host: str,
        port: int = RAW_PORT,
        *,
        backoff: Backoff | None = None,
        connect_timeout: float = 3.0,
        write_timeout: float = 10.0,
    ) -> None:
        if not host:
            raise ValueError("a network printer needs a host")
        if not 1 <= port <= 65535:
            raise ValueError(f"port must be 1..65535, got {port}")
        self.host, self.port = host, port
        self._backoff = backoff or Backoff()
        self._connect_timeout = connect_timeout
        self._write_timeout = write_timeout
        self._replies = Replies()
        self._rng = random.Random()
        self._stop = threading.Event()
        self._online = threading.Event()
        self._write_lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._on_power: PowerHandler = lambda _p, _d: None
        self._offline_reported = False
        self._generation = 0
        self.reconnects = 0
        self.bytes_out = 0
        self.bytes_in = 0

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def online(self) -> bool:
        return self._online.is_set()

    @property
    def generation(self) -> int:
        return self._generation

    def start(self, on_power: PowerHandler) -> None:
        if self._thread is not None:
            return
        self._on_power = on_power
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"printer {self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def write(self, data: bytes) -> None:
        with self._write_lock:
            sock = self._sock
            if sock is None or not self._online.is_set():
                raise DeviceError(f"printer {self.name} is offline")
            try:
                sock.sendall(data)
            except OSError as exc:
                error = exc
            else:
                self.bytes_out += len(data)
                return
        self._lost(error)
        raise DeviceError(f"printer {self.name} write failed: {error}") from error

    def ask(self, request: bytes, accept: Accept, timeout: float) -> int | None:
        self._replies.discard()
        self.write(request)
        return self._replies.wait(accept, timeout)

    def counters(self) -> Mapping[str, int]:
        return {
            "reconnects": self.reconnects,
            "bytes_out": self.bytes_out,
            "bytes_in": self.bytes_in,
            "replies_skipped": self._replies.skipped,
            "replies_dropped": self._replies.dropped,
        }

    # -- the reader thread -----------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                sock = socket.create_connection(
                    (self.host, self.port), timeout=self._connect_timeout
                )
            except OSError as exc:
                if not self._offline_reported:
                    self._offline_reported = True
                    self._on_power(PowerState.OFFLINE, f"cannot connect to {self.name}: {exc}")
                self._stop.wait(self._backoff.delay(attempt, self._rng))
                attempt += 1
                continue
            sock.settimeout(self._write_timeout)
            _keepalive(sock)
            with self._write_lock:
                self._sock = sock
                self._generation += 1
                self._online.set()
            if attempt > 0 or self._offline_reported:
                self.reconnects += 1
            attempt = 0
            self._offline_reported = False
            self._on_power(PowerState.ONLINE, "")
            self._read_until_lost(sock)

    def _read_until_lost(self, sock: socket.socket) -> None:
        while not self._stop.is_set() and self._online.is_set():
            try:
                ready, _, _ = select.select([sock], [], [], _POLL)
                if not ready:
                    continue
                data = sock.recv(4096)
            except (OSError, ValueError) as exc:
                self._lost(exc)
                return
            if not data:
                self._lost(ConnectionResetError("the printer closed the connection"))
                return
            self.bytes_in += len(data)
            self._replies.feed(data)

    def _lost(self, exc: BaseException) -> None:
        """Close the connection and report offline, once per connection."""
        with self._write_lock:
            was_online = self._online.is_set()
            self._online.clear()
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        if was_online and not self._stop.is_set():
            self._offline_reported = True
            log.warning("printer %s lost: %s", self.name, exc)
            self._on_power(PowerState.OFFLINE, f"connection lost: {exc}")

    def _close(self) -> None:
        with self._write_lock:
            self._online.clear()
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


def _keepalive(sock: socket.socket) -> None:
    """Probe an idle connection after 10 s, every 5 s, give up after 3 misses (Linux)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, option):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
