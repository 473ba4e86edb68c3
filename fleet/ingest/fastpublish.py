"""Plain QoS 1 PUBLISHes taken straight out of the read-ahead buffer, for the receiver only.

paho handles each received packet in about a dozen Python calls: ``_packet_read`` rebuilds its
``_in_packet`` dict, ``decode_publish`` slices the packet with ``struct`` formats built per
call and unpacks the MQTT 5 properties into a new object, an ``MQTTMessage`` is built and
logged, and ``_handle_on_message`` takes two locks and walks the topic matcher looking for
per-topic callbacks the receiver never sets. Profiled in the throughput benchmark, that was two
thirds of the receiver's CPU — as much per message as the whole bare subscriber.

Nearly every packet the receiver gets is one shape: a PUBLISH at QoS 1 with a topic and no
properties (tills set none). :meth:`FastPublishClient.take_publishes` parses runs of exactly
that shape from the bytes :class:`~fleet.ingest.readahead.ReadAheadClient` has already read, and
only while paho is between packets. Anything else — another packet type, QoS 0 or 2, any
property, a packet not wholly read yet, a malformed length — stops the run and
is left in the buffer for paho's own ``loop_read``, so paho still decides every error and
every packet that is not plain. A packet is parsed only once it is wholly read
(:meth:`~fleet.ingest.readahead.ReadAheadClient.fill` reads on after its first bytes), so paho
is not handed the first part of one whenever a read ends mid-packet — with the receiver
keeping up, most reads did. ``tests/fleet/test_fastpublish.py`` holds the two paths to the same
messages and errors, byte stream for byte stream; it leans on paho 2.x's ``_in_packet`` and
``_last_bytes_received`` (paho is pinned), so a paho that changes them fails there first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from fleet.ingest.readahead import READ_SIZE, ReadAheadClient

Received = tuple[str, bytes, int, int, int, int]
"""One message as the receiver forwards it: (topic, payload, received_at_ns, mid, qos,
generation)."""

BAD_TOPIC = "<topic is not UTF-8>"
"""The topic a message is forwarded under when its topic is not UTF-8 (the validator refuses
it, keeping the raw bytes)."""

_TOPICS_MAX = 1 << 16
"""Topics remembered decoded: a fleet uses a few per till, over and over."""
_TOPIC_CACHED_MAX = 256
"""Longer topics are decoded each time: a till's are far shorter, and a till publishing long
made-up topic levels must not fill the receiver's memory with them."""


def decode_topic(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return BAD_TOPIC


class FastPublishClient(ReadAheadClient):
    """:class:`~fleet.ingest.readahead.ReadAheadClient` that can also take plain QoS 1
    PUBLISHes out of its buffer itself (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._topics: dict[bytes, str] = {}

    def read(
        self, into: list[Received], limit: int, generation: Callable[[], int]
    ) -> MQTTErrorCode:
        """Read what the socket has, as the receiver's loop wants it, until nothing more is
        there at once or ``into`` holds ``limit`` messages: plain PUBLISHes are taken without
        paho; every other packet goes to paho's ``loop_read`` only once it is wholly read, so
        paho never waits on the socket in the middle of one, and ``on_message`` still gets what
        paho handles. Returns ``loop_read``'s error, if any; an end of stream or a socket error
        is paho's to meet and report, after the bytes before it.

        ``generation`` says which connection messages taken now arrived on: asked anew for
        each run, because paho may handle a CONNACK in the middle of a read (a resumed
        session's redeliveries come right behind it)."""
        if self._sock is not self._ahead_of:
            self._forget()  # a new connection: bytes the old one left are not its
        while len(into) < limit:
            if not self._between_packets():
                # paho began a packet itself (``loop_read`` reads on while it has QoS flows
                # open, and takes a packet larger than the buffer): it finishes it from the
                # buffer, or the socket.
                rc = self.loop_read()
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    return rc
                if not self._between_packets() and not self.buffered():
                    break  # the rest of it is not here yet
                continue
            if self.take_publishes(into, limit - len(into), generation()):
                continue
            _, end = _packet_span(self._ahead, self._ahead_at)
            if 0 <= end <= len(self._ahead) or end - self._ahead_at > READ_SIZE:
                # The next packet is paho's — whole, or larger than the buffer, which paho
                # gathers as it comes (gathering it here would copy it again on every read).
                rc = self.loop_read()
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    return rc
                continue
            if self.fill():  # nothing buffered, or only the start of a packet
                continue
            if self.ended():
                return self.loop_read()  # paho reads what is left, then meets the end
            break  # nothing more at once
        return mqtt.MQTT_ERR_SUCCESS

    def ready(self) -> bool:
        """Whether :meth:`read` has work without the socket: a whole packet is buffered (or
        paho is inside one with more of it here). The start of a packet alone waits for
        ``select``."""
        if self.ended():
            return True  # paho is to meet the end (after what is buffered)
        if not self.buffered():
            return False
        if not self._between_packets():
            return True
        _, end = _packet_span(self._ahead, self._ahead_at)
        return 0 <= end <= len(self._ahead)

    def _between_packets(self) -> bool:
        """paho holds no part of a packet (a type byte of 0 leaves ``command`` at 0)."""
        state = self._in_packet
        return state["command"] == 0 and state["have_remaining"] == 0

    def take_publishes(self, into: list[Received], limit: int, generation: int) -> int:
        """Append up to ``limit`` plain QoS 1 PUBLISHes from the head of the buffer to ``into``
        and return how many; 0 when the next packet is one for paho, or not wholly read."""
        if not self._between_packets() or self._sock is not self._ahead_of:
            return 0  # paho is inside a packet, or the buffer is an old connection's
        data = self._ahead
        at = self._ahead_at
        topics = self._topics
        taken = 0
        now_ns = time.time_ns()
        while taken < limit:
            # Fixed header: PUBLISH (0x3_), QoS 1 (flags 0b_01_); dup and retain do not matter.
            if at >= len(data) or data[at] & 0xF6 != 0x32:
                break
            pos, packet_end = _packet_span(data, at)
            if not 0 <= packet_end <= len(data):
                break  # not wholly read yet
            topic_len = data[pos] << 8 | data[pos + 1] if packet_end - pos >= 2 else 0
            body = pos + 2 + topic_len  # the packet id
            # Topic, packet id, then a properties length of 0 (one zero byte), all inside. (An
            # empty topic comes with a topic alias, which is a property: paho's.)
            if body + 3 > packet_end or data[body + 2] != 0:
                break
            raw_topic = data[pos + 2 : body]
            topic = topics.get(raw_topic)
            if topic is None:
                topic = decode_topic(raw_topic)
                if topic_len <= _TOPIC_CACHED_MAX:
                    if len(topics) >= _TOPICS_MAX:
                        topics.clear()
                    topics[raw_topic] = topic
            mid = data[body] << 8 | data[body + 1]
            into.append((topic, data[body + 3 : packet_end], now_ns, mid, 1, generation))
            at = packet_end
            taken += 1
        if taken:
            # paho's keepalive clock counted these bytes when they were read (fill(), or paho's
            # own read), so there is nothing to tell it here.
            self._ahead_at = at
        return taken


def _packet_span(data: bytes, at: int) -> tuple[int, int]:
    """Where the packet at ``data[at]`` has its variable header and where it ends — which may
    be past the end of ``data`` — once its remaining length is read; ``(-1, -1)`` before. A
    remaining length longer than the 4 bytes MQTT allows is paho's to refuse, so it is
    reported as an empty packet at once (``(at, at)``): read on, it would claim at least
    256 MiB of stream."""
    end = len(data)
    length = 0
    pos = at + 1
    for shift in (0, 7, 14, 21):
        if pos >= end:
            break
        byte = data[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            return pos, pos + length
    else:
        return at, at  # a fifth length byte: malformed
    return -1, -1
