"""The firmware's application messages are protocol.ioboard's, in both directions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.devices.mpy_shims import firmware
from protocol import ioboard as iob
from protocol.errors import MessageError

wire = firmware("wire")
config = firmware("config")

key_names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=16)
display_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="\\~"), max_size=20
)
u32 = st.integers(0, 0xFFFF_FFFF)
CAUSES = {
    wire.RESET_UNKNOWN: iob.ResetCause.UNKNOWN,
    wire.RESET_POWER_ON: iob.ResetCause.POWER_ON,
    wire.RESET_WATCHDOG: iob.ResetCause.WATCHDOG,
    wire.RESET_SOFT: iob.ResetCause.SOFT,
    wire.RESET_HARD: iob.ResetCause.HARD,
}
KINDS = {wire.KEY_DOWN: iob.KeyKind.DOWN, wire.KEY_UP: iob.KeyKind.UP, wire.KEY_REPEAT: "repeat"}


def test_constants_agree() -> None:
    assert wire.PROTOCOL_VERSION == iob.PROTOCOL_VERSION
    assert (wire.DISPLAY_COLS, wire.DISPLAY_LINES) == (iob.DISPLAY_COLS, iob.DISPLAY_LINES)
    for name in ("HELLO", "KEY", "DRAWER", "HEARTBEAT", "HELLO_REQUEST", "DISPLAY", "CLEAR"):
        assert getattr(wire, name) == iob.MsgType[name]
    assert (wire.BEEP, wire.TILL_HEARTBEAT) == (iob.MsgType.BEEP, iob.MsgType.TILL_HEARTBEAT)


def test_the_keypad_legends_are_the_standard_keys() -> None:
    legends = [key for row in config.KEYMAP for key in row]
    assert sorted(legends) == sorted(iob.STANDARD_KEYS)
    assert all(wire.valid_key_name(k.encode()) for k in legends)


@given(
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    st.sampled_from(sorted(CAUSES)),
    st.binary(min_size=1, max_size=32),
)
def test_hello(fw_version: tuple[int, int, int], cause: int, board_id: bytes) -> None:
    payload = wire.encode_hello(fw_version, cause, 20, 2, board_id)
    msg = iob.decode_board(payload)
    assert msg == iob.Hello(
        protocol=1,
        firmware=fw_version,
        reset_cause=CAUSES[cause],
        display_cols=20,
        display_lines=2,
        board_id=board_id,
    )
    assert iob.encode(msg) == payload


@given(st.sampled_from(sorted(KINDS)), key_names)
def test_key(kind: int, name: str) -> None:
    payload = wire.encode_key(kind, name.encode())
    assert iob.decode_board(payload) == iob.KeyEvent(key=name, kind=iob.KeyKind(KINDS[kind]))
    assert iob.encode(iob.decode_board(payload)) == payload


@given(st.booleans())
def test_drawer(is_open: bool) -> None:
    assert iob.decode_board(wire.encode_drawer(is_open)) == iob.DrawerEvent(open=is_open)


@given(u32, u32, u32, st.booleans(), st.booleans(), st.booleans())
def test_heartbeat(
    up: int, dropped: int, errors: int, drawer: bool, safe: bool, awaiting: bool
) -> None:
    payload = wire.encode_heartbeat(
        up, dropped, errors, drawer_open=drawer, safe_state=safe, awaiting_display=awaiting
    )
    assert iob.decode_board(payload) == iob.BoardHeartbeat(
        uptime_s=up,
        events_dropped=dropped,
        line_errors=errors,
        drawer_open=drawer,
        safe_state=safe,
        awaiting_display=awaiting,
    )


def test_heartbeat_counters_saturate_instead_of_wrapping() -> None:
    payload = wire.encode_heartbeat(
        2**40, 2**33, 5, drawer_open=False, safe_state=False, awaiting_display=False
    )
    msg = iob.decode_board(payload)
    assert isinstance(msg, iob.BoardHeartbeat)
    assert (msg.uptime_s, msg.events_dropped) == (0xFFFF_FFFF, 0xFFFF_FFFF)


till_messages = st.one_of(
    st.just(iob.HelloRequest()),
    st.just(iob.DisplayClear()),
    st.just(iob.TillHeartbeat()),
    st.builds(iob.DisplayWrite, line=st.integers(0, 1), text=display_text),
    st.builds(iob.Beep, freq_hz=st.integers(20, 20_000), ms=st.integers(1, 5000)),
)


@given(till_messages)
def test_till_messages_decode_on_the_board(msg: iob.TillMessage) -> None:
    kind, a, b, text = wire.decode_till(iob.encode(msg))
    assert kind == iob.encode(msg)[0]
    if isinstance(msg, iob.DisplayWrite):
        assert (a, text.decode()) == (msg.line, msg.text)
    elif isinstance(msg, iob.Beep):
        assert (a, b) == (msg.freq_hz, msg.ms)


def _mutations(msg: iob.TillMessage) -> st.SearchStrategy[bytes]:
    raw = iob.encode(msg)
    return st.one_of(
        st.just(raw),
        st.integers(0, len(raw) - 1).flatmap(
            lambda i: st.integers(0, 255).map(lambda v: raw[:i] + bytes([v]) + raw[i + 1 :])
        ),
        st.binary(max_size=3).map(lambda extra: raw + extra),
        st.integers(0, len(raw)).map(lambda n: raw[:n]),
    )


@given(st.one_of(st.binary(max_size=30), till_messages.flatmap(_mutations)))
def test_the_board_accepts_exactly_what_the_till_protocol_accepts(payload: bytes) -> None:
    try:
        iob.decode_till(payload)
    except MessageError:
        assert wire.decode_till(payload) is None
    else:
        assert wire.decode_till(payload) is not None


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x42\x02\x00",  # line 2 of 2 lines
        b"\x42\x00\x01\x5c",  # a backslash, which the HD44780 shows as a yen sign
        b"\x42\x00\x15" + b"x" * 21,  # 21 columns
        b"\x44\x00\x13\x00\x01",  # 19 Hz
    ],
)
def test_malformed_till_messages_are_refused_on_the_board(payload: bytes) -> None:
    assert wire.decode_till(payload) is None
