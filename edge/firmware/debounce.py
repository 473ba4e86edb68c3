"""A debounced digital input (the cash drawer's sense switch).

Pure logic like the keypad's: feed it the time and the raw level, and it reports a change only
after the level has held for ``debounce_ms`` — a drawer slammed shut rattles its switch.
"""

from ticks import diff


class Debounced:
    """One input's debounced ``level`` (0 or 1), starting at the level read at boot."""

    def __init__(self, level: int, now: int, debounce_ms: int = 30) -> None:
        self.debounce_ms = debounce_ms
        self.level = 1 if level else 0
        self._raw = self.level
        self._since = now

    def update(self, now: int, raw: int) -> bool:
        """Feed one reading; True when the debounced level just changed."""
        raw = 1 if raw else 0
        if raw != self._raw:
            self._raw = raw
            self._since = now
        if raw != self.level and diff(now, self._since) >= self.debounce_ms:
            self.level = raw
            return True
        return False
