"""Frames of a line too long for the display, scrolled right to left one column per tick.

Pure: the display driver asks for frame ``tick`` and a timer decides when ticks happen, so
tests can step through every frame. The text travels as one loop — ``text``, then ``gap``
spaces, then ``text`` again — so the end of a name is followed by its start, like a ticker.
Each cycle begins by holding the first frame for ``hold`` ticks so the start can be read.
"""

from __future__ import annotations

WIDTH = 20


def cycle_length(text: str, *, width: int = WIDTH, gap: int = 3, hold: int = 2) -> int:
    """Ticks before the frames repeat: 1 for text that fits, else one per column + the hold."""
    _check(width, gap, hold)
    if len(text) <= width:
        return 1
    return len(text) + gap + hold


def frame(text: str, tick: int, *, width: int = WIDTH, gap: int = 3, hold: int = 2) -> str:
    """What the line shows at ``tick`` (any int ≥ 0): exactly ``width`` characters.

    Text that fits is left-aligned and padded, the same at every tick.
    """
    _check(width, gap, hold)
    if tick < 0:
        raise ValueError(f"tick must be >= 0, got {tick}")
    if len(text) <= width:
        return text.ljust(width)
    loop = text + " " * gap
    step = tick % (len(loop) + hold)
    offset = max(0, step - hold)
    doubled = loop + loop
    return doubled[offset : offset + width]


def _check(width: int, gap: int, hold: int) -> None:
    if width < 1 or gap < 1 or hold < 0:
        raise ValueError(f"need width >= 1, gap >= 1, hold >= 0; got {width}, {gap}, {hold}")
