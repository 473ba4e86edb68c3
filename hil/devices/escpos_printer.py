"""An ESC/POS receipt printer, emulated byte for byte on a serial cable or a TCP socket.

The till's printer driver talks to this exactly as to a printer on the counter: over a
:class:`~hil.devices.pty_cable.PtyCable` (the serial or USB-printer path) and/or a raw TCP
listener on 127.0.0.1 (the network path, port 9100 on a real printer). It records every byte,
and answers the real-time status query ``DLE EOT n`` (n = 1..4) the moment it arrives, from its
state — paper ok / near end / out, cover open, offline, errors, the drawer sense pin — as a real
printer does: real-time commands are found anywhere in the byte stream, even while the paper is
out and the rest of the data waits in the buffer.

Print data is "printed" (moved to :attr:`EscPosPrinter.printed`) only while the printer is fit
to print; with the paper out or the cover open it is held, and printed when the fault clears.
Faults for the rig and the tests: pull the cable after N more bytes, run out of paper (or any
other state change) after N more bytes, stop reading (a stalled printer: the host's writes
block), noise before every reply, drop the TCP connection, stop answering (switched off behind
a live cable).

This module stands alone (no import from the till): the rig treats the till as a black box.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable
from typing import Literal

from hil.devices.pty_cable import PtyCable

PaperState = Literal["ok", "near_end", "out"]

DLE, EOT = 0x10, 0x04
_FIXED = 0x12  # bits 1 and 4 set, 0 and 7 clear, in every DLE EOT reply
_POLL = 0.02
_STATE = {
    "paper", "cover_open", "offline", "answering", "drawer_high", "cutter_error",
    "unrecoverable_error", "recoverable_error",
}  # fmt: skip


class EscPosPrinter:
    """The emulated printer; every method may be called from any thread."""

    def __init__(self, cable: PtyCable | None = None, *, tcp: bool = False) -> None:
        self.cable = cable
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None
        if tcp:
            self._listener = socket.create_server(("127.0.0.1", 0))
        # state
        self.paper: PaperState = "ok"
        self.cover_open = False
        self.offline = False
        self.answering = True
        self.drawer_high = False
        self.cutter_error = False
        self.unrecoverable_error = False
        self.recoverable_error = False
        # what arrived
        self.received = bytearray()
        """Every byte received, status queries included, in order."""
        self.printed = bytearray()
        """Print data (status queries removed) that reached the paper."""
        self.held = bytearray()
        """Print data waiting in the buffer for paper or a closed cover."""
        self.queries: list[int] = []
        self.replies = 0
        self.connections = 0
        # faults
        self.noise = b""
        """Bytes sent before every reply (line noise the driver must skip)."""
        self.stalled = False
        """Not reading (a busy printer with a full buffer): the host's writes block."""
        self._unplug_in: int | None = None
        self._replug = False
        self._stall_in: int | None = None
        self._changes: list[tuple[int, dict[str, object]]] = []
        self._pending_dle = 0  # 0: none, 1: saw DLE, 2: saw DLE EOT

    # -- wiring -------------------------------------------------------------------------------

    @property
    def tcp_address(self) -> tuple[str, int]:
        if self._listener is None:
            raise RuntimeError("this printer has no TCP listener (tcp=False)")
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> None:
        if self.cable is not None:
            self._spawn(self._serve_cable, "escpos pty")
        if self._listener is not None:
            self._spawn(self._serve_tcp, "escpos tcp")

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        self.drop_tcp()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> EscPosPrinter:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- state and faults ---------------------------------------------------------------------

    def set(self, **state: object) -> None:
        """Change state (``paper="out"``, ``cover_open=True``, ``answering=False`` ...)."""
        with self._cond:
            for key, value in state.items():
                if key not in _STATE:
                    raise AttributeError(f"no printer state {key!r}; known: {sorted(_STATE)}")
                setattr(self, key, value)
            self._flush()
            self._cond.notify_all()

    def unplug_after(self, n: int, *, replug: bool = False) -> None:
        """Pull the cable (and drop the TCP connection) once ``n`` more bytes of print data
        have arrived; the rest of what was received with them is lost, as on a real wire.
        With ``replug`` the cable goes straight back in (a loose connector)."""
        with self._cond:
            self._unplug_in = n
            self._replug = replug

    def paper_out_after(self, n: int) -> None:
        """Run out of paper once ``n`` more bytes of print data have arrived."""
        self.change_after(n, paper="out")

    def change_after(self, n: int, **state: object) -> None:
        """Change state (as :meth:`set`) once ``n`` more bytes of print data have arrived."""
        unknown = set(state) - _STATE
        if unknown:
            raise AttributeError(f"no printer state {sorted(unknown)}; known: {sorted(_STATE)}")
        with self._cond:
            self._changes.append((n, dict(state)))

    def stall_after(self, n: int) -> None:
        """Stop reading once ``n`` more bytes of print data have arrived, until :meth:`resume`."""
        with self._cond:
            self._stall_in = n

    def resume(self) -> None:
        with self._cond:
            self.stalled = False
            self._stall_in = None
            self._cond.notify_all()

    def drop_tcp(self) -> None:
        """Close the current TCP connection (a printer reset, a switch rebooting)."""
        with self._cond:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                client.close()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate()`` holds (re-checked after every chunk and state change)."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    @property
    def fit_to_print(self) -> bool:
        return (
            self.paper != "out"
            and not self.cover_open
            and not self.offline
            and not (self.cutter_error or self.unrecoverable_error or self.recoverable_error)
        )

    def status_byte(self, n: int) -> int:
        """The reply to ``DLE EOT n`` in the current state (Epson ESC/POS bit layout)."""
        error = self.cutter_error or self.unrecoverable_error or self.recoverable_error
        value = _FIXED
        if n == 1:
            value |= 0x04 if self.drawer_high else 0
            value |= 0x08 if not self.fit_to_print else 0
        elif n == 2:
            value |= 0x04 if self.cover_open else 0
            value |= 0x20 if self.paper == "out" else 0
            value |= 0x40 if error else 0
        elif n == 3:
            value |= 0x08 if self.cutter_error else 0
            value |= 0x20 if self.unrecoverable_error else 0
            value |= 0x40 if self.recoverable_error else 0
        elif n == 4:
            value |= 0x0C if self.paper != "ok" else 0
            value |= 0x60 if self.paper == "out" else 0
        return value

    # -- the byte stream ------------------------------------------------------------------------

    def feed(self, data: bytes, reply: Callable[[bytes], None]) -> None:
        """Process bytes from the host; ``reply`` sends bytes back on the same link."""
        answers = bytearray()
        unplug = False
        with self._cond:
            self.received += data
            for value in data:
                if self._pending_dle == 2:
                    self._pending_dle = 0
                    self.queries.append(value)
                    if self.answering and 1 <= value <= 4:
                        answers.append(self.status_byte(value))
                    continue
                if self._pending_dle == 1:
                    self._pending_dle = 0
                    if value == EOT:
                        self._pending_dle = 2
                        continue
                    self._data(DLE)
                if value == DLE:
                    self._pending_dle = 1
                    continue
                if self._data(value):
                    unplug = True
                    break
            self.replies += len(answers)
            self._cond.notify_all()
            noise = self.noise
        if answers:
            reply(b"".join(noise + bytes([a]) for a in answers))
        if unplug:
            if self.cable is not None:
                self.cable.unplug()
                if self._replug:
                    self.cable.plug()
            self.drop_tcp()
            with self._cond:
                self._cond.notify_all()

    def _data(self, value: int) -> bool:
        """One byte of print data; True if the cable is to be pulled now."""
        self.held.append(value)
        self._flush()
        if self._changes:
            due = [(n - 1, state) for n, state in self._changes]
            self._changes = [(n, state) for n, state in due if n > 0]
            for n, state in due:
                if n <= 0:
                    for key, new in state.items():
                        setattr(self, key, new)
        if self._stall_in is not None:
            self._stall_in -= 1
            if self._stall_in <= 0:
                self._stall_in = None
                self.stalled = True
        if self._unplug_in is not None:
            self._unplug_in -= 1
            if self._unplug_in <= 0:
                self._unplug_in = None
                return True
        return False

    def _flush(self) -> None:
        if self.fit_to_print and self.held:
            self.printed += self.held
            self.held.clear()

    # -- links -----------------------------------------------------------------------------------

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _serve_cable(self) -> None:
        cable = self.cable
        assert cable is not None
        while not self._stop.is_set():
            if not cable.plugged or self.stalled:
                self._stop.wait(_POLL)
                continue
            data = cable.read(_POLL)
            if data:
                self.feed(data, cable.write)

    def _serve_tcp(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([listener], [], [], _POLL)
                if not ready:
                    continue
                client, _addr = listener.accept()
            except OSError:
                return
            with self._cond:
                self._client = client
                self.connections += 1
                self._cond.notify_all()
            self._serve_client(client)

    def _serve_client(self, client: socket.socket) -> None:
        def send(data: bytes) -> None:
            with contextlib.suppress(OSError):
                client.sendall(data)

        while not self._stop.is_set():
            if self.stalled:
                self._stop.wait(_POLL)
                continue
            try:
                ready, _, _ = select.select([client], [], [], _POLL)
                if not ready:
                    continue
                data = client.recv(4096)
            except (OSError, ValueError):
                break
            if not data:
                break
            self.feed(data, send)
        with self._cond:
            if self._client is client:
                self._client = None
        with contextlib.suppress(OSError):
            client.close()
