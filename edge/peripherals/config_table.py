"""Typed reads of a ``[devices.<name>]`` TOML table, shared by every driver's ``build``.

Every error names the key (``devices.scale.baudrate must be an integer 300..4000000``), so a
technician fixes the file without reading code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge.peripherals.serial_port import SerialSettings


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
