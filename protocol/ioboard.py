"""Application messages between a till and its keypad/display I/O board.

Each message is the payload of one DATA frame of the serial link (:mod:`protocol.framing`,
:mod:`protocol.link`), so it arrives whole, once and in order, or not at all. This module is the
specification and the till's encoder/decoder; the board's firmware (``edge/firmware/wire.py``)
implements the same bytes in MicroPython, and host tests check the two against each other.

Format: one type byte, then fixed fields, big-endian, nothing after the last field. Text is
ASCII. Decoding is strict — a wrong length, an unknown type, a value out of range or a
character the board cannot show is a :class:`~protocol.errors.MessageError` (the firmware
drops and counts the same inputs), so both ends agree on what is valid.

Board to till::

    0x01 HELLO      proto:u8 fw_major:u8 fw_minor:u8 fw_patch:u8 reset_cause:u8
                    display_cols:u8 display_lines:u8 id_len:u8 board_id[id_len]   (1..32 bytes)
    0x02 KEY        kind:u8 (1 down, 2 up, 3 repeat) name_len:u8 name[name_len]
                    (1..16 characters 0x21..0x7E)
    0x03 DRAWER     open:u8 (0 closed, 1 open)
    0x04 HEARTBEAT  uptime_s:u32 events_dropped:u32 line_errors:u32
                    flags:u8 (bit 0 drawer open, bit 1 safe state, bit 2 awaiting display:
                    no DISPLAY or CLEAR since the board started; other bits 0)

Till to board::

    0x41 HELLO_REQUEST                        (the board answers with HELLO)
    0x42 DISPLAY    line:u8 (0..1) len:u8 (0..20) text[len]   (0x20..0x7E, not \\ or ~)
    0x43 CLEAR
    0x44 BEEP       freq_hz:u16 (20..20000) ms:u16 (1..5000)
    0x45 HEARTBEAT

Behaviour both ends rely on: the board sends HELLO as the first frame after it boots (seq 0
opens the link session) and whenever asked; it sends HEARTBEAT about once a second, so a till
sees a restart it missed as ``uptime_s`` going backwards. The board pads a DISPLAY line with
spaces to the display width. When the till has been silent for a few seconds the board enters
its *safe state*: it shows "Till closed", keeps at most a bounded number of events (the oldest
are dropped and counted in ``events_dropped``) and leaves the state at the next frame from the
till, showing the till's last lines again. Backslash and tilde are refused on DISPLAY because
the HD44780's ROM draws them as ¥ and →; :func:`fit_line` maps them, and any other text, to
what the display can show. A board that restarted twice in a row can have its second HELLO taken
for a retransmission by the link (see :mod:`protocol.link`'s known limit); its heartbeats then
still say *awaiting display*, which tells the till to show its lines again.
"""

from __future__ import annotations

import unicodedata
from enum import IntEnum, StrEnum
from typing import Final

import msgspec

from protocol.errors import MessageError

__all__ = [
    "DISPLAY_COLS",
    "DISPLAY_LINES",
    "PROTOCOL_VERSION",
    "STANDARD_KEYS",
    "Beep",
    "BoardHeartbeat",
    "BoardMessage",
    "DisplayClear",
    "DisplayWrite",
    "DrawerEvent",
    "Hello",
    "HelloRequest",
    "KeyEvent",
    "KeyKind",
    "MsgType",
    "ResetCause",
    "TillHeartbeat",
    "TillMessage",
    "decode_board",
    "decode_till",
    "encode",
    "fit_line",
]

PROTOCOL_VERSION: Final = 1
"""The version the board announces in HELLO; a till refuses a board that speaks another."""
DISPLAY_COLS: Final = 20
DISPLAY_LINES: Final = 2
MAX_KEY_NAME: Final = 16
MAX_BOARD_ID: Final = 32
MIN_BEEP_HZ: Final = 20
MAX_BEEP_HZ: Final = 20_000
MAX_BEEP_MS: Final = 5_000
MAX_U32: Final = 0xFFFF_FFFF

STANDARD_KEYS: Final = (
    *"0123456789",
    "00",
    "CLEAR",
    "VOID",
    "QTY",
    "PLU",
    "MEMBER",
    "NOSALE",
    "ENTER",
    "TOTAL",
    "CASH",
)
"""The legends of the standard 4x5 keypad; the till maps these names to its actions."""

_FLAG_DRAWER: Final = 0x01
_FLAG_SAFE: Final = 0x02
_FLAG_AWAITING: Final = 0x04
_FLAGS: Final = _FLAG_DRAWER | _FLAG_SAFE | _FLAG_AWAITING


class MsgType(IntEnum):
    """The type byte of every message (board-to-till below 0x40, till-to-board from 0x41)."""

    HELLO = 0x01
    KEY = 0x02
    DRAWER = 0x03
    HEARTBEAT = 0x04
    HELLO_REQUEST = 0x41
    DISPLAY = 0x42
    CLEAR = 0x43
    BEEP = 0x44
    TILL_HEARTBEAT = 0x45


class KeyKind(StrEnum):
    """What happened to a key: pressed, released, or still held (auto-repeat)."""

    DOWN = "down"
    UP = "up"
    REPEAT = "repeat"


_KIND_CODE: Final = {KeyKind.DOWN: 1, KeyKind.UP: 2, KeyKind.REPEAT: 3}
_CODE_KIND: Final = {v: k for k, v in _KIND_CODE.items()}


class ResetCause(StrEnum):
    """Why the board last started, as it reports in HELLO (a watchdog reset is worth a log)."""

    UNKNOWN = "unknown"
    POWER_ON = "power-on"
    WATCHDOG = "watchdog"
    SOFT = "soft"
    HARD = "hard"


_CAUSE_CODE: Final = {
    ResetCause.UNKNOWN: 0,
    ResetCause.POWER_ON: 1,
    ResetCause.WATCHDOG: 2,
    ResetCause.SOFT: 3,
    ResetCause.HARD: 4,
}
_CODE_CAUSE: Final = {v: k for k, v in _CAUSE_CODE.items()}


def _fail(reason: str, path: str = "$") -> MessageError:
    return MessageError(reason, path)


def _check_int(value: object, low: int, high: int, path: str) -> None:
    if type(value) is not int or not low <= value <= high:
        raise _fail(f"expected an integer {low}..{high}, got {value!r}", path)


def _check_bool(value: object, path: str) -> None:
    if type(value) is not bool:
        raise _fail(f"expected a bool, got {value!r}", path)


def _check_key(name: object) -> None:
    if (
        not isinstance(name, str)
        or not 1 <= len(name) <= MAX_KEY_NAME
        or not all(0x21 <= ord(c) <= 0x7E for c in name)
    ):
        raise _fail(
            f"expected a key name of 1..{MAX_KEY_NAME} printable ASCII, got {name!r}", "$.key"
        )


def _displayable(c: str) -> bool:
    return 0x20 <= ord(c) <= 0x7E and c not in "\\~"


def _check_text(text: object) -> None:
    if (
        not isinstance(text, str)
        or len(text) > DISPLAY_COLS
        or not all(_displayable(c) for c in text)
    ):
        raise _fail(
            f"expected at most {DISPLAY_COLS} displayable ASCII characters, got {text!r}", "$.text"
        )


class Hello(msgspec.Struct, frozen=True, kw_only=True):
    """The board introduces itself: after boot and when the till asks."""

    protocol: int
    firmware: tuple[int, int, int]
    reset_cause: ResetCause
    display_cols: int
    display_lines: int
    board_id: bytes

    def __post_init__(self) -> None:
        _check_int(self.protocol, 0, 255, "$.protocol")
        if len(self.firmware) != 3:
            raise _fail("expected a firmware version of three parts", "$.firmware")
        for i, part in enumerate(self.firmware):
            _check_int(part, 0, 255, f"$.firmware[{i}]")
        if not isinstance(self.reset_cause, ResetCause):
            raise _fail(f"expected a ResetCause, got {self.reset_cause!r}", "$.reset_cause")
        _check_int(self.display_cols, 1, 255, "$.display_cols")
        _check_int(self.display_lines, 1, 255, "$.display_lines")
        if not isinstance(self.board_id, bytes) or not 1 <= len(self.board_id) <= MAX_BOARD_ID:
            raise _fail(f"expected a board id of 1..{MAX_BOARD_ID} bytes", "$.board_id")

    @property
    def firmware_version(self) -> str:
        return ".".join(str(p) for p in self.firmware)


class KeyEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A debounced key transition on the board's keypad (or an auto-repeat while held)."""

    key: str
    kind: KeyKind

    def __post_init__(self) -> None:
        _check_key(self.key)
        if not isinstance(self.kind, KeyKind):
            raise _fail(f"expected a KeyKind, got {self.kind!r}", "$.kind")


class DrawerEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The debounced drawer-sense switch changed (also sent once after each HELLO)."""

    open: bool

    def __post_init__(self) -> None:
        _check_bool(self.open, "$.open")


class BoardHeartbeat(msgspec.Struct, frozen=True, kw_only=True):
    """The board is alive; its counters for the till's health report."""

    uptime_s: int
    events_dropped: int
    line_errors: int
    drawer_open: bool
    safe_state: bool
    awaiting_display: bool

    def __post_init__(self) -> None:
        _check_int(self.uptime_s, 0, MAX_U32, "$.uptime_s")
        _check_int(self.events_dropped, 0, MAX_U32, "$.events_dropped")
        _check_int(self.line_errors, 0, MAX_U32, "$.line_errors")
        _check_bool(self.drawer_open, "$.drawer_open")
        _check_bool(self.safe_state, "$.safe_state")
        _check_bool(self.awaiting_display, "$.awaiting_display")


class HelloRequest(msgspec.Struct, frozen=True):
    """Ask the board for its HELLO (after the till opened the port or saw it restart)."""


class DisplayWrite(msgspec.Struct, frozen=True, kw_only=True):
    """Put ``text`` on display line ``line`` (0 = top), padded with spaces by the board."""

    line: int
    text: str

    def __post_init__(self) -> None:
        _check_int(self.line, 0, DISPLAY_LINES - 1, "$.line")
        _check_text(self.text)


class DisplayClear(msgspec.Struct, frozen=True):
    """Blank both display lines."""


class Beep(msgspec.Struct, frozen=True, kw_only=True):
    """Sound the buzzer; a new beep replaces one still sounding."""

    freq_hz: int
    ms: int

    def __post_init__(self) -> None:
        _check_int(self.freq_hz, MIN_BEEP_HZ, MAX_BEEP_HZ, "$.freq_hz")
        _check_int(self.ms, 1, MAX_BEEP_MS, "$.ms")


class TillHeartbeat(msgspec.Struct, frozen=True):
    """The till is alive; its absence for a few seconds puts the board in its safe state."""


BoardMessage = Hello | KeyEvent | DrawerEvent | BoardHeartbeat
TillMessage = HelloRequest | DisplayWrite | DisplayClear | Beep | TillHeartbeat


def encode(msg: BoardMessage | TillMessage) -> bytes:
    """Return the DATA payload of ``msg`` (messages validate themselves when built)."""
    match msg:
        case Hello():
            return (
                bytes(
                    (
                        MsgType.HELLO,
                        msg.protocol,
                        *msg.firmware,
                        _CAUSE_CODE[msg.reset_cause],
                        msg.display_cols,
                        msg.display_lines,
                        len(msg.board_id),
                    )
                )
                + msg.board_id
            )
        case KeyEvent():
            name = msg.key.encode("ascii")
            return bytes((MsgType.KEY, _KIND_CODE[msg.kind], len(name))) + name
        case DrawerEvent():
            return bytes((MsgType.DRAWER, int(msg.open)))
        case BoardHeartbeat():
            flags = (
                (_FLAG_DRAWER if msg.drawer_open else 0)
                | (_FLAG_SAFE if msg.safe_state else 0)
                | (_FLAG_AWAITING if msg.awaiting_display else 0)
            )
            return (
                bytes((MsgType.HEARTBEAT,))
                + msg.uptime_s.to_bytes(4, "big")
                + msg.events_dropped.to_bytes(4, "big")
                + msg.line_errors.to_bytes(4, "big")
                + bytes((flags,))
            )
        case HelloRequest():
            return bytes((MsgType.HELLO_REQUEST,))
        case DisplayWrite():
            text = msg.text.encode("ascii")
            return bytes((MsgType.DISPLAY, msg.line, len(text))) + text
        case DisplayClear():
            return bytes((MsgType.CLEAR,))
        case Beep():
            return (
                bytes((MsgType.BEEP,)) + msg.freq_hz.to_bytes(2, "big") + msg.ms.to_bytes(2, "big")
            )
        case TillHeartbeat():
            return bytes((MsgType.TILL_HEARTBEAT,))
    raise TypeError(f"expected an I/O board message, got {type(msg).__name__}")  # pragma: no cover


def _expect_len(payload: bytes, n: int, what: str) -> None:
    if len(payload) != n:
        raise _fail(f"expected a {what} message of {n} bytes, got {len(payload)}")


def _ascii(raw: bytes, path: str) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise _fail(f"expected ASCII, got {raw!r}", path) from None


def decode_board(payload: bytes | bytearray) -> BoardMessage:
    """Decode a payload the board sent; raise :class:`MessageError` for anything invalid."""
    data = bytes(payload)
    if not data:
        raise _fail("expected a message type byte, got an empty payload")
    kind = data[0]
    if kind == MsgType.HELLO:
        if len(data) < 9:
            raise _fail(f"expected a HELLO of at least 9 bytes, got {len(data)}")
        _expect_len(data, 9 + data[8], "HELLO")
        cause = _CODE_CAUSE.get(data[5])
        if cause is None:
            raise _fail(f"expected a reset cause 0..4, got {data[5]}", "$.reset_cause")
        return Hello(
            protocol=data[1],
            firmware=(data[2], data[3], data[4]),
            reset_cause=cause,
            display_cols=data[6],
            display_lines=data[7],
            board_id=data[9:],
        )
    if kind == MsgType.KEY:
        if len(data) < 3:
            raise _fail(f"expected a KEY of at least 3 bytes, got {len(data)}")
        _expect_len(data, 3 + data[2], "KEY")
        key_kind = _CODE_KIND.get(data[1])
        if key_kind is None:
            raise _fail(f"expected a key kind 1..3, got {data[1]}", "$.kind")
        return KeyEvent(key=_ascii(data[3:], "$.key"), kind=key_kind)
    if kind == MsgType.DRAWER:
        _expect_len(data, 2, "DRAWER")
        if data[1] > 1:
            raise _fail(f"expected a drawer state 0 or 1, got {data[1]}", "$.open")
        return DrawerEvent(open=bool(data[1]))
    if kind == MsgType.HEARTBEAT:
        _expect_len(data, 14, "HEARTBEAT")
        flags = data[13]
        if flags & ~_FLAGS:
            raise _fail(f"expected flag bits 0..2 only, got 0x{flags:02X}", "$.flags")
        return BoardHeartbeat(
            uptime_s=int.from_bytes(data[1:5], "big"),
            events_dropped=int.from_bytes(data[5:9], "big"),
            line_errors=int.from_bytes(data[9:13], "big"),
            drawer_open=bool(flags & _FLAG_DRAWER),
            safe_state=bool(flags & _FLAG_SAFE),
            awaiting_display=bool(flags & _FLAG_AWAITING),
        )
    raise _fail(f"expected a board message type (0x01..0x04), got 0x{kind:02X}", "$.type")


def decode_till(payload: bytes | bytearray) -> TillMessage:
    """Decode a payload the till sent; raise :class:`MessageError` for anything invalid."""
    data = bytes(payload)
    if not data:
        raise _fail("expected a message type byte, got an empty payload")
    kind = data[0]
    if kind == MsgType.HELLO_REQUEST:
        _expect_len(data, 1, "HELLO_REQUEST")
        return HelloRequest()
    if kind == MsgType.DISPLAY:
        if len(data) < 3:
            raise _fail(f"expected a DISPLAY of at least 3 bytes, got {len(data)}")
        _expect_len(data, 3 + data[2], "DISPLAY")
        return DisplayWrite(line=data[1], text=_ascii(data[3:], "$.text"))
    if kind == MsgType.CLEAR:
        _expect_len(data, 1, "CLEAR")
        return DisplayClear()
    if kind == MsgType.BEEP:
        _expect_len(data, 5, "BEEP")
        return Beep(freq_hz=int.from_bytes(data[1:3], "big"), ms=int.from_bytes(data[3:5], "big"))
    if kind == MsgType.TILL_HEARTBEAT:
        _expect_len(data, 1, "HEARTBEAT")
        return TillHeartbeat()
    raise _fail(f"expected a till message type (0x41..0x45), got 0x{kind:02X}", "$.type")


_TRANSLIT: Final = {
    "\\": "/",
    "~": "-",
    "\t": " ",
    "\n": " ",
    "€": "E",
    "£": "L",
    "¥": "Y",
    "ß": "ss",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "ø": "o",
    "Ø": "O",
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "×": "x",
    "–": "-",
    "—": "-",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "…": "...",
}


def fit_line(text: str) -> str:
    """Return ``text`` as the display can show it: displayable ASCII, at most 20 columns.

    Accents are dropped (``é`` -> ``e``), a few common symbols are spelled in ASCII
    (``€`` -> ``E``, ``ß`` -> ``ss``), anything else becomes ``?``, and the result is cut
    (not wrapped) at :data:`DISPLAY_COLS`. Text that is already displayable is kept as it is.
    """
    out: list[str] = []
    for ch in text:
        if _displayable(ch):
            out.append(ch)
            continue
        mapped = _TRANSLIT.get(ch)
        if mapped is None:
            base = "".join(
                c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
            )
            mapped = base if base and all(_displayable(c) for c in base) else "?"
        out.append(mapped)
    return "".join(out)[:DISPLAY_COLS]
