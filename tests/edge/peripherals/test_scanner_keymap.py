"""Keyboard-wedge scanners: key events back to text, for the US and German layouts.

/dev/uinput does not exist on the machines these tests run on (checked: no /dev/uinput, no
/dev/input), so no real input device can be made; the translator is fed real
``evdev.InputEvent`` objects, as ``InputDevice.read()`` yields them, with the key-position
names taken from ``evdev.ecodes`` and this file's own table of what each layout types.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from evdev import InputEvent, ecodes
from hypothesis import given
from hypothesis import strategies as st

from edge.peripherals.scanner import keymap
from edge.peripherals.scanner.framing import Code, Dropped, DropReason
from edge.peripherals.scanner.hid import feed_events
from edge.peripherals.scanner.keymap import DE, US, KeyTranslator, Layout, translate

# What each layout types, written from the keyboard's point of view: (key names, plain, shift).
_US_ROWS = [
    ("GRAVE 1 2 3 4 5 6 7 8 9 0 MINUS EQUAL", "`1234567890-=", "~!@#$%^&*()_+"),
    ("Q W E R T Y U I O P LEFTBRACE RIGHTBRACE BACKSLASH", "qwertyuiop[]\\", "QWERTYUIOP{}|"),
    ("A S D F G H J K L SEMICOLON APOSTROPHE", "asdfghjkl;'", 'ASDFGHJKL:"'),
    ("Z X C V B N M COMMA DOT SLASH", "zxcvbnm,./", "ZXCVBNM<>?"),
    ("SPACE", " ", " "),
]
_DE_ROWS = [
    ("1 2 3 4 5 6 7 8 9 0", "1234567890", '!"\x00$%&/()='),  # Shift+3 is §
    ("MINUS RIGHTBRACE BACKSLASH", "\x00+#", "?*'"),
    ("Q W E R T Y U I O P", "qwertzuiop", "QWERTZUIOP"),
    ("A S D F G H J K L", "asdfghjkl", "ASDFGHJKL"),
    ("Z X C V B N M COMMA DOT SLASH 102ND", "yxcvbnm,.-<", "YXCVBNM;:_>"),
    ("SPACE", " ", " "),
]
_DE_ALTGR = {"@": "Q", "{": "7", "[": "8", "]": "9", "}": "0", "\\": "MINUS", "~": "RIGHTBRACE",
             "|": "102ND"}  # fmt: skip
_DE_DEAD = {"^": "GRAVE", "`": "EQUAL"}  # typed as dead key + space; ` needs Shift


def _table(rows: list[tuple[str, str, str]]) -> dict[str, tuple[int, bool]]:
    table: dict[str, tuple[int, bool]] = {}
    for names, plain, shifted in rows:
        codes = [getattr(ecodes, f"KEY_{n}") for n in names.split()]
        for code, p, s in zip(codes, plain, shifted, strict=True):
            if p != "\x00":
                table.setdefault(p, (code, False))
            if s != "\x00":
                table.setdefault(s, (code, True))
    return table


US_KEYS = _table(_US_ROWS)
DE_KEYS = _table(_DE_ROWS)


def _tap(code: int, *mods: int) -> Iterator[tuple[int, int]]:
    for m in mods:
        yield (m, 1)
    yield (code, 1)
    yield (code, 0)
    for m in reversed(mods):
        yield (m, 0)


def type_us(text: str) -> list[tuple[int, int]]:
    events: list[tuple[int, int]] = []
    for ch in text:
        if ch == "\x1d":
            events += _tap(ecodes.KEY_RIGHTBRACE, ecodes.KEY_LEFTCTRL)
            continue
        code, shift = US_KEYS[ch]
        events += _tap(code, *([ecodes.KEY_LEFTSHIFT] if shift else []))
    return [*events, *_tap(ecodes.KEY_ENTER)]


def type_de(text: str) -> list[tuple[int, int]]:
    events: list[tuple[int, int]] = []
    for ch in text:
        if ch in _DE_ALTGR:
            events += _tap(getattr(ecodes, f"KEY_{_DE_ALTGR[ch]}"), ecodes.KEY_RIGHTALT)
        elif ch in _DE_DEAD:
            mods = [ecodes.KEY_RIGHTSHIFT] if ch == "`" else []
            events += _tap(getattr(ecodes, f"KEY_{_DE_DEAD[ch]}"), *mods)
            events += _tap(ecodes.KEY_SPACE)
        else:
            code, shift = DE_KEYS[ch]
            events += _tap(code, *([ecodes.KEY_RIGHTSHIFT] if shift else []))
    return [*events, *_tap(ecodes.KEY_KPENTER)]


def _as_input_events(pairs: list[tuple[int, int]]) -> list[InputEvent]:
    """What a real keyboard device reports: MSC_SCAN, the key, SYN_REPORT, for every key."""
    out: list[InputEvent] = []
    for i, (code, value) in enumerate(pairs):
        sec, usec = divmod(i * 1000, 1_000_000)
        out.append(InputEvent(sec, usec, ecodes.EV_MSC, ecodes.MSC_SCAN, 0x70000 + code))
        out.append(InputEvent(sec, usec, ecodes.EV_KEY, code, value))
        out.append(InputEvent(sec, usec, ecodes.EV_SYN, ecodes.SYN_REPORT, 0))
    return out


US_TEXT = st.text(st.sampled_from([*sorted(US_KEYS), "\x1d"]), min_size=1, max_size=60)
DE_TEXT = st.text(
    st.sampled_from(sorted(set(DE_KEYS) | set(_DE_ALTGR) | set(_DE_DEAD))), min_size=1, max_size=60
)


def test_keycodes_are_the_linux_ones() -> None:
    assert keymap.KEY_ENTER == ecodes.KEY_ENTER
    assert keymap.KEY_KPENTER == ecodes.KEY_KPENTER
    assert keymap.KEY_102ND == ecodes.KEY_102ND
    assert keymap.KEY_RIGHTALT == ecodes.KEY_RIGHTALT
    assert keymap.KEY_CAPSLOCK == ecodes.KEY_CAPSLOCK
    assert keymap.KEY_KPDOT == ecodes.KEY_KPDOT
    assert [keymap.KEY_Q_TO_P[0], keymap.KEY_Q_TO_P[-1]] == [ecodes.KEY_Q, ecodes.KEY_P]
    assert [keymap.KEY_Z_TO_M[0], keymap.KEY_Z_TO_M[-1]] == [ecodes.KEY_Z, ecodes.KEY_M]
    names = {"*": "KPASTERISK", "/": "KPSLASH", "-": "KPMINUS", "+": "KPPLUS"}
    for code, char in keymap.KEYPAD.items():
        assert code == getattr(ecodes, f"KEY_{names.get(char, 'KP' + char)}")


@given(codes=st.lists(US_TEXT, min_size=1, max_size=4))
def test_us_layout_round_trip(codes: list[str]) -> None:
    events = [e for code in codes for e in type_us(code)]
    assert translate(events, US) == [Code(c) for c in codes]


@given(codes=st.lists(DE_TEXT, min_size=1, max_size=4))
def test_de_layout_round_trip(codes: list[str]) -> None:
    events = [e for code in codes for e in type_de(code)]
    assert translate(events, DE) == [Code(c) for c in codes]


@given(
    events=st.lists(
        st.tuples(st.integers(min_value=0, max_value=255), st.integers(min_value=-1, max_value=3)),
        max_size=300,
    ),
    layout=st.sampled_from([US, DE]),
    max_length=st.integers(min_value=1, max_value=128),
)
def test_any_key_sequence_is_survived_and_yields_only_valid_codes(
    events: list[tuple[int, int]], layout: Layout, max_length: int
) -> None:
    for outcome in translate(events, layout, max_length=max_length):
        if isinstance(outcome, Code):
            assert 1 <= len(outcome.text) <= max_length
            assert all(0x20 <= ord(c) <= 0x7E or c == "\x1d" for c in outcome.text)


def test_real_input_events_with_scan_and_sync_reports() -> None:
    translator = KeyTranslator(US, aim=True)
    events = _as_input_events(type_us("]E04006381333931") + type_us("]C1\x1d0104012345678901"))
    assert feed_events(translator, events) == [
        Code("4006381333931", "]E0"),
        Code("\x1d0104012345678901", "]C1"),
    ]


def test_the_same_keys_type_different_text_per_layout() -> None:
    events = [*_tap(ecodes.KEY_Y), *_tap(ecodes.KEY_Z), *_tap(ecodes.KEY_ENTER)]
    assert translate(events, US) == [Code("yz")]
    assert translate(events, DE) == [Code("zy")]


def test_caps_lock_inverts_letters_only() -> None:
    events = [*_tap(ecodes.KEY_CAPSLOCK), *_tap(ecodes.KEY_A), *_tap(ecodes.KEY_1)]
    events += [*_tap(ecodes.KEY_B, ecodes.KEY_LEFTSHIFT), *_tap(ecodes.KEY_ENTER)]
    assert translate(events, US) == [Code("A1b")]


def test_keypad_digits_and_the_german_keypad_comma() -> None:
    events = [*_tap(ecodes.KEY_KP1), *_tap(ecodes.KEY_KPDOT), *_tap(ecodes.KEY_KP5)]
    events += _tap(ecodes.KEY_KPENTER)
    assert translate(events, US) == [Code("1.5")]
    assert translate(events, DE) == [Code("1,5")]


@pytest.mark.parametrize(
    ("layout", "events"),
    [
        (DE, [*_tap(ecodes.KEY_MINUS)]),  # ß
        (DE, [*_tap(ecodes.KEY_4, ecodes.KEY_RIGHTALT)]),  # AltGr+4 types nothing
        (DE, [*_tap(ecodes.KEY_E, ecodes.KEY_RIGHTALT)]),  # €
        (DE, [*_tap(ecodes.KEY_GRAVE), *_tap(ecodes.KEY_A)]),  # ^a would compose â
        (DE, [*_tap(ecodes.KEY_GRAVE)]),  # a dead key left pending at Enter
        (US, [*_tap(ecodes.KEY_F1)]),
        (US, [*_tap(ecodes.KEY_A, ecodes.KEY_LEFTALT)]),
        (US, [*_tap(ecodes.KEY_A, ecodes.KEY_LEFTCTRL)]),
    ],
)
def test_what_the_layout_cannot_type_drops_the_code(
    layout: Layout, events: list[tuple[int, int]]
) -> None:
    events = [*_tap(ecodes.KEY_1), *events, *_tap(ecodes.KEY_2), *_tap(ecodes.KEY_ENTER)]
    out = translate(events, layout)
    assert len(out) == 1
    assert isinstance(out[0], Dropped)
    assert out[0].reason in (DropReason.UNMAPPED_KEY, DropReason.NON_ASCII)
    # and the next code is read normally
    assert translate([*events, *_tap(ecodes.KEY_3), *_tap(ecodes.KEY_ENTER)], layout)[1:] == [
        Code("3")
    ]


def test_autorepeat_is_ignored_and_an_empty_enter_is_counted() -> None:
    events = [(ecodes.KEY_7, 1), (ecodes.KEY_7, 2), (ecodes.KEY_7, 2), (ecodes.KEY_7, 0)]
    events += [*_tap(ecodes.KEY_ENTER), *_tap(ecodes.KEY_ENTER)]
    assert translate(events, US) == [Code("7"), Dropped(DropReason.EMPTY, 0)]


def test_a_scanner_that_never_presses_enter_is_not_held_forever() -> None:
    translator = KeyTranslator(US, max_length=10)
    for _ in range(10_000):
        assert translator.feed(ecodes.KEY_5, 1) is None
    assert translator.feed(ecodes.KEY_ENTER, 1) == Dropped(DropReason.TOO_LONG, 10_000)
    assert translator.feed(ecodes.KEY_1, 1) is None
    assert translator.feed(ecodes.KEY_ENTER, 1) == Code("1")
