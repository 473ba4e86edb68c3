"""The application messages inside DATA frames, as the board speaks them.

The byte format is specified in ``protocol/ioboard.py``; this module mirrors it for the board:
encoders for what the board sends (HELLO, KEY, DRAWER, HEARTBEAT) and a decoder for what the
till sends. The decoder is exactly as strict as the till's (host tests compare them on random
bytes) and returns ``None`` for anything invalid, which the board counts and ignores.
"""

from micropython import const

PROTOCOL_VERSION = const(1)

HELLO = const(0x01)
KEY = const(0x02)
DRAWER = const(0x03)
HEARTBEAT = const(0x04)
HELLO_REQUEST = const(0x41)
DISPLAY = const(0x42)
CLEAR = const(0x43)
BEEP = const(0x44)
TILL_HEARTBEAT = const(0x45)

KEY_DOWN = const(1)
KEY_UP = const(2)
KEY_REPEAT = const(3)

RESET_UNKNOWN = const(0)
RESET_POWER_ON = const(1)
RESET_WATCHDOG = const(2)
RESET_SOFT = const(3)
RESET_HARD = const(4)

MAX_KEY_NAME = const(16)
MAX_BOARD_ID = const(32)
DISPLAY_COLS = const(20)
DISPLAY_LINES = const(2)
MIN_BEEP_HZ = const(20)
MAX_BEEP_HZ = const(20000)
MAX_BEEP_MS = const(5000)

FLAG_DRAWER = const(0x01)
FLAG_SAFE = const(0x02)
FLAG_AWAITING = const(0x04)


def _u32(value: int) -> bytes:
    value = value & 0xFFFFFFFF
    return bytes(((value >> 24) & 0xFF, (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF))


def encode_hello(
    firmware: tuple[int, int, int], reset_cause: int, cols: int, lines: int, board_id: bytes
) -> bytes:
    board_id = board_id[:MAX_BOARD_ID]
    head = bytes(
        (
            HELLO,
            PROTOCOL_VERSION,
            firmware[0],
            firmware[1],
            firmware[2],
            reset_cause,
            cols,
            lines,
            len(board_id),
        )
    )
    return head + board_id


def encode_key(kind: int, name: bytes) -> bytes:
    return bytes((KEY, kind, len(name))) + name


def encode_drawer(is_open: bool) -> bytes:
    return bytes((DRAWER, 1 if is_open else 0))


def encode_heartbeat(
    uptime_s: int,
    events_dropped: int,
    line_errors: int,
    *,
    drawer_open: bool,
    safe_state: bool,
    awaiting_display: bool,
) -> bytes:
    flags = (FLAG_DRAWER if drawer_open else 0) | (FLAG_SAFE if safe_state else 0)
    if awaiting_display:
        flags |= FLAG_AWAITING
    return (
        bytes((HEARTBEAT,))
        + _u32(min(uptime_s, 0xFFFFFFFF))
        + _u32(min(events_dropped, 0xFFFFFFFF))
        + _u32(min(line_errors, 0xFFFFFFFF))
        + bytes((flags,))
    )


def displayable(byte: int) -> bool:
    """Whether the HD44780 shows ``byte`` as its ASCII glyph (0x5C and 0x7E it does not)."""
    return 0x20 <= byte <= 0x7E and byte not in (0x5C, 0x7E)


def valid_key_name(name: bytes) -> bool:
    if not 1 <= len(name) <= MAX_KEY_NAME:
        return False
    return all(0x21 <= byte <= 0x7E for byte in name)


def decode_till(payload: bytes) -> tuple[int, int, int, bytes] | None:
    """Decode a till message to ``(type, a, b, text)``, or None if it is not valid.

    DISPLAY gives ``(DISPLAY, line, 0, text)``, BEEP ``(BEEP, freq_hz, ms, b"")``, the others
    ``(type, 0, 0, b"")``.
    """
    n = len(payload)
    if n == 0:
        return None
    kind = payload[0]
    if kind in (HELLO_REQUEST, CLEAR, TILL_HEARTBEAT):
        return (kind, 0, 0, b"") if n == 1 else None
    if kind == DISPLAY:
        if n < 3 or n != 3 + payload[2] or payload[2] > DISPLAY_COLS:
            return None
        line = payload[1]
        if line >= DISPLAY_LINES:
            return None
        text = bytes(payload[3:])
        for byte in text:
            if not displayable(byte):
                return None
        return (DISPLAY, line, 0, text)
    if kind == BEEP:
        if n != 5:
            return None
        freq = (payload[1] << 8) | payload[2]
        ms = (payload[3] << 8) | payload[4]
        if freq < MIN_BEEP_HZ or freq > MAX_BEEP_HZ or ms < 1 or ms > MAX_BEEP_MS:
            return None
        return (BEEP, freq, ms, b"")
    return None
