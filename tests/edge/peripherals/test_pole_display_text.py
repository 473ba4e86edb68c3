"""The pure parts of the pole display: code-page folding, marquee frames, command bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.peripherals.pole_display import (
    Cd5220Commands,
    CodePage,
    EpsonCommands,
    cycle_length,
    encode,
    fold,
    frame,
)

PAGES = st.sampled_from(list(CodePage))
ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60)


# -- code pages -------------------------------------------------------------------------------


@pytest.mark.parametrize("page", [CodePage.CP437, CodePage.CP858])
def test_french_dessert_shows_as_written(page: CodePage) -> None:
    assert fold("Crème brûlée", page) == "Crème brûlée"
    assert encode("Crème brûlée", page) == b"Cr\x8ame br\x96l\x82e"


def test_characters_the_page_lacks_become_visible_question_marks() -> None:
    assert fold("寿司", CodePage.CP858) == "??"
    assert fold("€1", CodePage.CP437) == "?1"
    assert fold("€1", CodePage.CP858) == "€1"
    assert encode("€", CodePage.CP858) == b"\xd5"


def test_close_stand_ins_before_giving_up() -> None:
    page = CodePage.CP437
    assert fold("Grüße…", page) == "Grüße."
    assert fold("“Bio” – Äpfel", page) == '"Bio" - Äpfel'
    assert fold("Dvořák", page) == "Dvorák"  # á exists in CP437; ř loses its caron
    assert fold("ＡＢＣ", page) == "ABC"  # fullwidth forms
    assert fold("e\u0301", page) == "é"  # combining accent composed first


def test_controls_never_reach_the_display_as_commands() -> None:
    page = CodePage.CP437
    assert fold("A\x1b@B\x0cC\x7f", page) == "A?@B C?"  # \x0c is whitespace: a space
    assert fold("tab\there\nnew", page) == "tab here new"
    assert fold("zero\u200bwidth", page) == "zerowidth"


@given(ANY_TEXT, PAGES)
def test_fold_never_raises_and_every_column_is_one_printable_byte(
    text: str, page: CodePage
) -> None:
    shown = fold(text, page)
    data = encode(text, page)
    assert len(data) == len(shown)
    assert all(b >= 0x20 and b != 0x7F for b in data)
    assert data.decode(page.codec) == shown
    assert fold(shown, page) == shown  # folding what the display shows changes nothing


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40), PAGES)
def test_printable_ascii_is_unchanged(text: str, page: CodePage) -> None:
    assert fold(text, page) == text


# -- marquee --------------------------------------------------------------------------------


def test_short_text_is_padded_and_never_moves() -> None:
    assert cycle_length("Total 12.50") == 1
    assert {frame("Total 12.50", t) for t in range(50)} == {"Total 12.50         "}


def test_long_text_holds_then_scrolls_one_column_per_tick() -> None:
    text = "Organic Wildflower Honey 500g"  # 29 columns
    assert cycle_length(text, gap=3, hold=2) == 29 + 3 + 2
    frames = [frame(text, t, gap=3, hold=2) for t in range(cycle_length(text, gap=3, hold=2))]
    assert frames[0] == frames[1] == frames[2] == "Organic Wildflower H"
    assert frames[3] == "rganic Wildflower Ho"
    assert frames[-2] == "  Organic Wildflower"  # the gap, then the start comes round
    assert frames[-1] == " Organic Wildflower "
    assert frame(text, len(frames), gap=3, hold=2) == frames[0]  # the cycle repeats


@given(
    st.text(max_size=80),
    st.integers(0, 10_000),
    st.integers(1, 40),
    st.integers(1, 5),
    st.integers(0, 4),
)
def test_every_frame_is_exactly_the_width(
    text: str, tick: int, width: int, gap: int, hold: int
) -> None:
    assert len(frame(text, tick, width=width, gap=gap, hold=hold)) == width


@given(st.text(min_size=21, max_size=80), st.integers(1, 5), st.integers(0, 4))
def test_over_one_cycle_the_whole_text_passes_the_left_edge(text: str, gap: int, hold: int) -> None:
    n = cycle_length(text, gap=gap, hold=hold)
    frames = [frame(text, t, gap=gap, hold=hold) for t in range(n)]
    # After the hold, the left column reads the text and then the gap, one character per tick.
    assert "".join(f[0] for f in frames[hold:]) == text + " " * gap
    # Every character of the text is on the glass in some frame, at every offset it passes.
    assert all(text[i] == frames[hold + i][0] for i in range(len(text)))
    assert frame(text, n, gap=gap, hold=hold) == frames[0]


def test_marquee_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="tick"):
        frame("x" * 30, -1)
    with pytest.raises(ValueError, match="width"):
        frame("x", 0, width=0)


# -- command bytes ---------------------------------------------------------------------------


def test_epson_bytes() -> None:
    epson = EpsonCommands()
    assert epson.init(CodePage.CP437) == bytes.fromhex("0c0c 1b40 1b7400 1f01 1f4300")
    assert epson.init(CodePage.CP858) == bytes.fromhex("0c0c 1b40 1b7413 1f01 1f4300")
    assert epson.line(0, b"A" * 20) == bytes.fromhex("1f24 0101") + b"A" * 20
    assert epson.line(1, b"B" * 20) == bytes.fromhex("1f24 0102") + b"B" * 20
    assert epson.clear() == b"\x0c"


def test_cd5220_bytes() -> None:
    cd = Cd5220Commands()
    assert cd.init(CodePage.CP437) == bytes.fromhex("0d0d0c 1b40 1b11 1b5f00")
    assert cd.line(0, b"A" * 20) == b"\x1bQA" + b"A" * 20 + b"\r"
    assert cd.line(1, b"B" * 20) == b"\x1bQB" + b"B" * 20 + b"\r"
    assert cd.scroll_upper(b"Welcome") == b"\x1bQDWelcome\r"
    assert cd.clear() == b"\x0c"


@pytest.mark.parametrize("commands", [EpsonCommands(), Cd5220Commands()])
def test_line_refuses_wrong_length_control_bytes_and_rows(
    commands: EpsonCommands | Cd5220Commands,
) -> None:
    with pytest.raises(ValueError, match="exactly 20"):
        commands.line(0, b"short")
    with pytest.raises(ValueError, match="printable"):
        commands.line(0, b"\r" + b"A" * 19)
    with pytest.raises(ValueError, match="row"):
        commands.line(2, b"A" * 20)


def test_scroll_upper_refuses_what_the_display_cannot_take() -> None:
    with pytest.raises(ValueError, match=r"1\.\.39"):
        Cd5220Commands.scroll_upper(b"x" * 40)
    with pytest.raises(ValueError, match=r"1\.\.39"):
        Cd5220Commands.scroll_upper(b"")
