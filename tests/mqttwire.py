"""Reading MQTT packets out of a byte stream caught by a wiretap (``hil.services.slow_link``),
for tests that check what went over the wire and in which order."""

from __future__ import annotations

from collections.abc import Iterator

PUBLISH, PUBACK = 3, 4


def packets(stream: bytes) -> Iterator[tuple[int, int, bytes]]:
    """``(type, flags, body)`` of each whole packet; a packet cut off at the end is left out."""
    at = 0
    while at + 2 <= len(stream):
        first = stream[at]
        length, shift, i = 0, 0, at + 1
        while True:
            if i >= len(stream):
                return
            byte = stream[i]
            length |= (byte & 0x7F) << shift
            shift += 7
            i += 1
            if not byte & 0x80:
                break
        if i + length > len(stream):
            return
        yield first >> 4, first & 0x0F, stream[i : i + length]
        at = i + length


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
