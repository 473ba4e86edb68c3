"""The scale protocols the till speaks, one codec each, behind one small interface.

A codec is pure (bytes in, :class:`Reading` out) so it is tested against recorded frames and
property-tested; :class:`~edge.peripherals.scale.scale.SerialScale` does the I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from edge.peripherals.scale.adam import Adam
from edge.peripherals.scale.reading import Reading, SubGram, Unit
from edge.peripherals.scale.toledo8217 import Toledo8217


class ReplyDecoder(Protocol):
    counters: Counter[str]
    """Skipped input by kind (garbage, truncated, bad_status...): health counters."""

    def feed(self, data: bytes) -> list[Reading]:
        """Every complete reply in ``data`` (and what came before); never raises."""
        ...

    def reset(self) -> None:
        """Drop a half reply, counting it as truncated."""
        ...


class ScaleCodec(Protocol):
    name: str
    has_tare: bool
    reports_stability: bool

    @property
    def serial_defaults(self) -> Mapping[str, Any]:
        """The line settings the protocol's documentation gives; TOML may override each."""
        ...

    def request_weight(self) -> bytes: ...
    def request_zero(self) -> bytes: ...
    def request_tare(self) -> bytes | None: ...
    def decoder(self) -> ReplyDecoder: ...


PROTOCOLS = ("toledo8217", "adam")


def codec(name: str, *, unit: Unit = Unit.KG, sub_gram: SubGram = SubGram.REJECT) -> ScaleCodec:
    """The codec called ``name``. ``unit`` matters only where replies carry no unit (8217)."""
    if name == "toledo8217":
        return Toledo8217(unit, sub_gram)
    if name == "adam":
        return Adam(sub_gram)
    raise ValueError(f"unknown scale protocol {name!r} (known: {', '.join(PROTOCOLS)})")
