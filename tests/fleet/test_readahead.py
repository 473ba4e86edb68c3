"""The receiver's read-ahead hands paho exactly the bytes of the stream, in order, in pieces no
larger than asked — over a real socket pair, whatever the chunking on either side."""

from __future__ import annotations

import select
import socket
import ssl
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from fleet.ingest.readahead import ReadAheadClient
from tests.socketpairs import socket_pair
from tests.tlskit import TestCA


def _client_on(sock: socket.socket) -> ReadAheadClient:
    client = ReadAheadClient(CallbackAPIVersion.VERSION2, client_id="t")
    client._sock = sock  # what paho's connect() leaves there
    return client


@settings(max_examples=60)
@given(
    writes=st.lists(st.binary(min_size=1, max_size=3000), min_size=1, max_size=12),
    asks=st.lists(st.integers(1, 5000), min_size=1, max_size=40),
)
def test_reads_return_the_stream_in_order_and_never_more_than_asked(
    writes: list[bytes], asks: list[int]
) -> None:
    with socket_pair() as (ours, theirs):
        client = _client_on(ours)
        for chunk in writes:
            theirs.sendall(chunk)
        theirs.close()  # end of stream after the writes
        sent = b"".join(writes)
        got = bytearray()
        i = 0
        while True:
            ask = asks[i % len(asks)]
            i += 1
            piece = client._sock_recv(ask)
            assert len(piece) <= ask
            if not piece:
                break  # end of stream, only once everything was handed over
            got += piece
            assert client.buffered() >= 0
        assert bytes(got) == sent
        assert client.buffered() == 0


def test_an_empty_socket_says_so_like_paho_and_nothing_is_buffered() -> None:
    with socket_pair() as (ours, theirs):
        client = _client_on(ours)
        with pytest.raises(BlockingIOError):
            client._sock_recv(1)
        theirs.sendall(b"\x30\x05hello")
        assert client._sock_recv(1) == b"\x30"  # one recv took all seven bytes ...
        assert client.buffered() == 6  # ... and keeps the rest for paho's next reads
        assert client._sock_recv(1) == b"\x05"
        assert client._sock_recv(100) == b"hello"
        assert client.buffered() == 0


def test_bytes_of_an_old_connection_are_never_read_on_a_new_one() -> None:
    with socket_pair() as (old, old_peer), socket_pair() as (new, new_peer):
        client = _client_on(old)
        old_peer.sendall(b"stale-bytes")
        assert client._sock_recv(1) == b"s"
        assert client.buffered() == 10
        client._sock = new  # reconnected
        assert client.buffered() == 0
        new_peer.sendall(b"fresh")
        assert client._sock_recv(100) == b"fresh"


def _tls_pair(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    pki = TestCA(tmp_path / "pki")
    server_id = pki.server()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(server_id.cert, server_id.key)
    return server_ctx, ssl.create_default_context(cafile=str(pki.ca_file))


@pytest.mark.parametrize("then_close", [False, True], ids=["open", "closed"])
def test_over_tls_it_reads_on_past_the_first_record(tmp_path: Path, then_close: bool) -> None:
    """TLS returns one record per recv and Mosquitto writes a record per packet: without
    reading on, read-ahead would hold one packet at a time over TLS. A connection that ends
    behind the records (a DISCONNECT with its reason, then the end) ends for paho only after
    every record before it."""
    server_ctx, client_ctx = _tls_pair(tmp_path)
    raw_ours, raw_theirs = socket.socketpair()
    records = [bytes([n]) * 100 for n in range(50)]
    served = threading.Event()

    def serve() -> None:
        with server_ctx.wrap_socket(raw_theirs, server_side=True) as tls:
            for record in records:
                tls.sendall(record)  # one TLS record each
            if not then_close:
                served.set()
                tls.recv(1)  # until the client is done
        served.set()  # closed: the end of the stream is behind the records

    server = threading.Thread(target=serve)
    server.start()
    ours = client_ctx.wrap_socket(raw_ours, server_hostname="localhost")
    try:
        assert served.wait(30)
        ours.setblocking(False)
        client = _client_on(ours)
        assert select.select([ours], [], [], 10)[0]
        assert client._sock_recv(1) == records[0][:1]
        assert client.buffered() == 50 * 100 - 1  # every record, from one call
        if then_close:
            assert client.ended()  # met while reading on, and kept ...
            assert client._sock_recv(50 * 100) == b"".join(records)[1:]  # ... behind the bytes
            assert client._sock_recv(1) == b""  # then paho meets it
    finally:
        ours.close()
        server.join(30)


def test_an_end_or_error_met_by_fill_is_met_by_paho_after_the_buffered_bytes() -> None:
    """fill() reads ahead of paho; the way the stream ended must still reach paho, once, and
    only after every byte before it."""
    listener = socket.create_server(("127.0.0.1", 0))
    peer = socket.create_connection(listener.getsockname())
    ours, _ = listener.accept()
    listener.close()
    ours.setblocking(False)
    client = _client_on(ours)
    try:
        peer.sendall(b"abc")
        assert select.select([ours], [], [], 10)[0]
        assert client.fill()
        assert client._sock_recv(2) == b"ab"
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        peer.close()  # linger 0: a reset
        assert client._sock_recv(5) == b"c"
        assert select.select([ours], [], [], 10)[0]  # the reset has arrived
        assert not client.fill()  # no bytes: the reset is kept ...
        assert client.ended()
        with pytest.raises(ConnectionResetError):  # ... for paho, once
            client._sock_recv(1)
        assert not client.ended()
    finally:
        ours.close()


def test_an_orderly_end_met_by_fill_is_an_empty_read_for_paho() -> None:
    with socket_pair() as (ours, theirs):
        client = _client_on(ours)
        theirs.sendall(b"xy")
        theirs.close()
        assert client.fill()
        assert client._sock_recv(10) == b"xy"
        assert not client.fill()
        assert client.ended()
        assert client._sock_recv(1) == b""  # what paho takes for the connection lost
