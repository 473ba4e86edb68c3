"""A stored batch's PUBACKs in one socket write, for the receiver process only.

paho acknowledges one message per call (``Client.ack``): it encodes a 4-byte PUBACK, queues it
and, outside its own loop, writes it at once — a send(2) per message, measured at a tenth of
the receiver's CPU. The worker acknowledges a whole stored batch at a time, so :func:`ack_all`
queues the same bytes (paho's own encoding: command, remaining length 2, packet id; MQTT 5 lets
a successful PUBACK omit its reason code) as one paho out-packet: one write for the batch, in
order with anything paho has queued before it. A QoS 2 message (PUBCOMP), or a paho without
the one internal this relies on, takes paho's own path. ``tests/fleet/test_puback.py`` checks
the bytes equal paho's.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

import paho.mqtt.client as mqtt

_PUBACK = struct.Struct("!BBH")


def ack_all(client: mqtt.Client, acks: Iterable[tuple[int, int]]) -> None:
    """Acknowledge ``(packet id, qos)`` pairs, in order; QoS 0 needs none."""
    if not getattr(client, "_manual_ack", True):  # paho's ack does nothing then
        return
    queue = getattr(client, "_packet_queue", None)
    wire = bytearray()
    for mid, qos in acks:
        if qos == 1 and queue is not None:
            wire += _PUBACK.pack(mqtt.PUBACK, 2, mid)
            continue
        if wire:  # keep the order: what is gathered leaves before paho's own packet
            queue(mqtt.PUBACK, bytes(wire), 0, 0)  # type: ignore[misc]
            wire.clear()
        client.ack(mid, qos)
    if wire:
        queue(mqtt.PUBACK, bytes(wire), 0, 0)  # type: ignore[misc]
