"""ESC/POS encoding, checked with the independent test decoder and against the manual's bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.peripherals.printer import escpos_encode as enc
from edge.peripherals.printer.codepages import CODE_PAGES, code_page, encode
from edge.peripherals.printer.document import Align, Barcode, Document, Text
from tests.edge.peripherals.printer import escpos_decoder as dec


def test_drawer_kick_is_esc_p_with_2ms_units() -> None:
    # ESC p m t1 t2 from the Epson manual: pin 2 is m=0, pin 5 is m=1, times in 2 ms units.
    assert enc.drawer_kick() == bytes([0x1B, 0x70, 0x00, 50, 50])
    assert enc.drawer_kick(5, 120, 240) == bytes([0x1B, 0x70, 0x01, 60, 120])
    (kick,) = dec.decode(enc.drawer_kick(5, 120, 240)).of(dec.Kick)
    assert kick == dec.Kick(pin=5, on_ms=120, off_ms=240)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pin": 3}, "pin must be 2 or 5"),
        ({"on_ms": 0}, "on_ms must be 2..510"),
        ({"off_ms": 600}, "off_ms must be 2..510"),
        ({"on_ms": 32, "off_ms": 8}, "encode as DLE EOT"),
    ],
)
def test_drawer_kick_refuses_what_it_cannot_send(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        enc.drawer_kick(**kwargs)  # type: ignore[arg-type]


def test_status_queries_are_dle_eot_n() -> None:
    assert [enc.status_query(n) for n in (1, 2, 3, 4)] == [
        b"\x10\x04\x01",
        b"\x10\x04\x02",
        b"\x10\x04\x03",
        b"\x10\x04\x04",
    ]
    with pytest.raises(ValueError, match=r"1\.\.4"):
        enc.status_query(5)


def test_code128_barcode_uses_code_set_b_and_doubles_braces() -> None:
    data = enc.barcode_code128("A{1", 2, 80)
    assert data == b"\x1dh\x50\x1dw\x02\x1dH\x00\x1dk\x49\x06{BA{{1"
    (barcode,) = dec.decode(data).barcodes
    assert (barcode.data, barcode.module, barcode.height) == ("A{1", 2, 80)
    with pytest.raises(ValueError, match="printable ASCII"):
        enc.barcode_code128("Grüße", 2, 80)


def test_cuts() -> None:
    assert enc.cut("full") == b"\x1dV\x00"
    assert enc.cut("partial") == b"\x1dV\x01"
    assert enc.cut("none") == b""


def test_a_document_is_initialised_paged_fed_and_cut() -> None:
    doc = Document(32, (Text("Hi", Align.CENTER, bold=True),))
    data = enc.encode_document(doc, code_page("wpc1252"), feed_lines=4, cut_kind="full")
    assert data.startswith(b"\x1b@\x1bt\x10")
    items = dec.decode(data).items
    assert items[:2] == [dec.Init(), dec.CodePage(16)]
    assert items[-2:] == [dec.Feed(4), dec.Cut(partial=False)]


def test_banner_is_a_bold_centred_ascii_line() -> None:
    (line,) = dec.decode(enc.banner("*** COPY ***")).lines
    assert line == dec.Line("*** COPY ***", "center", True, 1, 1)


_TEXTS = st.text(max_size=20)
_BLOCKS = st.one_of(
    st.builds(
        Text,
        _TEXTS,
        st.sampled_from(Align),
        st.booleans(),
        st.booleans(),
    ),
    st.builds(Barcode, st.from_regex(r"[A-Za-z0-9{}-]{1,12}", fullmatch=True), st.integers(1, 2)),
)


@given(st.lists(_BLOCKS, max_size=12), st.sampled_from(sorted(CODE_PAGES)))
def test_every_document_decodes_to_its_lines_and_styles(blocks: list[object], name: str) -> None:
    doc = Document(42, tuple(b for b in blocks if isinstance(b, Text | Barcode)))
    page = code_page(name)
    decoded = dec.decode(enc.encode_document(doc, page))
    got: list[tuple[object, ...]] = []
    for item in decoded.items:
        if isinstance(item, dec.Line):
            got.append((item.text, item.align, item.bold, item.width == item.height == 2))
        elif isinstance(item, dec.Barcode):
            got.append(("barcode", item.data, item.module))
    want: list[tuple[object, ...]] = []
    for block in doc.blocks:
        if isinstance(block, Text):
            text = encode(block.text, page).decode(page.codec)
            want.append((text, block.align.value, block.bold, block.double))
        else:
            want.append(("barcode", block.data, block.module))
    assert got == want
