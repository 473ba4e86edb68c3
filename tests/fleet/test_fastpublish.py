"""The receiver's own PUBLISH parsing gives exactly the messages paho gives, and leaves paho every
packet that is not a plain QoS 1 PUBLISH — over a real socket pair, whatever the packets, their
chunking and the hand-over limit, malformed packets included."""

from __future__ import annotations

import select
import socket
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt import client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleet.ingest.fastpublish import BAD_TOPIC, FastPublishClient, Received
from fleet.ingest.readahead import READ_SIZE
from tests.socketpairs import socket_pair

Seen = tuple[str, bytes, int, int]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(
    topic: bytes,
    payload: bytes,
    mid: int,
    *,
    qos: int = 1,
    dup: bool = False,
    retain: bool = False,
    props: bytes = b"",
) -> bytes:
    header = 0x30 | dup << 3 | qos << 1 | retain
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += mid.to_bytes(2, "big")
    body += _varint(len(props)) + props + payload
    return bytes([header]) + _varint(len(body)) + body


PINGRESP = b"\xd0\x00"
MALFORMED = {
    "five-byte length": b"\x32\xff\xff\xff\xff\x01",
    "properties past the end": publish(b"t", b"", 1, props=b"")[:-1] + b"\x7f",
    "AUTH, which paho does not take": b"\xf0\x00",
}

topics = st.one_of(
    st.sampled_from([b"tf/v1/s-1/till-1/up/sale", b"tf/v1/s-1/till-1/status"]),
    st.text(min_size=1, max_size=30).map(str.encode),
    st.binary(min_size=1, max_size=12),  # often not UTF-8
)
payloads = st.one_of(
    st.binary(max_size=200),
    st.binary(min_size=120, max_size=20_000),
    st.binary(max_size=4).map(lambda b: b"\0\0\0" + b),  # a QoS 0 body read as QoS 1's
)
packets = st.one_of(
    st.builds(
        publish,
        topics,
        payloads,
        st.integers(0, 65535),
        dup=st.booleans(),
        retain=st.booleans(),
    ),
    st.builds(publish, topics, payloads, st.integers(1, 65535), qos=st.just(0)),
    st.builds(  # a payload format indicator: a property, so paho's
        publish, topics, payloads, st.integers(1, 65535), props=st.just(b"\x01\x01")
    ),
    st.builds(publish, st.just(b""), payloads, st.integers(1, 65535)),  # topic alias shape
    st.just(PINGRESP),
    # QoS 2, and releases of it: while paho holds one, its loop_read reads several packets
    # per call and may stop inside one — the path where paho, not us, owns the next bytes.
    st.builds(publish, topics, payloads, st.integers(1, 3), qos=st.just(2)),
    st.integers(1, 3).map(lambda mid: b"\x62\x02" + mid.to_bytes(2, "big")),
)


def _client(
    cls: type[mqtt.Client], sock: socket.socket, sink: Callable[[Seen], None]
) -> mqtt.Client:
    client = cls(CallbackAPIVersion.VERSION2, client_id="t", protocol=mqtt.MQTTv5, manual_ack=True)
    client._sock = sock  # what paho's connect() leaves there

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = BAD_TOPIC
        sink((topic, bytes(msg.payload), msg.mid, msg.qos))

    client.on_message = on_message
    return client


def _fast_client(sock: socket.socket, sink: Callable[[Seen], None]) -> FastPublishClient:
    client = _client(FastPublishClient, sock, sink)
    assert isinstance(client, FastPublishClient)
    return client


def _paho_read(client: mqtt.Client, sock: socket.socket) -> int:
    """Plain paho, as a select loop drives it: ``loop_read`` while the socket has bytes."""
    while select.select([sock], [], [], 0)[0]:
        rc = client.loop_read()
        if rc:
            return int(rc)
    return 0


_PIECE = 64 * 1024
"""Sent at most at once before the client reads: more could fill the socket pair's buffers."""


def _run(stream: bytes, cuts: list[int], read: Callable[[], int], theirs: socket.socket) -> int:
    """Send ``stream`` in pieces, reading after each until the client has taken it all; then
    end the stream. The first error ends the run; its code is returned (0: none)."""
    at = 0
    ends = sorted({*(c for c in cuts if c < len(stream)), *range(_PIECE, len(stream), _PIECE)})
    for cut in [*ends, len(stream)]:
        if cut <= at:
            continue
        theirs.sendall(stream[at:cut])
        at = cut
        rc = read()
        if rc:
            return rc
    theirs.shutdown(socket.SHUT_WR)
    return read() or read()  # the end of stream is seen by the read after the last bytes


def _via_paho(stream: bytes, cuts: list[int]) -> tuple[int, list[Seen]]:
    with socket_pair() as (ours, theirs):
        seen: list[Seen] = []
        client = _client(mqtt.Client, ours, seen.append)
        return _run(stream, cuts, lambda: _paho_read(client, ours), theirs), seen


def _via_fast(stream: bytes, cuts: list[int], limit: int) -> tuple[int, list[Seen]]:
    """As in the receiver: paho's ``on_message`` and the fast path fill one hand-over list,
    which is forwarded (here: kept) when ``read`` returns, and ``read`` is called again while
    it has work without the socket."""
    with socket_pair() as (ours, theirs):
        batches: list[list[Received]] = [[]]
        client = _fast_client(ours, lambda m: batches[-1].append((m[0], m[1], 0, m[2], m[3], 7)))

        def read() -> int:
            while True:
                rc = client.read(batches[-1], limit, lambda: 7)
                batches.append([])
                if rc or not client.ready():
                    return int(rc)

        rc = _run(stream, cuts, read, theirs)
    return rc, [(t, p, m, q) for batch in batches for t, p, _ns, m, q, _g in batch]


@settings(max_examples=150, deadline=None)
@given(
    body=st.lists(packets, max_size=25),
    ending=st.sampled_from([None, *MALFORMED]),
    cuts=st.lists(st.integers(0, 60_000), max_size=6),
    limit=st.integers(1, 30),
)
def test_the_same_messages_and_errors_as_paho(
    body: list[bytes], ending: str | None, cuts: list[int], limit: int
) -> None:
    stream = b"".join(body) + (MALFORMED[ending] if ending else b"")
    paho_rc, paho_seen = _via_paho(stream, cuts)
    fast_rc, fast_seen = _via_fast(stream, cuts, limit)
    assert fast_seen == paho_seen
    assert fast_rc == paho_rc
    assert paho_rc != mqtt.MQTT_ERR_SUCCESS  # the stream ended one way or the other


def test_plain_publishes_skip_paho() -> None:
    with socket_pair() as (ours, theirs):
        handled_by_paho: list[Seen] = []
        client = _fast_client(ours, handled_by_paho.append)
        sale = publish(b"tf/v1/s-1/till-1/up/sale", b'{"x":1}', 9, dup=True)
        theirs.sendall(PINGRESP + sale * 3 + publish(b"t", b"\0\0\0", 0, qos=0) + sale)
        into: list[Received] = []
        assert client.read(into, 100, lambda: 4) == mqtt.MQTT_ERR_SUCCESS
        assert [(t, p, m, q, g) for t, p, _ns, m, q, g in into] == [
            ("tf/v1/s-1/till-1/up/sale", b'{"x":1}', 9, 1, 4)
        ] * 4
        assert handled_by_paho == [("t", b"\0\0\0", 0, 0)]  # QoS 0 is paho's
        assert client.buffered() == 0


def test_bytes_read_without_paho_keep_its_keepalive_clock() -> None:
    """paho's keepalive closes a connection it has heard nothing on: plain PUBLISHes taken
    without paho, and the first part of a packet still coming in, are the broker heard."""
    with socket_pair() as (ours, theirs):
        client = _fast_client(ours, lambda _m: pytest.fail("nothing here is paho's"))
        sale = publish(b"a/b", b"x" * 3000, 3)
        for chunk in (sale * 3, sale[:1000]):
            theirs.sendall(chunk)
            assert select.select([ours], [], [], 10)[0]
            client._last_bytes_received = 0.0
            into: list[Received] = []
            assert client.read(into, 100, lambda: 1) == mqtt.MQTT_ERR_SUCCESS
            assert len(into) == (3 if chunk != sale[:1000] else 0)
            assert client._last_bytes_received > 0.0


def test_a_packet_larger_than_the_buffer_is_gathered_by_paho_as_it_comes() -> None:
    """Gathered here, a big packet would be copied again on every read of it."""
    big = publish(b"a/big", bytes(range(256)) * 2400, 1)  # 600 KB, over READ_SIZE
    assert len(big) > READ_SIZE
    small = publish(b"a/small", b"s", 2)
    stream = small + big + small
    assert _via_fast(stream, [], 100) == _via_paho(stream, [])
    seen: list[Seen] = []
    with socket_pair() as (ours, theirs):
        client = _fast_client(ours, seen.append)
        into: list[Received] = []
        rc = _run(stream, [], lambda: int(client.read(into, 100, lambda: 1)), theirs)
    assert rc == mqtt.MQTT_ERR_CONN_LOST
    assert [(t, len(p)) for t, p, _m, _q in seen] == [("a/big", 256 * 2400)]  # paho's
    assert [t for t, *_ in into] == ["a/small", "a/small"]


def _paho_begins(
    client: FastPublishClient, ours: socket.socket, theirs: socket.socket, head: bytes, rest: bytes
) -> None:
    """paho reads ``head``, the start of a packet, itself; then ``rest`` is read ahead."""
    theirs.sendall(head)
    assert select.select([ours], [], [], 10)[0]
    assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS  # paho holds the head
    assert not client.ready()
    theirs.sendall(rest)
    assert select.select([ours], [], [], 10)[0]
    assert client.fill()


def test_a_packet_paho_has_begun_is_left_to_paho() -> None:
    """paho's ``loop_read`` reads on past one packet while QoS flows of its own are open, and
    may stop inside the next; the rest of that packet is paho's."""
    with socket_pair() as (ours, theirs):
        seen: list[Seen] = []
        client = _fast_client(ours, seen.append)
        # The payload is itself a plain PUBLISH, starting right after paho's first ten bytes:
        # parsed from there, it would be taken for a message.
        inner = publish(b"a/b", b"inner", 5)
        sale = publish(b"a/b", inner, 3)
        assert sale[10:] == inner
        _paho_begins(client, ours, theirs, sale[:10], sale[10:] + sale)
        into: list[Received] = []
        assert client.take_publishes(into, 100, 1) == 0  # paho is mid-packet: not ours to take
        assert client.ready()
        assert client.read(into, 100, lambda: 1) == mqtt.MQTT_ERR_SUCCESS
        assert seen == [("a/b", inner, 3, 1)]  # the one paho began, paho finished
        assert [(t, p, m) for t, p, _ns, m, _q, _g in into] == [("a/b", inner, 3)]


def test_a_packet_of_type_zero_paho_has_begun_is_left_to_paho() -> None:
    """A type byte of 0 (no MQTT packet; a broken broker) leaves paho's ``command`` at 0 while
    it holds the packet's start: "between packets" must look further than that, or the body
    would be parsed as packets of its own."""
    with socket_pair() as (ours, theirs):
        seen: list[Seen] = []
        client = _fast_client(ours, seen.append)
        inner = publish(b"a/b", b"inner", 5)
        _paho_begins(client, ours, theirs, b"\x00" + _varint(len(inner)), inner)
        into: list[Received] = []
        assert client.take_publishes(into, 100, 1) == 0  # the body of paho's packet
        client.read(into, 100, lambda: 1)  # what paho makes of the rest is paho's affair
        assert into == []


def test_the_start_of_a_packet_waits_for_more_bytes_without_paho() -> None:
    """A packet read in part is completed from the socket before anyone parses it, and the
    receiver's loop is told to wait on ``select`` meanwhile rather than spin."""
    with socket_pair() as (ours, theirs):
        seen: list[Seen] = []
        client = _fast_client(ours, seen.append)
        sale = publish(b"a/b", b"x" * 3000, 3)
        theirs.sendall(sale[:1000])
        into: list[Received] = []
        assert select.select([ours], [], [], 10)[0]
        assert client.read(into, 100, lambda: 1) == mqtt.MQTT_ERR_SUCCESS
        assert into == []
        assert client.buffered() == 1000
        assert not client.ready()  # nothing to do until more comes
        theirs.sendall(sale[1000:])
        assert select.select([ours], [], [], 10)[0]
        assert client.read(into, 100, lambda: 1) == mqtt.MQTT_ERR_SUCCESS
        assert [(t, len(p), m) for t, p, _ns, m, _q, _g in into] == [("a/b", 3000, 3)]
        assert seen == []  # never paho's


def test_publishes_read_on_an_old_connection_are_never_taken_on_a_new_one() -> None:
    with socket_pair() as (old, old_peer), socket_pair() as (new, new_peer):
        seen: list[Seen] = []
        client = _fast_client(old, seen.append)
        old_peer.sendall(publish(b"old", b"stale", 1) * 2)
        assert client.fill()
        client._sock = new  # reconnected: the broker redelivers what was not acknowledged
        into: list[Received] = []
        assert client.take_publishes(into, 100, 2) == 0
        new_peer.sendall(publish(b"new", b"fresh", 1))
        assert select.select([new], [], [], 10)[0]
        assert client.read(into, 100, lambda: 2) == mqtt.MQTT_ERR_SUCCESS
        assert [(t, p, g) for t, p, _ns, _m, _q, g in into] == [("new", b"fresh", 2)]
        assert seen == []


def test_publishes_behind_a_connack_in_one_read_carry_the_new_connections_generation() -> None:
    """A resumed session's redeliveries arrive right behind the CONNACK, often in the same read;
    acks for them are only honoured on the connection they came on."""
    with socket_pair() as (ours, theirs):
        seen: list[Seen] = []
        client = _fast_client(ours, seen.append)
        generation = [1]
        client.on_connect = lambda *_a: generation.__setitem__(0, generation[0] + 1)
        connack = b"\x20\x03\x01\x00\x00"  # session present, success, no properties
        theirs.sendall(publish(b"a", b"before", 1) + connack + publish(b"a", b"after", 2, dup=True))
        into: list[Received] = []
        assert client.read(into, 100, lambda: generation[0]) == mqtt.MQTT_ERR_SUCCESS
        assert [(p, g) for _t, p, _ns, _m, _q, g in into] == [(b"before", 1), (b"after", 2)]


def test_only_short_topics_are_remembered() -> None:
    """A till may publish under made-up long topic levels (its ACL allows any last level):
    remembering those would let it grow the receiver's memory."""
    with socket_pair() as (ours, theirs):
        client = _fast_client(ours, lambda _m: pytest.fail("nothing here is paho's"))
        short, long = b"tf/v1/s-1/till-1/up/sale", b"tf/v1/s-1/till-1/up/" + b"x" * 5000
        theirs.sendall(publish(short, b"1", 1) + publish(long, b"2", 2))
        into: list[Received] = []
        assert select.select([ours], [], [], 10)[0]
        assert client.read(into, 100, lambda: 1) == mqtt.MQTT_ERR_SUCCESS
        assert [t for t, *_ in into] == [short.decode(), long.decode()]
        assert list(client._topics) == [short]
