"""Event identifiers: UUIDv7 (RFC 9562), made from a time and randomness the caller supplies.

A UUIDv7 sorts by creation time, so HQ's unique index on ``event_id`` stays append-mostly and an
analyst can read roughly when an event was made from its id. ``protocol`` reads no clock and no
entropy source: the till passes ``time.time_ns() // 1_000_000`` and ``os.urandom(10)``.
"""

from __future__ import annotations

import uuid

import msgspec

from protocol.errors import ProtocolError

_MAX_MS = (1 << 48) - 1


def uuid7(unix_ms: int, rand: bytes) -> uuid.UUID:
    """Build a UUIDv7 from a Unix time in milliseconds and 10 random bytes.

    The layout is RFC 9562 §5.7: 48 bits of time, version 7, 12 bits of ``rand_a`` (the low 12
    bits of ``rand[:2]``), the variant, 62 bits of ``rand_b`` (the low 62 bits of ``rand[2:]``).
    """
    if isinstance(unix_ms, bool) or not isinstance(unix_ms, int) or not 0 <= unix_ms <= _MAX_MS:
        raise ProtocolError(f"unix_ms must be an int in 0..2**48-1, got {unix_ms!r}")
    if not isinstance(rand, bytes | bytearray) or len(rand) != 10:
        raise ProtocolError("rand must be exactly 10 bytes")
    rand_a = int.from_bytes(rand[:2], "big") & 0xFFF
    rand_b = int.from_bytes(rand[2:], "big") & ((1 << 62) - 1)
    value = (unix_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return uuid.UUID(int=value)


_V7_MASK = (0xF << 76) | (0x3 << 62)
_V7_BITS = (0x7 << 76) | (0b10 << 62)


def is_uuid7(value: uuid.UUID) -> bool:
    """True if ``value`` is an RFC 9562 version-7 UUID: version 7 and the RFC variant (bits
    ``10``). One mask of ``value.int``, where ``.version`` and ``.variant`` are Python
    properties: HQ checks every event id it receives (0.65 → 0.08 µs here)."""
    return value.int & _V7_MASK == _V7_BITS


def text(value: uuid.UUID) -> str:
    """``str(value)``, the canonical hyphenated lowercase form, formatted in C by msgspec:
    ``UUID.__str__`` is Python (1.2 → 0.26 µs here), and HQ turns every id it stores into
    text."""
    out = msgspec.to_builtins(value)
    assert type(out) is str
    return out


def uuid7_unix_ms(value: uuid.UUID) -> int:
    """The creation time in Unix milliseconds carried by a UUIDv7."""
    if not is_uuid7(value):
        raise ProtocolError(f"{value} is not a version-7 UUID")
    return value.int >> 80
