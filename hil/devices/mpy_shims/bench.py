"""Wiring on the bench: what connects the board's pins to the outside world."""

from __future__ import annotations

import threading
from collections.abc import Callable

from hil.devices.mpy_shims.machine import Pin


class KeyMatrix:
    """A key matrix without diodes: a held key joins its row to its column.

    The firmware drives one row low at a time and reads the columns (pulled up); a column reads
    0 while a held key connects it to a row that is driven low. Keys are ``(row, col)``.
    """

    def __init__(self, rows: list[Pin], cols: list[Pin]) -> None:
        self.rows = rows
        self.cols = cols
        self._held: set[tuple[int, int]] = set()
        self._lock = threading.Lock()
        for c, col in enumerate(cols):
            col.source = self._column_reader(c)

    def _column_reader(self, c: int) -> Callable[[], int]:
        def read() -> int:
            with self._lock:
                held = [r for r, col in self._held if col == c]
            return 0 if any(self.rows[r].output == 0 for r in held) else 1

        return read

    def press(self, row: int, col: int) -> None:
        with self._lock:
            self._held.add((row, col))

    def release(self, row: int, col: int) -> None:
        with self._lock:
            self._held.discard((row, col))

    def release_all(self) -> None:
        with self._lock:
            self._held.clear()

    @property
    def held(self) -> set[tuple[int, int]]:
        with self._lock:
            return set(self._held)
