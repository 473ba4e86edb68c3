"""``[devices.<name>]`` TOML tables turned into scales, with errors that name the bad key.

```toml
[devices.scale]
backend = "serial"          # "serial" | "simulated"
port = "/dev/serial/by-id/usb-FTDI_FT232R-if00-port0"
protocol = "toledo8217"     # "toledo8217" | "adam"
# baudrate, bytesize, parity, stopbits: default to the protocol's (8217: 9600 7E1; adam: 9600 8N1)
unit = "kg"                 # what the scale sends when its replies carry no unit (8217)
sub_gram = "reject"         # "reject" | "round_down": readings finer than a gram
equal_readings = 1          # equal stable readings needed (default 3 if no stability flag)
min_grams = 1               # below this a stable weight is "no weight on the scale"
capacity_grams = 15000      # refuse above this even if the scale does not say so
answer_timeout_ms = 500
poll_ms = 100

[devices.demo_scale]
backend = "simulated"
capacity_grams = 15000
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge.peripherals.scale.protocols import PROTOCOLS, ScaleCodec, codec
from edge.peripherals.scale.reading import SubGram, Unit
from edge.peripherals.scale.scale import Scale, SerialScale, Settling
from edge.peripherals.scale.simulated import SimulatedScale
from edge.peripherals.serial_port import SerialSettings

MAX_GRAMS = 10_000_000
UNFLAGGED_EQUAL_READINGS = 3
_COMMON = {"backend", "equal_readings", "min_grams", "capacity_grams", "poll_ms"}
_SERIAL = {"port", "baudrate", "bytesize", "parity", "stopbits", "protocol", "unit", "sub_gram",
           "answer_timeout_ms"}  # fmt: skip
_KEYS = {"serial": _COMMON | _SERIAL, "simulated": _COMMON}


class _Section:
    """Typed reads from one TOML table; every error names ``devices.<name>.<key>``."""

    def __init__(self, where: str, data: Mapping[str, Any], known: set[str]) -> None:
        self.where, self.data = where, data
        for key in sorted(set(data) - known):
            raise ValueError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")

    def text(self, key: str, default: str | None, choices: tuple[str, ...] | None = None) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise ValueError(f"{self.where}.{key} is required")
        if not isinstance(value, str) or (choices is not None and value not in choices):
            wanted = f"one of {', '.join(choices)}" if choices else "a string"
            raise ValueError(f"{self.where}.{key} must be {wanted}, not {value!r}")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{self.where}.{key} must be an integer {low}..{high}, not {value!r}")
        return value


def build(name: str, section: Mapping[str, Any]) -> Scale:
    """The scale ``[devices.<name>]`` describes (not yet opened)."""
    where = f"devices.{name}"
    backend = section.get("backend")
    if backend not in _KEYS:
        raise ValueError(f"{where}.backend must be one of {', '.join(_KEYS)}, not {backend!r}")
    s = _Section(where, section, _KEYS[backend])
    chosen: ScaleCodec | None = None
    if backend == "serial":
        protocol = s.text("protocol", None, PROTOCOLS)
        unit = Unit(s.text("unit", "kg", tuple(u.value for u in Unit)))
        sub_gram = SubGram(s.text("sub_gram", "reject", tuple(g.value for g in SubGram)))
        chosen = codec(protocol, unit=unit, sub_gram=sub_gram)
    capacity = s.integer("capacity_grams", 15_000, 1, MAX_GRAMS)
    min_grams = s.integer("min_grams", 1, 1, MAX_GRAMS)
    if min_grams > capacity:
        raise ValueError(f"{where}.min_grams must not exceed capacity_grams ({capacity})")
    # A protocol without a stability flag is trusted only on repeated equal weights.
    equal_default = 1 if chosen is None or chosen.reports_stability else UNFLAGGED_EQUAL_READINGS
    settling = Settling(
        equal_readings=s.integer("equal_readings", equal_default, 1, 20),
        min_grams=min_grams,
        capacity_grams=capacity,
        poll=s.integer("poll_ms", 100, 0, 5_000) / 1000,
        answer_timeout=s.integer("answer_timeout_ms", 500, 10, 10_000) / 1000,
    )
    if chosen is None:
        return SimulatedScale(name, settling, capacity_grams=capacity)
    line = chosen.serial_defaults
    port = s.text("port", None)
    try:
        settings = SerialSettings(
            port,
            baudrate=s.integer("baudrate", line["baudrate"], 300, 4_000_000),
            bytesize=s.integer("bytesize", line["bytesize"], 7, 8),  # type: ignore[arg-type]
            parity=s.text("parity", line["parity"], ("N", "E", "O")),  # type: ignore[arg-type]
            stopbits=s.integer("stopbits", line["stopbits"], 1, 2),  # type: ignore[arg-type]
        )
    except ValueError as exc:
        raise ValueError(f"{where}.baudrate: {exc}") from exc
    return SerialScale(name, settings, chosen, settling=settling)
