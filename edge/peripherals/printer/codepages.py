"""Unicode text to the single-byte code page a receipt printer has selected.

A receipt printer has no Unicode: it prints bytes through a code page chosen with ``ESC t n``,
and the table number ``n`` for a page differs from the page's name (WPC1252 is 16, PC858 is
19 on Epson-compatible printers). Product names arrive from HQ in any script, so encoding must
never fail: a character the page lacks becomes its unaccented base letter when the page has that
(``ő`` → ``o``), a plain ASCII stand-in for common typography (``–`` → ``-``), and otherwise a
visible ``?``. Every character becomes exactly one byte, which is what lets the layout count
columns in characters. Control characters never reach the printer as themselves: a name that
contained ``ESC`` would otherwise be a command.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

FALLBACK = b"?"

_STAND_INS: dict[str, str] = {
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u2018": "'", "\u2019": "'", "\u201a": ",", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2026": ".", "\u00d7": "x", "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u00b7": ".",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CodePage:
    """A printer code page: our name for it, its ``ESC t`` table number, Python's codec."""

    name: str
    table: int
    codec: str


CODE_PAGES: dict[str, CodePage] = {
    page.name: page
    for page in (
        CodePage("cp437", 0, "cp437"),
        CodePage("cp850", 2, "cp850"),
        CodePage("wpc1252", 16, "cp1252"),
        CodePage("cp866", 17, "cp866"),
        CodePage("cp852", 18, "cp852"),
        CodePage("cp858", 19, "cp858"),
    )
}
"""Pages we can select, by name; table numbers are the Epson ESC/POS ones."""

_ALIASES = {"cp1252": "wpc1252", "windows-1252": "wpc1252", "pc437": "cp437", "pc858": "cp858"}


def code_page(name: str) -> CodePage:
    """The page called ``name`` (case-insensitive; ``cp1252`` means WPC1252)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return CODE_PAGES[key]
    except KeyError:
        known = ", ".join(sorted(CODE_PAGES))
        raise ValueError(f"unknown code page {name!r}; known: {known}") from None


def encode(text: str, page: CodePage) -> bytes:
    """``text`` as the bytes ``page`` prints, one byte per character, never raising."""
    return b"".join(_char(ch, page.codec) for ch in text)


def printable(text: str) -> str:
    """``text`` with control and format characters replaced by ``?``, other text unchanged.

    The layout calls this on every string from a record so that what it measures is what is
    printed; it also folds combining sequences into single characters (NFC) where Unicode can.
    """
    text = unicodedata.normalize("NFC", text)
    return "".join("?" if unicodedata.category(ch)[0] == "C" else ch for ch in text)


@functools.lru_cache(maxsize=4096)
def _char(ch: str, codec: str) -> bytes:
    if unicodedata.category(ch)[0] == "C" and ch not in _STAND_INS:
        return FALLBACK
    for candidate in (ch, _STAND_INS.get(ch, ""), _base_letter(ch)):
        if not candidate:
            continue
        try:
            data = candidate.encode(codec)
        except UnicodeEncodeError:
            continue
        if len(data) == 1 and data[0] >= 0x20 and data[0] != 0x7F:
            return data
    return FALLBACK


def _base_letter(ch: str) -> str:
    """The one base character of ``ch`` without its accents, or ``""`` if there is none."""
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return base if len(base) == 1 and base != ch else ""
