"""A connected socket pair for tests of socket readers, closed however the test ends."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def socket_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """``(ours, theirs)``: ours non-blocking, as paho's client socket is; theirs blocking, for
    the test to write (or close) the stream with."""
    ours, theirs = socket.socketpair()
    try:
        ours.setblocking(False)
        yield ours, theirs
    finally:
        ours.close()
        theirs.close()
