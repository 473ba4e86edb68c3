"""A broker port that accepts connections and never answers: a hung broker, a captive portal.

For the tests that a client gives up an unanswered CONNECT after its timeout and tries again.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

CONNECT = b"\x10"
"""The first byte of an MQTT CONNECT packet."""


@contextmanager
def silent_port(timeout: float) -> Iterator[socket.socket]:
    """A listening socket on loopback; ``accept`` and ``recv`` on it give up after ``timeout``."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(timeout)
    try:
        yield server
    finally:
        server.close()


def leave_unanswered(server: socket.socket, timeout: float) -> tuple[socket.socket, float]:
    """Accept the next connection, check it sends a CONNECT, answer nothing, and return it
    with how long the client kept it open before closing it."""
    conn, _ = server.accept()
    opened = time.monotonic()
    conn.settimeout(timeout)
    assert conn.recv(65536)[:1] == CONNECT
    while conn.recv(65536):  # ... until the client gives up and closes it
        pass
    return conn, time.monotonic() - opened
