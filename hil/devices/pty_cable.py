"""A serial cable made of a pseudo-terminal, which a test can pull out and plug back in.

A device emulator holds the pty's master end; the till opens the slave end through a stable
symlink, as it would open ``/dev/serial/by-id/...`` on a real till. :meth:`PtyCable.unplug`
closes the master (the till's reads fail with ``EIO``, as when a USB-serial adapter is pulled)
and removes the link; :meth:`PtyCable.plug` makes a fresh pty and points the link at it, as udev
does when the adapter comes back.
"""

from __future__ import annotations

import contextlib
import os
import select
import termios
import threading
import tty
from pathlib import Path


class PtyCable:
    """The emulator's end of a pty, reachable by the till at :attr:`path`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._master: int | None = None
        self._slave: int | None = None
        self._lock = threading.Lock()
        self.plug()

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> None:
        """Connect a fresh pty at :attr:`path` (no-op if already plugged)."""
        with self._lock:
            if self._master is not None:
                return
            master, slave = os.openpty()
            # Raw mode on both ends: no echo, no CR/LF translation, every byte passes as sent.
            tty.setraw(master)
            tty.setraw(slave)
            attrs = termios.tcgetattr(slave)
            attrs[3] &= ~termios.ECHO
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
            tmp = self.path.with_name(self.path.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(os.ttyname(slave))
            tmp.replace(self.path)
            self._master, self._slave = master, slave

    def unplug(self) -> None:
        """Pull the cable: the till's open port fails and the path disappears."""
        with self._lock:
            master, slave = self._master, self._slave
            self._master = self._slave = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        for fd in (master, slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def write(self, data: bytes) -> None:
        """Send bytes to the till (silently dropped while unplugged, as on a real wire)."""
        master = self._master
        if master is None:
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(master, view)
            except OSError:
                return
            view = view[n:]

    def read(self, timeout: float) -> bytes:
        """Bytes the till sent, waiting up to ``timeout`` s; ``b""`` if none (or unplugged)."""
        master = self._master
        if master is None:
            return b""
        try:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                return b""
            return os.read(master, 4096)
        except (OSError, ValueError):
            return b""

    def close(self) -> None:
        self.unplug()
