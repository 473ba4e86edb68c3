"""The serial scanner framer: codes come back whole, anything else is dropped and counted.

Frames are built from the HIL emulator's own wire tables, an independent statement of the
format, not from the framer's constants.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.peripherals.scanner.framing import (
    Code,
    Dropped,
    DropReason,
    FramerConfig,
    Outcome,
    ScanFramer,
    classify,
)
from hil.devices.scanner_emulator import WIRE_PREFIXES, WIRE_SUFFIXES

PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
SCAN_TEXT = st.text(PRINTABLE | st.just("\x1d"), min_size=1, max_size=40)
AIM_ID = st.builds(
    lambda letter, modifier: f"]{letter}{modifier}",
    st.sampled_from("ACEFIQdeX"),
    st.sampled_from("0123456789"),
)
SUFFIX = st.sampled_from(sorted(WIRE_SUFFIXES))
PREFIX = st.sampled_from(sorted(WIRE_PREFIXES))


def _config(suffix: str, prefix: str, aim: bool, max_length: int = 128) -> FramerConfig:
    return FramerConfig(
        suffix=WIRE_SUFFIXES[suffix], prefix=WIRE_PREFIXES[prefix], aim=aim, max_length=max_length
    )


def _wire(code: str, suffix: str, prefix: str, ident: str) -> bytes:
    return WIRE_PREFIXES[prefix] + ident.encode() + code.encode() + WIRE_SUFFIXES[suffix]


def _feed_in_chunks(framer: ScanFramer, data: bytes, cuts: list[int]) -> list[Outcome]:
    out: list[Outcome] = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in itertools.pairwise(points):
        out += framer.feed(data[a:b])
    return out


@given(
    codes=st.lists(st.tuples(SCAN_TEXT, AIM_ID), min_size=1, max_size=5),
    suffix=SUFFIX,
    prefix=PREFIX,
    aim=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
)
def test_codes_come_back_whole_however_the_bytes_are_chunked(
    codes: list[tuple[str, str]], suffix: str, prefix: str, aim: bool, cuts: list[int]
) -> None:
    framer = ScanFramer(_config(suffix, prefix, aim))
    got: list[Outcome] = []
    for text, ident in codes:
        got += _feed_in_chunks(framer, _wire(text, suffix, prefix, ident if aim else ""), cuts)
        if suffix == "none":
            got += framer.flush()  # the idle gap that ends a code without suffix
    want = [Code(text, ident if aim else None) for text, ident in codes]
    assert got == want
    assert framer.pending == 0


@given(
    chunks=st.lists(st.binary(max_size=300), max_size=6),
    suffix=SUFFIX,
    prefix=PREFIX,
    aim=st.booleans(),
    max_length=st.integers(min_value=1, max_value=128),
)
def test_any_bytes_are_survived_and_only_valid_codes_come_out(
    chunks: list[bytes], suffix: str, prefix: str, aim: bool, max_length: int
) -> None:
    framer = ScanFramer(_config(suffix, prefix, aim, max_length))
    out: list[Outcome] = []
    for chunk in chunks:
        out += framer.feed(chunk)
        assert framer.held <= max_length + 2
    out += framer.flush()
    assert framer.pending == 0
    for o in out:
        if isinstance(o, Code):
            whole = (o.symbology or "") + o.text
            assert 1 <= len(whole) <= max_length
            assert o.text
            assert all(0x20 <= ord(c) <= 0x7E or c == "\x1d" for c in whole)
        else:
            assert o.size >= 0


@given(
    garbage=st.binary(max_size=200),
    code=SCAN_TEXT,
    ident=AIM_ID,
    suffix=SUFFIX,
    prefix=PREFIX,
    aim=st.booleans(),
)
def test_after_garbage_and_one_frame_boundary_the_next_code_is_read(
    garbage: bytes, code: str, ident: str, suffix: str, prefix: str, aim: bool
) -> None:
    framer = ScanFramer(_config(suffix, prefix, aim))
    framer.feed(garbage + WIRE_SUFFIXES[suffix])
    framer.flush()  # an idle gap
    out = framer.feed(_wire(code, suffix, prefix, ident if aim else ""))
    out += framer.flush() if suffix == "none" else []
    assert out == [Code(code, ident if aim else None)]


def test_each_kind_of_bad_frame_is_dropped_with_its_reason() -> None:
    framer = ScanFramer(FramerConfig(suffix=b"\r", max_length=13))
    out = framer.feed(b"40063\x00813339\r" + b"4006381\xe93931\r" + b"\r" + b"12345678901234\r")
    assert [(o.reason, o.size) for o in out if isinstance(o, Dropped)] == [
        (DropReason.NON_PRINTABLE, 12),
        (DropReason.NON_ASCII, 12),
        (DropReason.EMPTY, 0),
        (DropReason.TOO_LONG, 14),
    ]
    assert framer.feed(b"4006381333931\r") == [Code("4006381333931")]


def test_an_overlong_run_is_not_held_and_ends_at_the_next_suffix() -> None:
    framer = ScanFramer(FramerConfig(suffix=b"\r\n", max_length=20))
    assert framer.feed(b"9" * 1000) == []
    assert framer.held <= 21
    out = framer.feed(b"99\r\n4006381333931\r\n")
    assert out == [Dropped(DropReason.TOO_LONG, 1002), Code("4006381333931")]


def test_a_half_code_is_dropped_at_the_idle_gap_or_the_next_prefix() -> None:
    framer = ScanFramer(FramerConfig(suffix=b"\x03", prefix=b"\x02"))
    assert framer.feed(b"\x0240063") == []
    assert framer.flush() == [Dropped(DropReason.TRUNCATED, 5)]
    out = framer.feed(b"\x02123\x024006381333931\x03")
    assert out == [Dropped(DropReason.TRUNCATED, 3), Code("4006381333931")]


def test_bytes_before_the_prefix_are_garbage() -> None:
    framer = ScanFramer(FramerConfig(suffix=b"\r", prefix=b"\x02"))
    out = framer.feed(b"xyz\r\x024006381333931\r")
    assert out == [Dropped(DropReason.GARBAGE, 4), Code("4006381333931")]


def test_without_suffix_a_prefix_ends_the_previous_code() -> None:
    framer = ScanFramer(FramerConfig(suffix=b"", prefix=b"\x02", aim=True))
    out = framer.feed(b"\x02]E04006381333931\x02]C1\x1d0104012345678901")
    assert out == [Code("4006381333931", "]E0")]
    assert framer.flush() == [Code("\x1d0104012345678901", "]C1")]


@pytest.mark.parametrize(
    ("data", "aim", "want"),
    [
        (b"]E04006381333931", True, Code("4006381333931", "]E0")),
        (b"]E04006381333931", False, Code("]E04006381333931")),
        (b"4006381333931", True, Code("4006381333931")),  # no identifier: data kept, none reported
        (b"]E0", True, Dropped(DropReason.EMPTY, 3)),
        (b"\x7f", False, Dropped(DropReason.NON_PRINTABLE, 1)),
        (b"(01)04012345678901\x1d10ABC", False, Code("(01)04012345678901\x1d10ABC")),
    ],
)
def test_classify(data: bytes, aim: bool, want: Outcome) -> None:
    assert classify(data, aim=aim, max_length=128) == want


def test_config_refuses_what_no_scanner_sends() -> None:
    with pytest.raises(ValueError, match="suffix"):
        FramerConfig(suffix=b"\x1d")
    with pytest.raises(ValueError, match="prefix"):
        FramerConfig(prefix=b"A")
    with pytest.raises(ValueError, match="max_length"):
        FramerConfig(max_length=129)
