"""The pole display emulator the HIL rig uses: does it show what a real display would?

Bytes are fed straight into the interpreter here (no cable), built with the driver's own
command encoders where the driver is the sender, and by hand where the manual is the source.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.peripherals.pole_display import Cd5220Commands, CodePage, EpsonCommands, encode
from hil.devices.pole_display_emulator import DisplayInterpreter

EPSON = EpsonCommands()
CD5220 = Cd5220Commands()
BLANK = " " * 20


def _row(text: str, page: CodePage = CodePage.CP437) -> bytes:
    return encode(text.ljust(20), page)


def _shown(display: DisplayInterpreter) -> tuple[str, str]:
    return display.lines[0].rstrip(), display.lines[1].rstrip()


# -- Epson --------------------------------------------------------------------------------------


def test_epson_driver_sequence_shows_both_lines() -> None:
    d = DisplayInterpreter("epson")
    d.feed(
        EPSON.init(CodePage.CP437)
        + EPSON.line(0, _row("Milk 1L"))
        + EPSON.line(1, _row("Total 1.29"))
    )
    assert d.lines == ("Milk 1L".ljust(20), "Total 1.29".ljust(20))
    assert not d.cursor_visible
    assert d.mode == "overwrite"
    assert d.unknown == 0


def test_epson_code_table_decides_what_a_byte_looks_like() -> None:
    d = DisplayInterpreter("epson")
    d.feed(b"\xd5")  # power-on page 0 = PC437: a box-drawing character
    d.feed(b"\x1bt\x13\xd5")  # ESC t 19 = PC858: the euro sign
    d.feed(b"\x1bt\x63\xd5")  # page 99 does not exist: ignored, still PC858
    assert d.lines[0][:3] == "╒€€"
    d.feed(EPSON.init(CodePage.CP858) + EPSON.line(0, _row("Crème brûlée 4.50€", CodePage.CP858)))
    assert _shown(d) == ("Crème brûlée 4.50€", "")


def test_epson_cursor_moves_and_clears() -> None:
    d = DisplayInterpreter("epson")
    d.feed(b"\x1f\x24\x05\x02AB")  # US $ 5 2
    assert d.lines[1] == "    AB".ljust(20)
    d.feed(b"\x1f\x24\x00\x09X")  # out of range: ignored, X goes at the cursor
    assert d.lines[1] == "    ABX".ljust(20)
    d.feed(b"\x08\x08Y\x0bZ")  # BS BS Y, HOM Z
    assert _shown(d) == ("Z", "    AYX")
    d.feed(b"\x0a\x18")  # LF to the lower line, CAN clears it
    assert _shown(d) == ("Z", "")
    d.feed(b"\x0c")
    assert d.lines == (BLANK, BLANK)
    assert (d.x, d.y) == (0, 0)


def test_epson_overwrite_mode_wraps_to_home() -> None:
    d = DisplayInterpreter("epson")
    d.feed(b"\x1f\x01" + b"a" * 20 + b"b" * 20 + b"C")
    assert d.lines == ("C" + "a" * 19, "b" * 20)


def test_epson_vertical_scroll_mode_moves_the_lower_line_up() -> None:
    d = DisplayInterpreter("epson")
    d.feed(b"\x1f\x02" + b"a" * 20 + b"b" * 20 + b"c")
    assert d.lines == ("b" * 20, "c".ljust(20))


def test_epson_horizontal_scroll_mode_shifts_the_line_left() -> None:
    d = DisplayInterpreter("epson")
    d.feed(b"\x1f\x03" + bytes(range(0x41, 0x41 + 22)))  # A..V on one line
    assert d.lines[0] == "CDEFGHIJKLMNOPQRSTUV"
    assert d.lines[1] == BLANK


def test_epson_deselected_display_ignores_data_meant_for_the_printer() -> None:
    d = DisplayInterpreter("epson")
    d.feed(b"\x1b=\x01receipt text\x1b=\x02shown")
    assert _shown(d) == ("shown", "")


def test_epson_user_defined_characters_are_consumed_whole() -> None:
    d = DisplayInterpreter("epson")
    # ESC & 1 0x41 0x42, then char A: 5 columns, char B: 2 columns; then ordinary text.
    d.feed(b"\x1b&\x01\x41\x42" + b"\x05" + b"\x7e" * 5 + b"\x02" + b"\x41\x42" + b"ok")
    assert _shown(d) == ("ok", "")
    assert d.unknown == 0


def test_epson_unknown_commands_are_counted_and_skipped() -> None:
    d = DisplayInterpreter("epson")
    d.feed(b"\x1bZ\x1f\x7f\x01\x02hi")
    assert _shown(d) == ("hi", "")
    assert d.unknown == 4  # ESC Z, US DEL, SOH, STX


# -- CD5220 ----------------------------------------------------------------------------------


def test_cd5220_driver_sequence_shows_both_lines() -> None:
    d = DisplayInterpreter("cd5220", code_page="cp858")
    d.feed(CD5220.init(CodePage.CP858) + CD5220.line(0, _row("Bread", CodePage.CP858)))
    d.feed(CD5220.line(1, _row("Total €2.10", CodePage.CP858)))
    assert _shown(d) == ("Bread", "Total €2.10")
    assert d.string_mode


def test_cd5220_string_mode_ignores_everything_but_strings_clr_and_can() -> None:
    d = DisplayInterpreter("cd5220")
    d.feed(b"\x1bQAupper\r")
    d.feed(b"\x1b@stray text\x1bl\x01\x02")  # ignored in string mode, as the manual says
    assert _shown(d) == ("upper", "")
    d.feed(b"\x0c")  # CLR leaves string mode and clears
    assert not d.string_mode
    d.feed(b"\x1bl\x03\x02typed")  # ESC l 3 2 works again
    assert _shown(d) == ("", "  typed")


def test_cd5220_cursor_commands() -> None:
    d = DisplayInterpreter("cd5220")
    d.feed(b"abc\x1b[DX\x1b[BY\x1b[HZ\x1b[KW\x1b[RV")
    assert d.lines == ("ZbX" + " " * 17, "W  Y" + " " * 15 + "V")


def test_cd5220_esc_q_d_scrolls_until_the_next_command() -> None:
    d = DisplayInterpreter("cd5220")
    d.feed(b"\x1bQBlower\r\x0c\x1bQBlower\r")
    d.feed(CD5220.scroll_upper(b"Welcome"))
    assert d.lines[0] == " " * 19 + "W"
    for _ in range(7):
        d.tick()
    assert d.lines[0] == " " * 12 + "Welcome" + " "
    assert _shown(d)[1] == "lower"
    d.feed(b"\x0c")  # any new command ends the scroll and clears the upper line
    assert d.scroll_text is None
    assert d.lines == (BLANK, BLANK)


def test_cd5220_mode_commands_and_brightness() -> None:
    d = DisplayInterpreter("cd5220")
    d.feed(b"\x1b\x12\x1b*\x02")
    assert (d.mode, d.brightness) == ("vertical", 2)
    d.feed(b"\x1b\x13")
    assert (d.mode, d.brightness) == ("horizontal", 2)


# -- robustness and recovery -------------------------------------------------------------------


@pytest.mark.parametrize("command_set", ["epson", "cd5220"])
@given(data=st.binary(max_size=400))
def test_any_bytes_leave_two_lines_of_twenty(command_set: str, data: bytes) -> None:
    d = DisplayInterpreter("epson" if command_set == "epson" else "cd5220")
    d.feed(data)
    assert [len(line) for line in d.lines] == [20, 20]
    assert 0 <= d.x < 20
    assert d.y in (0, 1)


TEXT = st.text(
    alphabet=st.characters(codec="latin-1", min_codepoint=0x20, exclude_categories=("Cc", "Cf")),
    max_size=20,
)


@st.composite
def driver_stream(draw: st.DrawFn, commands: EpsonCommands | Cd5220Commands) -> bytes:
    """What the driver may have been sending when the cable was pulled."""
    parts = [commands.init(CodePage.CP858)]
    for _ in range(draw(st.integers(0, 4))):
        row = draw(st.integers(0, 1))
        parts.append(commands.line(row, encode(draw(TEXT).ljust(20), CodePage.CP858)))
    return b"".join(parts)


@pytest.mark.parametrize("commands", [EPSON, CD5220], ids=["epson", "cd5220"])
@given(data=st.data())
def test_re_init_after_a_cut_at_any_byte_restores_the_display(
    commands: EpsonCommands | Cd5220Commands, data: st.DataObject
) -> None:
    stream = data.draw(driver_stream(commands))
    cut = data.draw(st.integers(0, len(stream)))
    line1, line2 = data.draw(TEXT), data.draw(TEXT)
    page = CodePage.CP858
    d = DisplayInterpreter(commands.name, code_page="cp858")  # type: ignore[arg-type]
    d.feed(stream[:cut])  # the rest was lost with the cable
    d.feed(
        commands.init(page)
        + commands.line(0, encode(line1.ljust(20), page))
        + commands.line(1, encode(line2.ljust(20), page))
    )
    assert d.lines == (
        encode(line1.ljust(20), page).decode("cp858"),
        encode(line2.ljust(20), page).decode("cp858"),
    )


def test_interpreter_refuses_unknown_configuration() -> None:
    with pytest.raises(ValueError, match="command_set"):
        DisplayInterpreter("escpos")  # type: ignore[arg-type]
    with pytest.raises(LookupError):
        DisplayInterpreter("epson", code_page="cp9999")
