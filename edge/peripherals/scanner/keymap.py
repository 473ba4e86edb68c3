"""Key events of a keyboard-wedge (USB HID) scanner turned back into the text it typed — pure.

A wedge scanner "types" each code as key presses on a keyboard layout it was set up for, and
presses Enter after it. The kernel hands us key *positions* (Linux keycodes), not characters, so
the layout configured for the till must be the one the scanner types in: a scanner set to German
sends KEY_Y for ``z``. A layout mismatch shows up as wrong codes, which ``parse_scan``'s check
digits catch; anything the layout cannot type as ASCII (``ß``, ``§``, a dead key not followed by
space, an unknown key) makes the code a counted drop, never a guess.

Keycodes are the Linux input ABI (``linux/input-event-codes.h``), written out here so this module
needs no evdev; the tests check them against ``evdev.ecodes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from edge.peripherals.scanner.framing import Code, Dropped, DropReason, Outcome, classify
from protocol.barcodes import MAX_SCAN_LENGTH

# Key positions (linux/input-event-codes.h).
KEY_GRAVE, KEY_MINUS, KEY_EQUAL = 41, 12, 13
KEY_1_TO_0 = tuple(range(2, 12))
KEY_Q_TO_P = tuple(range(16, 26))
KEY_LEFTBRACE, KEY_RIGHTBRACE, KEY_BACKSLASH = 26, 27, 43
KEY_A_TO_L = tuple(range(30, 39))
KEY_SEMICOLON, KEY_APOSTROPHE = 39, 40
KEY_Z_TO_M = tuple(range(44, 51))
KEY_COMMA, KEY_DOT, KEY_SLASH, KEY_102ND = 51, 52, 53, 86
KEY_SPACE, KEY_ENTER, KEY_KPENTER = 57, 28, 96
ROW_DIGITS = (KEY_GRAVE, *KEY_1_TO_0, KEY_MINUS, KEY_EQUAL)
ROW_TOP = (*KEY_Q_TO_P, KEY_LEFTBRACE, KEY_RIGHTBRACE, KEY_BACKSLASH)
ROW_HOME = (*KEY_A_TO_L, KEY_SEMICOLON, KEY_APOSTROPHE)
ROW_BOTTOM = (*KEY_Z_TO_M, KEY_COMMA, KEY_DOT, KEY_SLASH, KEY_102ND)
KEY_LEFTSHIFT, KEY_RIGHTSHIFT = 42, 54
KEY_LEFTCTRL, KEY_RIGHTCTRL = 29, 97
KEY_LEFTALT, KEY_RIGHTALT = 56, 100
KEY_CAPSLOCK, KEY_NUMLOCK = 58, 69
KEYPAD: Mapping[int, str] = {
    71: "7", 72: "8", 73: "9", 74: "-", 75: "4", 76: "5", 77: "6", 78: "+",
    79: "1", 80: "2", 81: "3", 82: "0", 55: "*", 98: "/",
}  # fmt: skip
KEY_KPDOT = 83

KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2
"""``value`` of an EV_KEY event: released, pressed, autorepeat."""

DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Layout:
    """What each key position types: ``keys[code] = (plain, shifted)``; AltGr and dead keys.

    ``dead`` keys type their character only when followed by space (as on a real keyboard,
    where a dead key followed by a letter composes a non-ASCII letter); ``ctrl`` maps the few
    control combinations a scanner uses (Ctrl+] for GS on a US layout).
    """

    name: str
    keys: Mapping[int, tuple[str, str]]
    altgr: Mapping[int, str] = field(default_factory=dict)
    dead: frozenset[tuple[int, bool]] = frozenset()
    """(key, shifted) pairs that are dead keys."""
    ctrl: Mapping[int, str] = field(default_factory=dict)
    keypad_decimal: str = "."


def _rows(rows: Iterable[tuple[tuple[int, ...], str, str]]) -> dict[int, tuple[str, str]]:
    keys: dict[int, tuple[str, str]] = {}
    for codes, plain, shifted in rows:
        if not len(codes) == len(plain) == len(shifted):
            raise AssertionError(f"layout row {plain!r} does not match its keys")
        keys.update(zip(codes, zip(plain, shifted, strict=True), strict=True))
    keys[KEY_SPACE] = (" ", " ")
    return keys


US = Layout(
    name="us",
    keys=_rows([
        (ROW_DIGITS, "`1234567890-=", "~!@#$%^&*()_+"),
        (ROW_TOP, "qwertyuiop[]\\", "QWERTYUIOP{}|"),
        (ROW_HOME, "asdfghjkl;'", 'ASDFGHJKL:"'),
        (ROW_BOTTOM, "zxcvbnm,./\\", "ZXCVBNM<>?|"),
    ]),
    ctrl={KEY_RIGHTBRACE: "\x1d"},
)  # fmt: skip

DE = Layout(
    name="de",
    keys=_rows([
        (ROW_DIGITS, "^1234567890ß´", '°!"§$%&/()=?`'),
        (ROW_TOP, "qwertzuiopü+#", "QWERTZUIOPÜ*'"),
        (ROW_HOME, "asdfghjklöä", "ASDFGHJKLÖÄ"),
        (ROW_BOTTOM, "yxcvbnm,.-<", "YXCVBNM;:_>"),
    ]),
    altgr={
        16: "@", 3: "²", 4: "³", 8: "{", 9: "[", 10: "]", 11: "}",
        KEY_MINUS: "\\", KEY_RIGHTBRACE: "~", KEY_102ND: "|", 18: "€", 50: "µ",
    },
    dead=frozenset({(KEY_GRAVE, False), (KEY_EQUAL, False), (KEY_EQUAL, True)}),
    keypad_decimal=",",
)  # fmt: skip

LAYOUTS: Mapping[str, Layout] = {layout.name: layout for layout in (US, DE)}


class KeyTranslator:
    """Feed EV_KEY events (``code``, ``value``); each Enter yields the code typed before it.

    Modifier state (both Shifts, both Ctrls, AltGr, Caps Lock) is tracked from press/release
    events; characters are taken on key-down only (autorepeat is a stuck key, not data).
    """

    def __init__(
        self, layout: Layout, *, aim: bool = False, max_length: int = MAX_SCAN_LENGTH
    ) -> None:
        self.layout = layout
        self._aim = aim
        self._max = max_length
        self._held: set[int] = set()
        self._caps = False
        self._chars: list[str] = []
        self._dead: str | None = None
        self._bad: DropReason | None = None
        self._size = 0

    def feed(self, code: int, value: int) -> Outcome | None:
        if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTALT,
                    KEY_RIGHTALT):  # fmt: skip
            if value == KEY_DOWN:
                self._held.add(code)
            elif value == KEY_UP:
                self._held.discard(code)
            return None
        if value != KEY_DOWN:
            return None
        if code == KEY_CAPSLOCK:
            self._caps = not self._caps
            return None
        if code == KEY_NUMLOCK:
            return None
        if code in (KEY_ENTER, KEY_KPENTER):
            return self._finish()
        self._size += 1
        self._type(self._char(code))
        return None

    def _char(self, code: int) -> str | None:
        held = self._held
        shift = bool(held & {KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
        if held & {KEY_LEFTCTRL, KEY_RIGHTCTRL}:
            return self.layout.ctrl.get(code)
        if KEY_RIGHTALT in held and self.layout.altgr:
            return self.layout.altgr.get(code)
        if held & {KEY_LEFTALT, KEY_RIGHTALT}:
            return None
        if code in KEYPAD:
            return KEYPAD[code]
        if code == KEY_KPDOT:
            return self.layout.keypad_decimal
        pair = self.layout.keys.get(code)
        if pair is None:
            return None
        plain, shifted = pair
        if self._caps and plain.isalpha():
            shift = not shift
        if (code, shift) in self.layout.dead:
            return DEAD + (shifted if shift else plain)
        return shifted if shift else plain

    def _type(self, char: str | None) -> None:
        if self._dead is not None:
            dead, self._dead = self._dead, None
            if char == " ":
                self._type(dead)
                return
            self._mark(DropReason.UNMAPPED_KEY)  # would compose a non-ASCII letter
            return
        if char is None:
            self._mark(DropReason.UNMAPPED_KEY)
        elif char.startswith(DEAD):
            self._dead = char[len(DEAD) :]
        elif len(self._chars) >= self._max:
            self._mark(DropReason.TOO_LONG)  # a scanner set up without Enter: stop holding
        else:
            self._chars.append(char)

    def _mark(self, reason: DropReason) -> None:
        if self._bad is None:
            self._bad = reason

    def _finish(self) -> Outcome:
        text = "".join(self._chars)
        bad, size = self._bad, self._size
        if self._dead is not None:
            bad = bad or DropReason.UNMAPPED_KEY
        self._chars, self._bad, self._dead, self._size = [], None, None, 0
        if bad is not None:
            return Dropped(bad, size)
        if len(text) > self._max:
            return Dropped(DropReason.TOO_LONG, size)
        if any(ord(c) > 0x7F for c in text):
            return Dropped(DropReason.NON_ASCII, size)
        return classify(text.encode("ascii"), aim=self._aim, max_length=self._max)


def translate(
    events: Iterable[tuple[int, int]],
    layout: Layout,
    *,
    aim: bool = False,
    max_length: int = MAX_SCAN_LENGTH,
) -> list[Outcome]:
    """Every code (or drop) that a sequence of EV_KEY ``(code, value)`` events types."""
    translator = KeyTranslator(layout, aim=aim, max_length=max_length)
    return [o for o in (translator.feed(c, v) for c, v in events) if o is not None]


__all__ = ["DE", "LAYOUTS", "US", "Code", "Dropped", "KeyTranslator", "Layout", "translate"]
