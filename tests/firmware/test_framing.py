"""The firmware's framing is protocol.framing, byte for byte, counter for counter."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.devices.mpy_shims import firmware
from protocol import framing
from protocol.errors import FrameError

fw = firmware("framing")

payloads = st.binary(max_size=framing.MAX_PAYLOAD)
frame_types = st.sampled_from(framing.FRAME_TYPES)
seqs = st.integers(0, 255)


def test_constants_agree() -> None:
    for name in ("DATA", "ACK", "NAK", "MAX_PAYLOAD", "MAX_FRAME", "MAX_ENCODED", "MAX_WIRE"):
        assert getattr(fw, name) == getattr(framing, name), name


def test_crc_check_value() -> None:
    assert fw.crc16_ccitt_false(b"123456789") == 0x29B1


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        (b"", b"\x01"),
        (b"\x00", b"\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
        (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    ],
)
def test_cobs_vectors(raw: bytes, encoded: bytes) -> None:
    assert fw.cobs_encode(raw) == encoded
    assert fw.cobs_decode(encoded) == raw


@given(st.binary(max_size=700), st.integers(0, 0xFFFF))
def test_crc_matches(data: bytes, init: int) -> None:
    assert fw.crc16_ccitt_false(data, init) == framing.crc16_ccitt_false(data, init)


@given(st.binary(max_size=700))
def test_cobs_encode_matches(data: bytes) -> None:
    assert fw.cobs_encode(data) == framing.cobs_encode(data)


@given(st.one_of(st.binary(max_size=300), st.binary(max_size=300).map(framing.cobs_encode)))
def test_cobs_decode_accepts_and_rejects_the_same_inputs(data: bytes) -> None:
    try:
        expected = framing.cobs_decode(data)
    except FrameError:
        with pytest.raises(ValueError):  # noqa: PT011 — the firmware's only error type
            fw.cobs_decode(data)
    else:
        assert fw.cobs_decode(data) == expected


@given(frame_types, seqs, payloads)
def test_firmware_frames_decode_with_protocol_and_back(kind: int, seq: int, payload: bytes) -> None:
    if kind != framing.DATA:
        payload = b""
    wire = fw.encode_frame(kind, seq, payload)
    assert wire == framing.encode_frame(kind, seq, payload)
    assert framing.decode_frame(wire) == framing.Frame(kind, seq, payload)
    assert fw.decode_frame(framing.encode_frame(kind, seq, payload)) == (kind, seq, payload)


@pytest.mark.parametrize(
    ("kind", "seq", "payload"),
    [(0, 1, b""), (4, 1, b""), (1, 256, b""), (1, -1, b""), (2, 1, b"x"), (1, 1, bytes(251))],
)
def test_encode_frame_refuses_what_the_specification_refuses(
    kind: int, seq: int, payload: bytes
) -> None:
    with pytest.raises(FrameError):
        framing.encode_frame(kind, seq, payload)
    with pytest.raises(ValueError):  # noqa: PT011
        fw.encode_frame(kind, seq, payload)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


stream_parts = st.one_of(
    st.tuples(frame_types, seqs, payloads).map(
        lambda f: framing.encode_frame(f[0], f[1], f[2] if f[0] == framing.DATA else b"")
    ),
    st.binary(max_size=40),  # line noise, often with zeros in it
    st.binary(min_size=250, max_size=600).map(lambda b: b.replace(b"\x00", b"\x01")),  # overlong
    st.tuples(frame_types, seqs, payloads).map(lambda f: framing.encode_frame(1, f[1], f[2])[:-3]),
)


@given(st.lists(stream_parts, max_size=12), st.lists(st.integers(0, 10_000), max_size=6))
def test_stream_decoders_agree_on_frames_and_every_counter(
    parts: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(parts)
    ours, theirs = fw.FrameDecoder(), framing.FrameDecoder()
    got, want = [], []
    for piece in _chunks(stream, cuts):
        got += ours.feed(piece)
        want += [tuple(f) for f in theirs.feed(piece)]
    assert got == want
    stats = dataclasses.asdict(theirs.stats)
    assert {name: getattr(ours, name) for name in stats} == stats
    assert ours.pending == theirs.pending
    assert ours.errors() == theirs.stats.errors()
