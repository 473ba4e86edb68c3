"""Unicode to the printer's code page: one byte per character, never a control byte, no error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.peripherals.printer.codepages import CODE_PAGES, code_page, encode, printable


@given(st.text(max_size=200), st.sampled_from(sorted(CODE_PAGES)))
def test_every_character_becomes_one_printable_byte(text: str, name: str) -> None:
    data = encode(text, code_page(name))
    assert len(data) == len(text)
    assert all(b >= 0x20 and b != 0x7F for b in data)


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=100))
def test_ascii_is_itself_on_every_page(text: str) -> None:
    for page in CODE_PAGES.values():
        assert encode(text, page) == text.encode("ascii")


@given(st.text(max_size=100), st.sampled_from(sorted(CODE_PAGES)))
def test_what_a_page_can_print_comes_back_when_decoded(text: str, name: str) -> None:
    page = code_page(name)
    printed = encode(text, page).decode(page.codec)
    for ch, back in zip(text, printed, strict=True):
        # The character itself, or the visible fallback, or a plain stand-in for it.
        assert back in (ch, "?") or (back.isascii() and not ch.isascii())


@pytest.mark.parametrize(
    ("text", "page", "expected"),
    [
        ("€", "cp858", b"\xd5"),
        ("€", "wpc1252", b"\x80"),
        ("€", "cp437", b"?"),
        ("é", "cp437", b"\x82"),
        ("é", "wpc1252", b"\xe9"),
        ("ő", "cp437", b"o"),  # no ő on PC437: its base letter
        ("ł", "cp437", b"?"),  # no decomposition: the fallback
        ("×", "cp437", b"x"),
        ("×", "cp858", b"\x9e"),
        ("–", "cp858", b"-"),
        ("\x1b@", "cp858", b"?@"),  # a command hidden in a name is printed harmlessly
        ("\n\t\x00", "cp437", b"???"),
        ("漢", "wpc1252", b"?"),
        ("Д", "cp866", b"\x84"),
    ],
)
def test_known_characters(text: str, page: str, expected: bytes) -> None:
    assert encode(text, code_page(page)) == expected


def test_page_names_and_tables() -> None:
    assert code_page("CP1252") is code_page("wpc1252")
    assert (code_page("cp437").table, code_page("wpc1252").table, code_page("cp858").table) == (
        0,
        16,
        19,
    )
    with pytest.raises(ValueError, match="unknown code page 'utf8'"):
        code_page("utf8")


def test_printable_replaces_controls_and_composes() -> None:
    assert printable("e\u0301\x1bX\u200b") == "é?X?"
