"""A batch's PUBACKs leave in one write, byte for byte what paho's ``ack`` would have sent."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from fleet.ingest.puback import ack_all

Acks = list[tuple[int, int]]


@contextmanager
def wired_client(manual_ack: bool = True) -> Iterator[tuple[mqtt.Client, socket.socket]]:
    """A paho client whose socket is one end of a pair: what it writes, the other end reads."""
    ours, peer = socket.socketpair()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    client._sock = ours  # as after connect(): writes go straight to the socket
    try:
        yield client, peer
    finally:
        ours.close()
        peer.close()


def written(acks: Acks, send: Callable[[mqtt.Client, Acks], object], manual: bool = True) -> bytes:
    with wired_client(manual) as (client, peer):
        send(client, acks)
        peer.setblocking(False)
        try:
            return peer.recv(1 << 20)
        except BlockingIOError:
            return b""


def one_by_one(client: mqtt.Client, acks: Acks) -> None:
    for mid, qos in acks:
        client.ack(mid, qos)


acks_strategy = st.lists(
    st.tuples(st.integers(1, 65535), st.sampled_from([0, 1, 1, 1, 2])), max_size=300
)


@given(acks_strategy)
def test_the_batch_writes_exactly_what_paho_writes_one_by_one(acks: Acks) -> None:
    assert written(acks, ack_all) == written(acks, one_by_one)


@given(acks_strategy)
def test_without_manual_ack_nothing_is_written_like_paho(acks: Acks) -> None:
    assert written(acks, ack_all, manual=False) == written(acks, one_by_one, manual=False) == b""


def test_a_batch_of_qos1_acks_is_one_write() -> None:
    writes: list[bytes] = []

    class CountingSocket:
        def __init__(self, real: socket.socket) -> None:
            self.real = real

        def send(self, data: bytes) -> int:
            writes.append(bytes(data))
            return self.real.send(data)

    with wired_client() as (client, peer):
        real = client._sock
        assert isinstance(real, socket.socket)
        client._sock = CountingSocket(real)  # type: ignore[assignment]
        ack_all(client, [(mid, 1) for mid in range(1, 501)])
        client._sock = real
        assert len(writes) == 1
        assert len(peer.recv(1 << 16)) == 500 * 4
