"""A test-only ESC/POS decoder: printed bytes back into lines of text and recognised commands.

Written from Epson's ESC/POS command reference, independently of the encoder under test (and
of python-escpos), so a test compares what a printer would put on paper with what a person
expects, not our encoder's output with itself. It is strict: an unknown command, a stray
control byte, a style change in the middle of a line, or a line wider than the paper is an error
rather than something quietly skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ESC t n -> Python codec, from the Epson code page table.
CODE_PAGE_TABLES = {0: "cp437", 2: "cp850", 16: "cp1252", 17: "cp866", 18: "cp852", 19: "cp858"}


class DecodeError(Exception):
    pass


@dataclass(frozen=True)
class Line:
    text: str
    align: str  # "left" | "center" | "right"
    bold: bool
    width: int  # character width multiple (1 or 2)
    height: int


@dataclass(frozen=True)
class Barcode:
    symbology: str
    data: str
    module: int
    height: int
    hri: int


@dataclass(frozen=True)
class Feed:
    lines: int


@dataclass(frozen=True)
class Cut:
    partial: bool


@dataclass(frozen=True)
class Kick:
    pin: int
    on_ms: int
    off_ms: int


@dataclass(frozen=True)
class StatusQuery:
    n: int


@dataclass(frozen=True)
class Init:
    pass


@dataclass(frozen=True)
class CodePage:
    table: int


Item = Line | Barcode | Feed | Cut | Kick | StatusQuery | Init | CodePage


@dataclass
class Decoded:
    items: list[Item] = field(default_factory=list)

    @property
    def lines(self) -> list[Line]:
        return [i for i in self.items if isinstance(i, Line)]

    @property
    def barcodes(self) -> list[Barcode]:
        return [i for i in self.items if isinstance(i, Barcode)]

    def of(self, kind: type) -> list[Item]:
        return [i for i in self.items if isinstance(i, kind)]

    def paper(self, width: int) -> list[str]:
        """Text lines as placed on paper ``width`` columns wide (a double-width character is
        shown once but takes two columns, so its line's padding counts it twice); a barcode is
        shown as ``[CODE128 data]``; trailing spaces are dropped."""
        out: list[str] = []
        for item in self.items:
            if isinstance(item, Barcode):
                out.append(f"[{item.symbology} {item.data}]")
            elif isinstance(item, Line):
                columns = len(item.text) * item.width
                if columns > width:
                    raise DecodeError(f"line of {columns} columns on {width}: {item.text!r}")
                pad = {"left": 0, "center": (width - columns) // 2, "right": width - columns}
                out.append((" " * pad[item.align] + item.text).rstrip())
        return out


@dataclass
class _Style:
    align: str = "left"
    bold: bool = False
    width: int = 1
    height: int = 1
    codec: str = "cp437"
    barcode_height: int = 162
    barcode_module: int = 3
    hri: int = 0


def decode(data: bytes) -> Decoded:
    out = Decoded()
    style = _Style()
    text = bytearray()
    i = 0

    def arg(k: int) -> int:
        if i + k >= len(data):
            raise DecodeError(f"command at {i} is cut short")
        return data[i + k]

    def restyle() -> None:
        if text:
            raise DecodeError(f"style changed in the middle of a line at offset {i}")

    while i < len(data):
        b = data[i]
        if b == 0x0A:  # LF
            out.items.append(
                Line(text.decode(style.codec), style.align, style.bold, style.width, style.height)
            )
            text.clear()
            i += 1
        elif b == 0x1B:  # ESC
            cmd = arg(1)
            if cmd == 0x40:  # ESC @
                restyle()
                codec = "cp437"
                style = _Style(codec=codec)
                out.items.append(Init())
                i += 2
            elif cmd == 0x74:  # ESC t n
                restyle()
                table = arg(2)
                if table not in CODE_PAGE_TABLES:
                    raise DecodeError(f"unknown code page table {table}")
                style.codec = CODE_PAGE_TABLES[table]
                out.items.append(CodePage(table))
                i += 3
            elif cmd == 0x61:  # ESC a n
                restyle()
                style.align = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center"}.get(
                    arg(2), "right"
                )
                i += 3
            elif cmd == 0x45:  # ESC E n
                restyle()
                style.bold = bool(arg(2) & 1)
                i += 3
            elif cmd == 0x21:  # ESC ! n
                restyle()
                n = arg(2)
                style.bold = bool(n & 0x08)
                style.height = 2 if n & 0x10 else 1
                style.width = 2 if n & 0x20 else 1
                i += 3
            elif cmd == 0x64:  # ESC d n
                if text:
                    raise DecodeError("ESC d with text pending")
                out.items.append(Feed(arg(2)))
                i += 3
            elif cmd == 0x70:  # ESC p m t1 t2
                out.items.append(Kick({0: 2, 48: 2, 1: 5, 49: 5}[arg(2)], arg(3) * 2, arg(4) * 2))
                i += 5
            else:
                raise DecodeError(f"unknown command ESC {cmd:#04x} at offset {i}")
        elif b == 0x1D:  # GS
            cmd = arg(1)
            if cmd == 0x21:  # GS ! n
                restyle()
                n = arg(2)
                style.width, style.height = (n >> 4) + 1, (n & 0x0F) + 1
                i += 3
            elif cmd == 0x56:  # GS V m [n]
                m = arg(2)
                if m in (0, 48, 1, 49):
                    out.items.append(Cut(partial=m in (1, 49)))
                    i += 3
                elif m in (65, 66):
                    out.items.append(Feed(arg(3)))
                    out.items.append(Cut(partial=m == 66))
                    i += 4
                else:
                    raise DecodeError(f"bad cut mode {m}")
            elif cmd == 0x68:  # GS h n
                style.barcode_height = arg(2)
                i += 3
            elif cmd == 0x77:  # GS w n
                style.barcode_module = arg(2)
                i += 3
            elif cmd == 0x48:  # GS H n
                style.hri = arg(2)
                i += 3
            elif cmd == 0x6B:  # GS k m ...
                if text:
                    raise DecodeError("barcode with text pending")
                m = arg(2)
                if m != 73:
                    raise DecodeError(f"only CODE128 (73) expected, got {m}")
                n = arg(3)
                payload = data[i + 4 : i + 4 + n]
                if len(payload) != n or payload[:1] != b"{" or payload[1:2] not in b"ABC":
                    raise DecodeError(f"bad CODE128 payload {payload!r}")
                body = payload[2:].decode("ascii").replace("{{", "{")
                out.items.append(
                    Barcode("CODE128", body, style.barcode_module, style.barcode_height, style.hri)
                )
                i += 4 + n
            else:
                raise DecodeError(f"unknown command GS {cmd:#04x} at offset {i}")
        elif b == 0x10:  # DLE
            if arg(1) != 0x04:
                raise DecodeError(f"unknown DLE command at offset {i}")
            out.items.append(StatusQuery(arg(2)))
            i += 3
        elif b < 0x20 or b == 0x7F:
            raise DecodeError(f"stray control byte {b:#04x} at offset {i}")
        else:
            text.append(b)
            i += 1
    if text:
        raise DecodeError(f"text never printed (no LF): {bytes(text)!r}")
    return out


def receipts(data: bytes) -> list[Decoded]:
    """Split a byte stream into jobs at each cut and decode each (status queries included)."""
    decoded = decode(data)
    jobs: list[Decoded] = [Decoded()]
    for item in decoded.items:
        jobs[-1].items.append(item)
        if isinstance(item, Cut):
            jobs.append(Decoded())
    return [j for j in jobs if j.lines]
