"""A TCP relay on loopback that delays every byte, both ways: a store's slow uplink, on the rig.

A till in a shop often reaches HQ's broker over DSL or 4G, with round trips of 100–600 ms; on
loopback everything answers in microseconds, and code that quietly assumes that (a CONNACK
"surely" back within one short poll) passes every test and fails in the field. Put this between
a client and a real broker to see the difference.

Order is kept and nothing is lost; each chunk read is sent ``delay_s`` after it arrived (0: at
once, which with ``tap`` makes a wiretap: a test sees the bytes each side sent, in order). One
thread per direction reads, one sends; closing either side closes the other, as a real
connection that drops does, and once both directions have ended the relay closes its two
sockets, so a long-running rig with many reconnects holds only the connections still open.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class SlowLink:
    """Listens on ``127.0.0.1:port`` and relays each connection to ``upstream``."""

    def __init__(
        self,
        upstream: tuple[str, int],
        delay_s: float,
        tap: Callable[[bool, bytes], None] | None = None,
    ) -> None:
        self.upstream = upstream
        self.delay_s = delay_s
        self.tap = tap
        """Called with each chunk as it is read, and whether the client (not the upstream)
        sent it; from the reading threads, one a direction."""
        self._server = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = "127.0.0.1", self._server.getsockname()[1]
        self._closing = threading.Event()
        self._socks: list[socket.socket] = []
        self._lock = threading.Condition()
        self._accepter = threading.Thread(target=self._accept, name="slow-link", daemon=True)
        self._accepter.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                near, _ = self._server.accept()
            except OSError:
                return  # closed
            try:
                far = socket.create_connection(self.upstream)
            except OSError:
                near.close()
                continue
            with self._lock:
                self._socks += [near, far]
            ended = threading.Semaphore(0)  # released by each of the four threads as it ends
            for src, dst, from_client in ((near, far, True), (far, near, False)):
                self._pipe(src, dst, ended, from_client)
            threading.Thread(
                target=self._reap, args=(near, far, ended), name="slow-link-reap", daemon=True
            ).start()

    def _reap(self, near: socket.socket, far: socket.socket, ended: threading.Semaphore) -> None:
        # All four: a reader still about to recv() on a closed descriptor could read from
        # whichever connection the number is given to next.
        for _ in range(4):
            ended.acquire()
        with self._lock:
            if near not in self._socks:
                return  # close() took them
            self._socks.remove(near)
            self._socks.remove(far)
            self._lock.notify_all()
        near.close()
        far.close()

    def open_connections(self) -> int:
        """Relayed connections not yet ended in both directions."""
        with self._lock:
            return len(self._socks) // 2

    def wait_connections(self, count: int, timeout: float) -> bool:
        """Wait until exactly ``count`` relayed connections are open; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self._socks) // 2 == count, timeout)

    def _pipe(
        self,
        src: socket.socket,
        dst: socket.socket,
        ended: threading.Semaphore,
        from_client: bool,
    ) -> None:
        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def read() -> None:
            try:
                take()
            finally:
                ended.release()

        def take() -> None:
            while True:
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b""
                if data and self.tap is not None:
                    self.tap(from_client, data)
                chunks.put((time.monotonic() + self.delay_s, data))
                if not data:
                    return

        def send() -> None:
            try:
                relay()
            finally:
                ended.release()

        def relay() -> None:
            while True:
                due, data = chunks.get()
                wait = due - time.monotonic()
                if wait > 0 and self._closing.wait(wait):
                    return
                if not data:
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    return
                try:
                    dst.sendall(data)
                except OSError:
                    with contextlib.suppress(OSError):
                        src.shutdown(socket.SHUT_RDWR)  # the other side is gone: end this one
                    return

        for target in (read, send):
            threading.Thread(target=target, name="slow-link-pipe", daemon=True).start()

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close() does not)
        self._server.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self._accepter.join(5)


@contextmanager
def slow_link(
    upstream: tuple[str, int],
    delay_s: float,
    tap: Callable[[bool, bytes], None] | None = None,
) -> Iterator[SlowLink]:
    link = SlowLink(upstream, delay_s, tap)
    try:
        yield link
    finally:
        link.close()
