"""A USB printer through the kernel's ``usblp`` driver: ``/dev/usb/lp0`` as a file.

We use the character device rather than python-escpos's ``Usb`` class: that needs pyusb and
libusb, detaching the kernel driver, and the vendor and product ids in the config, while the
device file needs nothing and is readable for status replies on the bidirectional printers
tills use. There is no reader thread: the file is opened when first needed and reopened after a
failure (an unplugged printer's node vanishes, and writes fail with ``ENODEV``), so the queue's
status checks and retry timer are what reconnect it. A udev rule giving the printer a stable
name (``/dev/usb/receipt``) is advisable when a till has more than one USB printer.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Mapping

from edge.peripherals.base import DeviceError, PowerState
from edge.peripherals.printer.transport import Accept, PowerHandler

DEFAULT_DEVICE = "/dev/usb/lp0"


class UsbTransport:
    """A printer behind a ``usblp`` device node (any character device that reads and writes)."""

    def __init__(self, path: str = DEFAULT_DEVICE) -> None:
        if not path:
            raise ValueError("a USB printer needs a device path")
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._on_power: PowerHandler = lambda _p, _d: None
        self._started = False
        self._power = PowerState.UNKNOWN
        self._generation = 0
        self.reconnects = 0
        self.bytes_out = 0
        self.skipped = 0

    @property
    def online(self) -> bool:
        return self._fd is not None

    @property
    def generation(self) -> int:
        return self._generation

    def start(self, on_power: PowerHandler) -> None:
        self._on_power = on_power
        self._started = True
        with self._lock, contextlib.suppress(DeviceError):
            self._open()

    def stop(self) -> None:
        self._started = False
        with self._lock:
            self._close()

    def write(self, data: bytes) -> None:
        with self._lock:
            fd = self._open()
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(fd, view) :]
            except OSError as exc:
                self._failed(exc)
                raise DeviceError(f"printer {self.path} write failed: {exc}") from exc
            self.bytes_out += len(data)

    def ask(self, request: bytes, accept: Accept, timeout: float) -> int | None:
        with self._lock:
            fd = self._open()
            try:
                self.skipped += len(_read_available(fd, 0.0))
                os.write(fd, request)
                deadline = time.monotonic() + timeout
                while (remaining := deadline - time.monotonic()) > 0:
                    for value in _read_available(fd, remaining):
                        if accept(value):
                            return value
                        self.skipped += 1
            except OSError as exc:
                self._failed(exc)
                raise DeviceError(f"printer {self.path} failed: {exc}") from exc
            return None

    def counters(self) -> Mapping[str, int]:
        return {
            "reconnects": self.reconnects,
            "bytes_out": self.bytes_out,
            "replies_skipped": self.skipped,
        }

    def _open(self) -> int:
        if self._fd is not None:
            return self._fd
        if not self._started:
            raise DeviceError(f"printer {self.path} is not started")
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as exc:
            self._report(PowerState.OFFLINE, f"cannot open {self.path}: {exc.strerror}")
            raise DeviceError(f"printer {self.path} is offline: {exc.strerror}") from exc
        self._generation += 1
        if self._power is PowerState.OFFLINE:
            self.reconnects += 1
        self._report(PowerState.ONLINE, "")
        return self._fd

    def _failed(self, exc: OSError) -> None:
        self._close()
        self._report(PowerState.OFFLINE, f"connection lost: {exc.strerror or exc}")

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _report(self, power: PowerState, detail: str) -> None:
        if power is not self._power:
            self._power = power
            self._on_power(power, detail)


def _read_available(fd: int, timeout: float) -> bytes:
    """What can be read within ``timeout`` s (``b""`` if nothing)."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return b""
    return os.read(fd, 256)
