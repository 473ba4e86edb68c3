"""The test decoder itself, on bytes written by hand from the ESC/POS manual."""

from __future__ import annotations

import pytest

from tests.edge.peripherals.printer.escpos_decoder import (
    Barcode,
    CodePage,
    Cut,
    DecodeError,
    Feed,
    Init,
    Kick,
    Line,
    StatusQuery,
    decode,
    receipts,
)


def test_decodes_a_hand_written_job() -> None:
    job = (
        b"\x1b@"  # ESC @
        b"\x1bt\x13"  # ESC t 19: PC858
        b"\x1ba\x01\x1bE\x01\x1d!\x11Hi \xd5\n"  # centred, bold, double: "Hi €"
        b"\x1ba\x00\x1bE\x00\x1d!\x00plain\n"
        b"\x1dh\x40\x1dw\x02\x1dH\x00\x1dk\x49\x05{BA-1"  # CODE128 "A-1"
        b"\x10\x04\x04"  # DLE EOT 4
        b"\x1bp\x00\x19\x32"  # ESC p pin 2, 50 ms, 100 ms
        b"\x1bd\x03\x1dV\x42\x00"  # feed 3, GS V 66 0
    )
    decoded = decode(job)
    assert decoded.items == [
        Init(),
        CodePage(19),
        Line("Hi €", "center", True, 2, 2),
        Line("plain", "left", False, 1, 1),
        Barcode("CODE128", "A-1", 2, 0x40, 0),
        StatusQuery(4),
        Kick(2, 50, 100),
        Feed(3),
        Feed(0),
        Cut(partial=True),
    ]
    assert decoded.paper(20) == ["      Hi €", "plain", "[CODE128 A-1]"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x1bZ", "unknown command ESC"),
        (b"\x1dZ\x00", "unknown command GS"),
        (b"abc", "never printed"),
        (b"a\x07b\n", "stray control byte"),
        (b"ab\x1bE\x01c\n", "middle of a line"),
        (b"\x1bt", "cut short"),
        (b"\x1bt\x63", "unknown code page"),
    ],
)
def test_refuses_what_a_correct_encoder_never_sends(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode(data)


def test_a_line_wider_than_the_paper_is_an_error() -> None:
    with pytest.raises(DecodeError, match="columns"):
        decode(b"\x1d!\x11abcdef\n").paper(10)


def test_splits_jobs_at_cuts() -> None:
    jobs = receipts(b"one\n\x1dV\x01two\n\x1dV\x00")
    assert [[line.text for line in j.lines] for j in jobs] == [["one"], ["two"]]
