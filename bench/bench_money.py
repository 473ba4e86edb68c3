"""Micro-benchmarks for ``protocol.money``: the calls a till makes on every receipt.

Each benchmark is one tiny call so a regression shows up as a per-call time; a receipt makes a
few hundred of these, so anything in the tens of microseconds is worth a look.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from protocol import money
from protocol.money import Rounding, currency

T = TypeVar("T")

EUR = currency("EUR")
# A 100-line basket: line totals from 0.19 to 99.99, varied so remainders are not all equal.
LINE_TOTALS = [(i * 7919) % 9_981 + 19 for i in range(100)]


class Benchmark(Protocol):
    """The part of pytest-benchmark's ``benchmark`` fixture we use (it ships no annotations)."""

    def __call__(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...


def test_allocate_discount_over_100_lines(benchmark: Benchmark) -> None:
    shares = benchmark(money.allocate, -1_234, LINE_TOTALS)
    assert sum(shares) == -1_234


def test_tax_inclusive(benchmark: Benchmark) -> None:
    assert benchmark(money.tax_inclusive, 10_000, 77_000, Rounding.HALF_UP) == 715


def test_parse_grouped(benchmark: Benchmark) -> None:
    assert benchmark(money.parse, "1.234,50", EUR, decimal_sep=",", group_sep=".") == 123_450


def test_format_grouped_with_symbol(benchmark: Benchmark) -> None:
    text = benchmark(
        money.format, 123_450, EUR, decimal_sep=",", group_sep=".", symbol="€", symbol_first=False
    )
    assert text == "1.234,50 €"
