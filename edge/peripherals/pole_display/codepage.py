"""Unicode text to what a pole display can show: one byte per column from its code page.

A display has a single-byte character table (CP437 on most, CP858 — CP850 with the euro sign —
on European ones). Product names come from HQ in any script, so every character is mapped to
something the table has, and never to an exception: a name the display cannot show must not
stop a sale. The mapping, in order of preference:

1. the character itself, if the code page has it as a printable glyph (``é``, ``û``, ``€``
   on CP858);
2. a close typographic stand-in (``…`` → ``.``, ``–`` → ``-``, curly quotes → straight);
3. the character without its accents (``ř`` → ``r``, ``Ａ`` → ``A``), when that is one
   character the page has;
4. ``?`` — visible, so a customer sees something is missing rather than a silent gap.

Whitespace becomes a space; combining marks left over after NFC composition and zero-width
format characters are dropped (they occupy no column). Control characters, which the display
would execute as commands, are never passed through: they become ``?``. So the result has one
column per visible character and encodes to exactly as many bytes.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum

FALLBACK = "?"

_STAND_INS = {
    "\u2026": ".",  # … (one column: the display has no ellipsis)
    "\u2013": "-",  # –
    "\u2014": "-",  # —
    "\u2212": "-",  # minus sign
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": ",",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u00d7": "x",  # × where the page lacks it
    "\u2022": "*",  # •
}


class CodePage(StrEnum):
    """A display character table, named as Python's codec for it."""

    CP437 = "cp437"
    CP850 = "cp850"
    CP858 = "cp858"

    @property
    def codec(self) -> str:
        return self.value


def _printable_in(ch: str, page: CodePage) -> bool:
    try:
        data = ch.encode(page.codec)
    except UnicodeError:
        return False
    # One byte, and not a control code (0x00-0x1F, 0x7F): those are display commands.
    return len(data) == 1 and data[0] >= 0x20 and data[0] != 0x7F


def _fold_char(ch: str, page: CodePage) -> str:
    if ch.isspace():
        return " "
    category = unicodedata.category(ch)
    if category in ("Mn", "Me", "Cf"):
        return ""
    if category == "Cc":
        return FALLBACK
    if _printable_in(ch, page):
        return ch
    stand_in = _STAND_INS.get(ch)
    if stand_in is not None and _printable_in(stand_in, page):
        return stand_in
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if len(base) == 1 and _printable_in(base, page):
        return base
    return FALLBACK


def fold(text: str, page: CodePage) -> str:
    """``text`` with every character replaced by one the display shows (see the module doc).

    Never raises for any ``str``, including lone surrogates. ``encode(fold(t, p), p)`` always
    succeeds and has ``len(fold(t, p))`` bytes.
    """
    return "".join(_fold_char(ch, page) for ch in unicodedata.normalize("NFC", text))


def encode(text: str, page: CodePage) -> bytes:
    """The display bytes for ``text``: :func:`fold` then the code page, one byte per column."""
    return fold(text, page).encode(page.codec)
