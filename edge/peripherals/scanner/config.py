"""``[devices.<name>]`` TOML tables turned into scanners, with errors that name the bad key.

```toml
[devices.scanner]
backend = "serial"          # "serial" | "hid" | "simulated"
port = "/dev/serial/by-id/usb-Datalogic_Scanner-if00"
baudrate = 9600             # bytesize = 8, parity = "N", stopbits = 1
suffix = "CR"               # "CR" | "LF" | "CRLF" | "TAB" | "ETX" | "none"
prefix = "none"             # "none" | "STX" | "SOH"
aim = true                  # codes start with an AIM identifier such as "]E0"
max_length = 128
idle_ms = 200               # quiet gap ending a code ("none") or dropping a half one

[devices.scanner2]
backend = "hid"
path = "/dev/input/by-id/usb-Honeywell_Scanner-event-kbd"
layout = "de"               # "us" | "de": the layout the scanner types in
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge.peripherals.config_table import Section
from edge.peripherals.scanner.device import Scanner, SimulatedScanner
from edge.peripherals.scanner.framing import PREFIXES, SUFFIXES, FramerConfig
from edge.peripherals.scanner.hid import HidScanner
from edge.peripherals.scanner.keymap import LAYOUTS
from edge.peripherals.scanner.serial_scanner import SerialScanner
from protocol.barcodes import MAX_SCAN_LENGTH

_COMMON = {"backend", "aim", "max_length"}
_SERIAL = {"port", "baudrate", "bytesize", "parity", "stopbits", "suffix", "prefix", "idle_ms"}
_KEYS = {"serial": _COMMON | _SERIAL, "hid": _COMMON | {"path", "layout"}, "simulated": _COMMON}


def build(name: str, section: Mapping[str, Any]) -> Scanner:
    """The scanner ``[devices.<name>]`` describes (not yet opened)."""
    where = f"devices.{name}"
    backend = section.get("backend")
    if backend not in _KEYS:
        raise ValueError(f"{where}.backend must be one of {', '.join(_KEYS)}, not {backend!r}")
    s = Section(where, section, _KEYS[backend])
    aim = s.flag("aim", False)
    max_length = s.integer("max_length", MAX_SCAN_LENGTH, 1, MAX_SCAN_LENGTH)
    if backend == "simulated":
        return SimulatedScanner(name, aim=aim, max_length=max_length)
    if backend == "hid":
        layout = LAYOUTS[s.text("layout", "us", tuple(LAYOUTS))]
        return HidScanner(name, s.text("path"), layout, aim=aim, max_length=max_length)
    settings = s.serial()
    suffix = s.text("suffix", "CR", tuple(SUFFIXES))
    prefix = s.text("prefix", "none", tuple(PREFIXES))
    idle_ms = s.integer("idle_ms", 50 if suffix == "none" else 200, 5, 10_000)
    framing = FramerConfig(
        suffix=SUFFIXES[suffix], prefix=PREFIXES[prefix], aim=aim, max_length=max_length
    )
    return SerialScanner(name, settings, framing, idle=idle_ms / 1000)
