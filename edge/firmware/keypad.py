"""The keypad: a matrix scanner and the debounce/auto-repeat logic behind it.

The logic (:class:`Keypad`) is pure: each call gets the time and the set of keys the scan saw
closed, and returns the debounced events, so host tests drive time by hand. Contacts bounce for
a few milliseconds on press and release; a key's state only changes once its raw reading has
stayed the same for ``debounce_ms``, so a bounce inside that window is never seen. A key held
past ``repeat_delay_ms`` repeats every ``repeat_rate_ms``; a loop that ran late catches up with
one repeat, never a burst.

:class:`MatrixScanner` drives one row low at a time (the others high) and reads the columns,
which have pull-ups, so a closed key reads 0. Without diodes three keys held in an L shape
ghost a fourth; the keypad's layout keeps keys pressed together in different rows and columns.
"""

from machine import Pin
from ticks import add, diff

DOWN = 1
UP = 2
REPEAT = 3


class Keypad:
    """Debounce and auto-repeat over scans of key codes (``row * cols + col``)."""

    def __init__(
        self, debounce_ms: int = 20, repeat_delay_ms: int = 500, repeat_rate_ms: int = 100
    ) -> None:
        if debounce_ms < 0 or repeat_delay_ms < 0 or repeat_rate_ms <= 0:
            raise ValueError("bad keypad timing")
        self.debounce_ms = debounce_ms
        self.repeat_delay_ms = repeat_delay_ms
        self.repeat_rate_ms = repeat_rate_ms
        # code -> [raw pressed, tick of last raw change, debounced pressed, next repeat tick]
        self._keys: dict[int, list[int]] = {}

    def down(self) -> list[int]:
        """Codes currently held (debounced), in order."""
        return sorted(c for c, k in self._keys.items() if k[2])

    def update(self, now: int, pressed: set[int]) -> list[tuple[int, int]]:
        """Feed one scan; return ``(event, code)`` pairs — UP events first, then by code."""
        for code in pressed:
            if code not in self._keys:
                self._keys[code] = [0, now, 0, now]
        ups: list[tuple[int, int]] = []
        others: list[tuple[int, int]] = []
        forget: list[int] = []
        for code in sorted(self._keys):
            key = self._keys[code]
            raw = 1 if code in pressed else 0
            if raw != key[0]:
                key[0] = raw
                key[1] = now
            stable = diff(now, key[1]) >= self.debounce_ms
            if stable and raw != key[2]:
                key[2] = raw
                if raw:
                    others.append((DOWN, code))
                    key[3] = add(now, self.repeat_delay_ms)
                else:
                    ups.append((UP, code))
            elif raw and key[2] and self.repeat_delay_ms and diff(now, key[3]) >= 0:
                others.append((REPEAT, code))
                due = add(key[3], self.repeat_rate_ms)
                key[3] = due if diff(due, now) > 0 else add(now, self.repeat_rate_ms)
            if not raw and not key[2] and stable:
                forget.append(code)
        for code in forget:
            del self._keys[code]
        return ups + others


class MatrixScanner:
    """Reads a key matrix: rows are outputs (idle high), columns inputs with pull-ups."""

    def __init__(self, rows: list[Pin], cols: list[Pin]) -> None:
        self.rows = rows
        self.cols = cols
        for row in rows:
            row.value(1)

    def scan(self) -> set[int]:
        """Return the codes (``row * len(cols) + col``) of every key that reads closed."""
        pressed: set[int] = set()
        ncols = len(self.cols)
        for r, row in enumerate(self.rows):
            row.value(0)
            for c, col in enumerate(self.cols):
                if not col.value():
                    pressed.add(r * ncols + c)
            row.value(1)
        return pressed
