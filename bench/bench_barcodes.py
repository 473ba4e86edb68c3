"""Micro-benchmarks for ``protocol.barcodes``: one :func:`parse_scan` per checkout scan.

A scan sits between the beep and the line appearing on the customer display, so anything past a
few tens of microseconds per call on a Raspberry Pi is worth a look.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Protocol, TypeVar

from protocol.barcodes import (
    GS,
    LAYOUT_SETS,
    ElementString,
    Gtin,
    Symbology,
    VariableMeasure,
    parse_scan,
)

T = TypeVar("T")

SWEDEN = LAYOUT_SETS["gs1-se"]
# GTIN, expiry, batch and serial as a GS1-128 scanner sends them: 01 and 17 have predefined
# lengths, the batch (10) ends at the GS, the serial (21) at the end of the data.
GS1_128 = "]C1" + "0109506000134352" + "17251231" + "10ABC123" + GS + "21SN0042"


class Benchmark(Protocol):
    """The part of pytest-benchmark's ``benchmark`` fixture we use (it ships no annotations)."""

    def __call__(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...


def test_parse_scan_ean13(benchmark: Benchmark) -> None:
    scanned = benchmark(parse_scan, "]E04006381333931", layouts=SWEDEN)
    assert scanned == Gtin("04006381333931", Symbology.EAN13)


def test_parse_scan_variable_measure(benchmark: Benchmark) -> None:
    # GS1 Sweden prefix 23: item 123456, 1.234 kg
    scanned = benchmark(parse_scan, "2312345612342", layouts=SWEDEN)
    assert isinstance(scanned, VariableMeasure)
    assert (scanned.lookup_key, scanned.value) == ("02312345600004", 1234)


def test_parse_scan_gs1_128(benchmark: Benchmark) -> None:
    scanned = benchmark(parse_scan, GS1_128, reference_year=2025)
    assert isinstance(scanned, ElementString)
    assert (scanned.gtin, scanned.expiry, scanned.batch, scanned.serial) == (
        "09506000134352",
        date(2025, 12, 31),
        "ABC123",
        "SN0042",
    )
