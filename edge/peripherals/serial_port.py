"""A serial port that survives a pulled cable: read in a thread, reconnect with backoff.

Every serial device (scanner, scale, pole display, printer, I/O board) sits on one of these. A
USB-serial adapter that is unplugged makes reads fail (``EIO``) and its ``/dev`` node vanish;
when it is plugged back in the node reappears under the same stable name (udev's
``/dev/serial/by-id/...``). So the connection reports ``offline``, closes, and tries to reopen
the *path* with jittered exponential backoff until it answers again, reporting ``online``. The
till never waits for this: writes to an offline port raise ``DeviceError`` at once, and the
device driver decides what to queue or degrade.

Tests use a pseudo-terminal behind a symlink, which behaves the same way: closing the master
end is a pulled cable, re-pointing the symlink at a new pty is plugging it back in.
"""

from __future__ import annotations

import contextlib
import logging
import random
import termios
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import serial

from edge.peripherals.base import DeviceError, PowerState

log = logging.getLogger(__name__)

Parity = Literal["N", "E", "O"]


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Where the device is and how it talks (as configured in the till's TOML)."""

    port: str
    baudrate: int = 9600
    bytesize: Literal[7, 8] = 8
    parity: Parity = "N"
    stopbits: Literal[1, 2] = 1
    write_timeout: float | None = 10.0
    """A device that stops reading (a printer jammed mid-job) fails the write after this many
    seconds instead of blocking its writer thread for ever."""

    def __post_init__(self) -> None:
        if not self.port:
            raise ValueError("a serial device needs a port path")
        if self.baudrate not in serial.SerialBase.BAUDRATES or self.baudrate < 300:
            raise ValueError(f"unsupported baud rate {self.baudrate}")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: ``initial`` doubling up to ``maximum``, each with ±``jitter`` spread.

    Jitter keeps a shop's tills (and a till's devices) from retrying in lockstep.
    """

    initial: float = 0.2
    maximum: float = 5.0
    jitter: float = 0.2

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.maximum, self.initial * (2 ** min(attempt, 30)))
        return float(base * (1 + self.jitter * (2 * rng.random() - 1)))


DataHandler = Callable[[bytes], None]
PowerHandler = Callable[[PowerState, str], None]


class SerialConnection:
    """One serial port kept open by a reader thread.

    ``on_data`` receives every chunk read, in order, on the reader thread; ``on_power`` is told
    ``online`` after each successful open and ``offline`` (with the error) after each loss. Both
    must only hand work over (to a decoder, a queue), never block.
    """

    READ_TIMEOUT = 0.05
    """How long a read waits, which bounds how fast :meth:`stop` returns."""

    def __init__(
        self,
        settings: SerialSettings,
        on_data: DataHandler,
        on_power: PowerHandler,
        *,
        backoff: Backoff | None = None,
        name: str | None = None,
    ) -> None:
        self.settings = settings
        self._on_data = on_data
        self._on_power = on_power
        self._backoff = backoff or Backoff()
        self._name = name or settings.port
        self._rng = random.Random()
        self._stop = threading.Event()
        self._online = threading.Event()
        self._write_lock = threading.Lock()
        self._port: serial.Serial | None = None
        self._thread: threading.Thread | None = None
        self._offline_reported = False
        self._ever_online = False
        self.reconnects = 0
        self.bytes_in = 0
        self.bytes_out = 0

    @property
    def online(self) -> bool:
        return self._online.is_set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"serial {self._name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def wait_online(self, timeout: float) -> bool:
        """True once the port is open (for start-up and tests; the till never blocks on it)."""
        return self._online.wait(timeout)

    def write(self, data: bytes) -> None:
        """Send ``data`` now; raises :class:`DeviceError` if the port is not open or fails."""
        with self._write_lock:
            port = self._port
            if port is None or not self._online.is_set():
                raise DeviceError(f"{self._name} is offline")
            try:
                port.write(data)
                port.flush()
            except (serial.SerialException, OSError, termios.error) as exc:
                # tcdrain (flush) raises termios.error, not OSError, on a pulled cable.
                self._lost(exc)
                raise DeviceError(f"{self._name} write failed: {exc}") from exc
            self.bytes_out += len(data)

    # -- the reader thread -----------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                port = serial.Serial(
                    self.settings.port,
                    baudrate=self.settings.baudrate,
                    bytesize=self.settings.bytesize,
                    parity=self.settings.parity,
                    stopbits=self.settings.stopbits,
                    timeout=self.READ_TIMEOUT,
                    write_timeout=self.settings.write_timeout,
                    exclusive=True,
                )
            except (serial.SerialException, OSError, ValueError) as exc:
                if not self._offline_reported:
                    self._offline_reported = True
                    self._on_power(PowerState.OFFLINE, f"cannot open {self.settings.port}: {exc}")
                self._stop.wait(self._backoff.delay(attempt, self._rng))
                attempt += 1
                continue
            with self._write_lock:
                self._port = port
                self._online.set()
            if self._ever_online:
                self.reconnects += 1
            self._ever_online = True
            attempt = 0
            self._offline_reported = False
            self._on_power(PowerState.ONLINE, "")
            self._read_until_lost(port)

    def _read_until_lost(self, port: serial.Serial) -> None:
        while not self._stop.is_set():
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError, TypeError) as exc:
                # pyserial raises TypeError from in_waiting on a port closed under it.
                self._lost(exc)
                return
            if data:
                self.bytes_in += len(data)
                try:
                    self._on_data(bytes(data))
                except Exception:  # a decoder bug must not kill the reader
                    log.exception("serial %s: data handler failed", self._name)

    def _lost(self, exc: BaseException) -> None:
        was_online = self._online.is_set()
        self._close()
        if was_online and not self._stop.is_set():
            self._offline_reported = True
            log.warning("serial %s lost: %s", self._name, exc)
            self._on_power(PowerState.OFFLINE, f"connection lost: {exc}")

    def _close(self) -> None:
        self._online.clear()
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()
