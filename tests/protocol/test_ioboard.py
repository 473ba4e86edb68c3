"""protocol/ioboard.py: the I/O board's application messages and the display text layout.

(Pure contract tests; they would sit in tests/protocol/test_ioboard.py, next to the module.)
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import ioboard as iob
from protocol.errors import MessageError

key_names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=16)
shown = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="\\~"), max_size=20
)
u32 = st.integers(0, 0xFFFF_FFFF)

board_messages = st.one_of(
    st.builds(
        iob.Hello,
        protocol=st.integers(0, 255),
        firmware=st.tuples(*[st.integers(0, 255)] * 3),
        reset_cause=st.sampled_from(iob.ResetCause),
        display_cols=st.integers(1, 255),
        display_lines=st.integers(1, 255),
        board_id=st.binary(min_size=1, max_size=32),
    ),
    st.builds(iob.KeyEvent, key=key_names, kind=st.sampled_from(iob.KeyKind)),
    st.builds(iob.DrawerEvent, open=st.booleans()),
    st.builds(
        iob.BoardHeartbeat,
        uptime_s=u32,
        events_dropped=u32,
        line_errors=u32,
        drawer_open=st.booleans(),
        safe_state=st.booleans(),
        awaiting_display=st.booleans(),
    ),
)
till_messages = st.one_of(
    st.just(iob.HelloRequest()),
    st.just(iob.DisplayClear()),
    st.just(iob.TillHeartbeat()),
    st.builds(iob.DisplayWrite, line=st.integers(0, 1), text=shown),
    st.builds(iob.Beep, freq_hz=st.integers(20, 20_000), ms=st.integers(1, 5000)),
)


@given(board_messages)
def test_board_messages_round_trip(msg: iob.BoardMessage) -> None:
    assert iob.decode_board(iob.encode(msg)) == msg


@given(till_messages)
def test_till_messages_round_trip(msg: iob.TillMessage) -> None:
    assert iob.decode_till(iob.encode(msg)) == msg


@given(st.binary(max_size=64))
def test_decoders_raise_only_message_error(data: bytes) -> None:
    for decode in (iob.decode_board, iob.decode_till):
        try:
            msg = decode(data)
        except MessageError:
            continue
        assert iob.encode(msg) == data  # whatever decodes is the one canonical encoding


@pytest.mark.parametrize(
    ("msg", "wire"),
    [
        (iob.KeyEvent(key="ENTER", kind=iob.KeyKind.DOWN), b"\x02\x01\x05ENTER"),
        (iob.KeyEvent(key="7", kind=iob.KeyKind.REPEAT), b"\x02\x03\x017"),
        (iob.DrawerEvent(open=True), b"\x03\x01"),
        (
            iob.BoardHeartbeat(
                uptime_s=258,
                events_dropped=3,
                line_errors=1,
                drawer_open=True,
                safe_state=False,
                awaiting_display=True,
            ),
            b"\x04\x00\x00\x01\x02\x00\x00\x00\x03\x00\x00\x00\x01\x05",
        ),
        (
            iob.Hello(
                protocol=1,
                firmware=(1, 2, 3),
                reset_cause=iob.ResetCause.WATCHDOG,
                display_cols=20,
                display_lines=2,
                board_id=b"\xab\xcd",
            ),
            b"\x01\x01\x01\x02\x03\x02\x14\x02\x02\xab\xcd",
        ),
        (iob.HelloRequest(), b"\x41"),
        (iob.DisplayWrite(line=1, text="Total 9.99"), b"\x42\x01\x0aTotal 9.99"),
        (iob.DisplayClear(), b"\x43"),
        (iob.Beep(freq_hz=2000, ms=150), b"\x44\x07\xd0\x00\x96"),
        (iob.TillHeartbeat(), b"\x45"),
    ],
)
def test_wire_vectors(msg: iob.BoardMessage | iob.TillMessage, wire: bytes) -> None:
    assert iob.encode(msg) == wire


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        (b"\x42\x02\x00", "$.line"),
        (b"\x42\x00\x01\\", "$.text"),
        (b"\x42\x00\x01\xe9", "$.text"),
        (b"\x44\x00\x01\x00\x01", "$.freq_hz"),
        (b"\x44\x07\xd0\x00\x00", "$.ms"),
        (b"\x02\x01\x01X", "$.type"),  # a board message sent to the board
    ],
)
def test_bad_till_messages_name_the_field(payload: bytes, path: str) -> None:
    with pytest.raises(MessageError) as info:
        iob.decode_till(payload)
    assert info.value.path == path


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        (b"\x02\x04\x01X", "$.kind"),
        (b"\x02\x01\x02A ", "$.key"),  # a space in a key name
        (b"\x03\x02", "$.open"),
        (b"\x04" + bytes(12) + b"\x08", "$.flags"),
        (b"\x01\x01\x01\x00\x00\x07\x14\x02\x01\x01", "$.reset_cause"),
        (b"\x01\x01\x01\x00\x00\x01\x14\x02\x00", "$.board_id"),
        (b"\x45", "$.type"),
    ],
)
def test_bad_board_messages_name_the_field(payload: bytes, path: str) -> None:
    with pytest.raises(MessageError) as info:
        iob.decode_board(payload)
    assert info.value.path == path


def test_messages_refuse_bad_values_when_built() -> None:
    with pytest.raises(MessageError):
        iob.DisplayWrite(line=0, text="x" * 21)
    with pytest.raises(MessageError):
        iob.KeyEvent(key="", kind=iob.KeyKind.UP)
    with pytest.raises(MessageError):
        iob.Beep(freq_hz=2000, ms=True)
    with pytest.raises(MessageError):
        iob.BoardHeartbeat(
            uptime_s=-1,
            events_dropped=0,
            line_errors=0,
            drawer_open=False,
            safe_state=False,
            awaiting_display=False,
        )


@given(st.text(max_size=60))
def test_fit_line_always_gives_what_the_display_can_show(text: str) -> None:
    fitted = iob.fit_line(text)
    assert len(fitted) <= iob.DISPLAY_COLS
    iob.DisplayWrite(line=0, text=fitted)  # valid on the wire
    assert iob.fit_line(fitted) == fitted


@given(shown, st.text(max_size=10))
def test_fit_line_keeps_displayable_text_as_it_is(prefix: str, rest: str) -> None:
    assert iob.fit_line(prefix + rest).startswith(prefix)


@pytest.mark.parametrize(
    ("text", "fitted"),
    [
        ("Crème brûlée", "Creme brulee"),
        ("€ 12.50", "E 12.50"),
        ("Straße 3", "Strasse 3"),
        ("C:\\path ~home", "C:/path -home"),
        ("日本", "??"),
        ("A" * 25, "A" * 20),
        ("tab\there", "tab here"),
    ],
)
def test_fit_line_examples(text: str, fitted: str) -> None:
    assert iob.fit_line(text) == fitted
