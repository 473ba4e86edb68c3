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

from edge.peripherals.scanner.device import Scanner, SimulatedScanner
from edge.peripherals.scanner.framing import PREFIXES, SUFFIXES, FramerConfig
from edge.peripherals.scanner.hid import HidScanner
from edge.peripherals.scanner.keymap import LAYOUTS
from edge.peripherals.scanner.serial_scanner import SerialScanner
from edge.peripherals.serial_port import SerialSettings
from protocol.barcodes import MAX_SCAN_LENGTH

_COMMON = {"backend", "aim", "max_length"}
_SERIAL = {"port", "baudrate", "bytesize", "parity", "stopbits", "suffix", "prefix", "idle_ms"}
_KEYS = {"serial": _COMMON | _SERIAL, "hid": _COMMON | {"path", "layout"}, "simulated": _COMMON}


class Section:
    """Typed reads from one TOML table; every error names ``devices.<name>.<key>``."""

    def __init__(self, where: str, data: Mapping[str, Any], known: set[str]) -> None:
        self.where = where
        self.data = data
        for key in sorted(set(data) - known):
            raise ValueError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")

    def text(self, key: str, default: str | None = None, choices: Any = None) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise ValueError(f"{self.where}.{key} is required")
        if not isinstance(value, str):
            raise ValueError(f"{self.where}.{key} must be a string, not {value!r}")
        if choices is not None and value not in choices:
            allowed = ", ".join(choices)
            raise ValueError(f"{self.where}.{key} must be one of {allowed}, not {value!r}")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{self.where}.{key} must be an integer {low}..{high}, not {value!r}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise ValueError(f"{self.where}.{key} must be true or false, not {value!r}")
        return value

    def serial(self, **defaults: Any) -> SerialSettings:
        port = self.text("port")
        baudrate = self.integer("baudrate", defaults.get("baudrate", 9600), 300, 4_000_000)
        bytesize = self.integer("bytesize", defaults.get("bytesize", 8), 7, 8)
        parity = self.text("parity", defaults.get("parity", "N"), ("N", "E", "O"))
        stopbits = self.integer("stopbits", defaults.get("stopbits", 1), 1, 2)
        try:
            return SerialSettings(port, baudrate, bytesize, parity, stopbits)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ValueError(f"{self.where}.baudrate: {exc}") from exc


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
