"""Host stand-in for MicroPython's ``time``/``utime`` tick functions, on a settable clock.

Ticks count milliseconds modulo 2**30, as on the RP2040, so firmware code that forgets
:func:`ticks_diff` fails here too. Tests set the clock with :func:`set_clock`; by default it is
the host's monotonic clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

TICKS_PERIOD = 1 << 30
_MASK = TICKS_PERIOD - 1
_HALF = TICKS_PERIOD // 2


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


_clock: Callable[[], int] = _monotonic_ms


def set_clock(clock: Callable[[], int] | None) -> None:
    """Read milliseconds from ``clock`` (None: the host's monotonic clock again)."""
    global _clock  # noqa: PLW0603 — one clock per process, as on the board
    _clock = clock or _monotonic_ms


def ticks_ms() -> int:
    return _clock() & _MASK


def ticks_add(ticks: int, delta: int) -> int:
    return (ticks + delta) & _MASK


def ticks_diff(ticks1: int, ticks2: int) -> int:
    return ((ticks1 - ticks2 + _HALF) & _MASK) - _HALF


def sleep_ms(ms: int) -> None:
    time.sleep(ms / 1000)


def sleep_us(us: int) -> None:
    time.sleep(us / 1_000_000)
