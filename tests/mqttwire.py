"""Reading MQTT packets out of a byte stream caught by a wiretap (``hil.services.slow_link``),
for tests that check what went over the wire and in which order. The remaining length is read
as the ingest receiver reads it (``fleet.ingest.fastpublish``), which its own tests hold to
paho's reading."""

from __future__ import annotations

from collections.abc import Iterator

from fleet.ingest.fastpublish import _packet_span

PUBLISH, PUBACK = 3, 4


def packets(stream: bytes) -> Iterator[tuple[int, int, bytes]]:
    """``(type, flags, body)`` of each whole packet; a packet cut off at the end (or a
    malformed length) ends the list."""
    at = 0
    while at < len(stream):
        body, end = _packet_span(stream, at)
        if body <= at or end > len(stream):
            return
        yield stream[at] >> 4, stream[at] & 0x0F, stream[body:end]
        at = end


def publishes(stream: bytes) -> list[tuple[str, int]]:
    """``(topic, packet id)`` of each QoS 1 or 2 PUBLISH, in order."""
    out: list[tuple[str, int]] = []
    for kind, flags, body in packets(stream):
        if kind == PUBLISH and flags & 0x06:
            n = int.from_bytes(body[:2])
            out.append(
                (body[2 : 2 + n].decode("utf-8", "replace"), int.from_bytes(body[2 + n : 4 + n]))
            )
    return out


def pubacks(stream: bytes) -> list[int]:
    """The packet id of each PUBACK, in order."""
    return [int.from_bytes(body[:2]) for kind, _flags, body in packets(stream) if kind == PUBACK]
