"""Millisecond tick arithmetic that survives the wrap of ``time.ticks_ms``.

On the RP2040 ``ticks_ms`` counts modulo 2**30 (the small-int range, so reading the clock never
allocates) and wraps every 12.4 days. Every timer in the firmware is a tick value compared with
:func:`diff`, never with ``-`` or ``<``, so a board that has been up for weeks behaves like one
that just booted. The functions equal MicroPython's ``ticks_diff``/``ticks_add``; they exist
here as plain ints so the logic classes can be driven by host tests with any clock.
"""

from micropython import const

MASK = const(0x3FFFFFFF)
"""Ticks live in 0..MASK (period 2**30, as ``ticks_ms`` on the RP2040)."""
HALF = const(0x20000000)
"""Differences are signed and valid within ±HALF ms (about 6.2 days)."""


def diff(a: int, b: int) -> int:
    """Return ``a - b`` in ticks: positive when ``a`` is later, valid across the wrap.

    Written so no intermediate leaves the small-int range (no heap allocation on the board).
    """
    d = (a - b) & MASK
    return d - MASK - 1 if d >= HALF else d


def add(t: int, delta: int) -> int:
    """Return the tick ``delta`` ms after ``t`` (``delta`` may be negative)."""
    return (t + delta) & MASK
