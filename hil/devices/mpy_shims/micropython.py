"""Host stand-in for MicroPython's ``micropython`` module: what the firmware uses of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def const(expr: T) -> T:
    """On the board the compiler inlines the value; here it is just the value."""
    return expr


def native(fn: Callable[..., T]) -> Callable[..., T]:
    return fn


def viper(fn: Callable[..., T]) -> Callable[..., T]:
    return fn


def opt_level(level: int | None = None) -> int:
    return 0 if level is None else level


def mem_info(verbose: int = 0) -> None:
    """Nothing to report on a host."""
