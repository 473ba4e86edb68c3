"""The rig's slow link: bytes arrive in order, late by the delay each way, and a connection that
ends is let go of (a long rig run with many reconnects holds only what is open)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from hil.services.slow_link import slow_link

WAIT = 30.0
DELAY_S = 0.2


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """An upstream that sends back whatever it reads, one connection at a time."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[:2]
    server.shutdown(socket.SHUT_RDWR)  # wakes the accept(); close() alone does not
    server.close()
    thread.join(WAIT)
    assert not thread.is_alive()


def _round_trip(port: int, data: bytes) -> tuple[bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as client:
        sent = time.monotonic()
        client.sendall(data)
        got = b""
        while len(got) < len(data):
            chunk = client.recv(65536)
            assert chunk, "the link closed early"
            got += chunk
        return got, time.monotonic() - sent


def test_bytes_come_back_in_order_late_by_the_delay_both_ways(echo: tuple[str, int]) -> None:
    data = bytes(range(256)) * 400
    with slow_link(echo, DELAY_S) as link:
        got, took = _round_trip(link.port, data)
    assert got == data
    assert took >= 2 * DELAY_S * 0.95


def test_ended_connections_are_let_go_of(echo: tuple[str, int]) -> None:
    with slow_link(echo, DELAY_S) as link:
        for n in range(3):
            assert _round_trip(link.port, b"ping %d" % n)[0] == b"ping %d" % n
            # the client closed; the relay lets both of its sockets go once both ways ended
            assert link.wait_connections(0, WAIT), link.open_connections()
        with socket.create_connection(("127.0.0.1", link.port), timeout=WAIT) as held:
            held.sendall(b"x")
            assert held.recv(1) == b"x"
            assert link.open_connections() == 1  # an open one stays
