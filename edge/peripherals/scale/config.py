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

from edge.peripherals.config_table import Section
from edge.peripherals.scale.protocols import PROTOCOLS, ScaleCodec, codec
from edge.peripherals.scale.reading import SubGram, Unit
from edge.peripherals.scale.scale import Scale, SerialScale, Settling
from edge.peripherals.scale.simulated import SimulatedScale

MAX_GRAMS = 10_000_000
UNFLAGGED_EQUAL_READINGS = 3
_COMMON = {"backend", "equal_readings", "min_grams", "capacity_grams", "poll_ms"}
_SERIAL = {"port", "baudrate", "bytesize", "parity", "stopbits", "protocol", "unit", "sub_gram",
           "answer_timeout_ms"}  # fmt: skip
_KEYS = {"serial": _COMMON | _SERIAL, "simulated": _COMMON}


def build(name: str, section: Mapping[str, Any]) -> Scale:
    """The scale ``[devices.<name>]`` describes (not yet opened)."""
    where = f"devices.{name}"
    backend = section.get("backend")
    if backend not in _KEYS:
        raise ValueError(f"{where}.backend must be one of {', '.join(_KEYS)}, not {backend!r}")
    s = Section(where, section, _KEYS[backend])
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
    settings = s.serial(**chosen.serial_defaults)
    return SerialScale(name, settings, chosen, settling=settling)
