"""The HD44780 driver: its 4-bit byte sequence, its init, its text buffer, its recovery."""

from __future__ import annotations

import errno
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hil.devices.hd44780 import Hd44780
from hil.devices.mpy_shims import firmware, machine

lcd_module = firmware("lcd")
ADDR = 0x27


def setup(now: int = 0) -> tuple[Any, machine.I2C, Hd44780]:
    i2c = machine.I2C(0)
    model = Hd44780()
    i2c.attach(ADDR, model.write)
    return lcd_module.Lcd(i2c, now, ADDR, 20, 2), i2c, model


def start(lcd: Any, since: int = 0) -> int:
    """Run the init state machine to the end; return the time it finished."""
    for t in range(since + 1, since + 1000):
        lcd.service(t)
        if lcd.ready:
            return t
    raise AssertionError("the display never became ready")


def test_a_character_goes_over_as_two_nibbles_each_latched_by_e() -> None:
    lcd, i2c, _ = setup()
    start(lcd)
    i2c.log.clear()
    lcd.write(0, b"A")
    lcd.service(2000)
    # DDRAM address 0x80 (RS=0), then 'A' = 0x41 (RS=1); backlight 0x08 on every byte.
    # Each nibble: D7..D4 in the high bits, written with E (0x04) high, then low.
    assert i2c.log == [(ADDR, bytes([0x8C, 0x88, 0x0C, 0x08, 0x4D, 0x49, 0x1D, 0x19]))]


def test_init_follows_the_datasheet_with_its_waits_and_never_blocks() -> None:
    lcd, i2c, model = setup(now=100)
    assert not lcd.service(149)  # 50 ms after power-up: not yet
    assert i2c.log == []
    finished = start(lcd, 149)
    first_nibbles = [data for _, data in i2c.log[:4]]
    assert first_nibbles == [b"\x3c\x38", b"\x3c\x38", b"\x3c\x38", b"\x2c\x28"]
    assert finished - 150 >= 5 + 1 + 1 + 2  # the waits after the nibbles and the clear
    assert model.instructions[:4] == [("cmd", 0x30)] * 3 + [("cmd", 0x20)]
    assert [v for _, v in model.instructions[4:]] == [0x28, 0x08, 0x01, 0x06, 0x0C]
    assert not model.eight_bit
    assert model.two_lines
    assert model.display_on
    assert model.backlight


def test_init_recovers_a_controller_left_in_4_bit_mode_or_mid_byte() -> None:
    lcd, _, model = setup()
    model.eight_bit = False
    model.write(bytes([0x3C, 0x38]))  # half a byte left over from before a reset
    start(lcd)
    lcd.write(1, b"ok")
    lcd.service(5000)
    assert model.stripped() == ("", "ok")


text = st.binary(max_size=24).map(lambda b: bytes(0x20 + (x % 0x5E) for x in b))


@given(st.lists(st.tuples(st.integers(0, 1), text), min_size=1, max_size=8))
def test_the_display_shows_the_buffer_whatever_the_sequence_of_writes(
    writes: list[tuple[int, bytes]],
) -> None:
    lcd, _, model = setup()
    t = start(lcd)
    expected = [" " * 20, " " * 20]
    for line, data in writes:
        lcd.write(line, data)
        expected[line] = data[:20].decode().ljust(20)
        t += 1
        assert lcd.service(t)
        assert model.text() == tuple(expected)


def test_only_changed_characters_are_sent() -> None:
    lcd, i2c, model = setup()
    start(lcd)
    lcd.write(0, b"Total      12.50")
    lcd.service(1000)
    i2c.log.clear()
    lcd.write(0, b"Total      13.50")
    lcd.service(1001)
    assert len(i2c.log) == 1
    assert len(i2c.log[0][1]) == 4 + 4  # one address command, one character
    assert model.stripped()[0] == "Total      13.50"


def test_an_unplugged_display_is_counted_and_reinitialised_when_back() -> None:
    lcd, i2c, model = setup()
    t = start(lcd)
    i2c.fail = OSError(errno.EIO, "NACK")
    lcd.write(0, b"while away")
    assert not lcd.service(t + 1)
    assert lcd.errors == 1
    assert not lcd.ready
    assert not lcd.service(t + 500)  # waits before retrying
    assert lcd.errors == 1
    i2c.fail = None
    model.ddram[:] = b"#" * len(model.ddram)  # a display that powered up with garbage
    model.display_on = False
    start(lcd, t + 1000)
    lcd.service(t + 2000)
    assert model.stripped() == ("while away", "")
