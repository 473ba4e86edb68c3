"""ESC/POS bytes for a laid-out document, the drawer kick and status queries (pure).

We write these few commands ourselves instead of going through python-escpos's ``Dummy``:
importing python-escpos 3.1 writes a capabilities pickle into a fresh temporary directory in
every process, its ``barcode()`` prints to stdout and wants CODE128 data with a code-set prefix,
and its "magic" text encoding may switch code pages mid-line on its own. A receipt printer
needs perhaps a dozen commands; here each is one line, byte for byte as in Epson's ESC/POS
reference, and the output is deterministic, so a receipt rendered today prints the same bytes
when it is reprinted next month.

Styles are sent only when they change, and text goes through :mod:`codepages`, so no byte of
record text can be a control code: the only commands in the output are the ones written here.
"""

from __future__ import annotations

from typing import Literal

from edge.peripherals.printer.codepages import CodePage, code_page, encode
from edge.peripherals.printer.document import Align, Barcode, Document, Text

ESC = b"\x1b"
GS = b"\x1d"
DLE = b"\x10"
EOT = b"\x04"
LF = b"\n"

Cut = Literal["partial", "full", "none"]
_ALIGN = {Align.LEFT: 0, Align.CENTER: 1, Align.RIGHT: 2}
_CODE128 = 73
_HRI_NONE = 0


def initialise() -> bytes:
    """``ESC @``: clear styles and alignment left over from whatever printed before."""
    return ESC + b"@"


def select_code_page(page: CodePage) -> bytes:
    """``ESC t n``: print bytes 0x80-0xFF through ``page``."""
    return ESC + b"t" + bytes([page.table])


def align(where: Align) -> bytes:
    """``ESC a n``: 0 left, 1 centre, 2 right."""
    return ESC + b"a" + bytes([_ALIGN[where]])


def bold(on: bool) -> bytes:
    """``ESC E n``: emphasised on or off."""
    return ESC + b"E" + bytes([1 if on else 0])


def size(double: bool) -> bytes:
    """``GS ! n``: double width and height (0x11) or normal (0x00)."""
    return GS + b"!" + bytes([0x11 if double else 0x00])


def feed(lines: int) -> bytes:
    """``ESC d n``: print the buffer and feed ``lines`` lines (0..255)."""
    if not 0 <= lines <= 255:
        raise ValueError(f"feed lines must be 0..255, got {lines}")
    return ESC + b"d" + bytes([lines])


def cut(kind: Cut = "partial") -> bytes:
    """``GS V m``: 0 full cut, 1 partial cut (one point left uncut, so the slip does not fall)."""
    if kind == "none":
        return b""
    return GS + b"V" + bytes([0 if kind == "full" else 1])


def barcode_code128(data: str, module: int, height: int) -> bytes:
    """``GS h``, ``GS w``, ``GS H``, ``GS k 73``: CODE128 in code set B, no printed digits.

    The human-readable number is printed by the layout as a text line (the printer's own HRI
    font differs between models). ``{`` is the code-set escape in function B, so it is doubled.
    """
    if not 1 <= module <= 6:
        raise ValueError(f"barcode module width must be 1..6 dots, got {module}")
    if not 1 <= height <= 255:
        raise ValueError(f"barcode height must be 1..255 dots, got {height}")
    if not data or any(not 0x20 <= ord(ch) <= 0x7E for ch in data):
        raise ValueError(f"CODE128 set B takes printable ASCII, got {data!r}")
    payload = b"{B" + data.replace("{", "{{").encode("ascii")
    if len(payload) > 255:
        raise ValueError(f"barcode data too long: {len(data)} characters")
    return (
        GS + b"h" + bytes([height])
        + GS + b"w" + bytes([module])
        + GS + b"H" + bytes([_HRI_NONE])
        + GS + b"k" + bytes([_CODE128, len(payload)]) + payload
    )  # fmt: skip


def drawer_kick(pin: Literal[2, 5] = 2, on_ms: int = 100, off_ms: int = 100) -> bytes:
    """``ESC p m t1 t2``: pulse the drawer connector's ``pin`` (2 or 5) for ``on_ms``.

    Times are sent in 2 ms units (1..255, so 2..510 ms); most drawer solenoids want 50-200 ms.
    """
    if pin not in (2, 5):
        raise ValueError(f"drawer pin must be 2 or 5, got {pin}")
    units = []
    for what, ms in (("on_ms", on_ms), ("off_ms", off_ms)):
        if not 2 <= ms <= 510:
            raise ValueError(f"drawer {what} must be 2..510 ms, got {ms}")
        units.append(ms // 2)
    if units == [DLE[0], EOT[0]]:
        # Printers scan for DLE EOT anywhere in the stream: these times would be a status query.
        raise ValueError(f"drawer times {on_ms}/{off_ms} ms encode as DLE EOT; change one")
    return ESC + b"p" + bytes([0 if pin == 2 else 1, *units])


def status_query(n: int) -> bytes:
    """``DLE EOT n``: ask for status byte ``n`` (1 printer, 2 offline cause, 3 error, 4 paper)."""
    if n not in (1, 2, 3, 4):
        raise ValueError(f"DLE EOT takes n = 1..4, got {n}")
    return DLE + EOT + bytes([n])


def banner(text: str) -> bytes:
    """A centred bold line in ASCII (any code page prints it), e.g. ``*** COPY ***``."""
    line = encode(text, code_page("cp437"))
    return (
        initialise()
        + align(Align.CENTER)
        + bold(True)
        + line
        + LF
        + bold(False)
        + align(Align.LEFT)
    )


def encode_document(
    doc: Document, page: CodePage, *, feed_lines: int = 3, cut_kind: Cut = "partial"
) -> bytes:
    """The whole print job for ``doc``: initialise, select ``page``, lines, feed and cut."""
    out = bytearray(initialise() + select_code_page(page))
    where, emphasised, doubled = Align.LEFT, False, False
    for block in doc.blocks:
        target = block.align if isinstance(block, Text) else Align.CENTER
        if target is not where:
            out += align(target)
            where = target
        if isinstance(block, Barcode):
            out += barcode_code128(block.data, block.module, block.height)
            continue
        if block.bold != emphasised:
            out += bold(block.bold)
            emphasised = block.bold
        if block.double != doubled:
            out += size(block.double)
            doubled = block.double
        out += encode(block.text, page) + LF
    if emphasised:
        out += bold(False)
    if doubled:
        out += size(False)
    if where is not Align.LEFT:
        out += align(Align.LEFT)
    out += feed(feed_lines) + cut(cut_kind)
    return bytes(out)
