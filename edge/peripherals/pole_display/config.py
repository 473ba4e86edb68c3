"""Build a pole display from its TOML table, refusing bad config with the key that is wrong.

::

    [devices.pole_display]
    backend = "serial"          # "serial" | "simulated"
    port = "/dev/serial/by-id/usb-Prolific-if00-port0"   # serial: required
    baudrate = 9600             # serial
    bytesize = 8                # serial: 7 | 8
    parity = "N"                # serial: "N" | "E" | "O"
    stopbits = 1                # serial: 1 | 2
    command_set = "epson"       # serial: "epson" | "cd5220"
    code_page = "cp858"         # both: "cp437" | "cp850" | "cp858" (what the display is set to)
    marquee_ms = 350            # both: scroll step for lines over 20 columns; 0 = no scrolling
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from edge.peripherals.pole_display.codepage import CodePage
from edge.peripherals.pole_display.commands import COMMAND_SETS
from edge.peripherals.pole_display.device import DisplayBackend, PoleDisplay
from edge.peripherals.pole_display.serial_backend import SerialDisplayBackend
from edge.peripherals.pole_display.simulated import SimulatedDisplayBackend
from edge.peripherals.serial_port import Backoff, SerialSettings

_COMMON = {"backend", "code_page", "marquee_ms"}
_KEYS: dict[str, set[str]] = {
    "serial": {"port", "baudrate", "bytesize", "parity", "stopbits", "command_set"},
    "simulated": set(),
}


def build(name: str, section: Mapping[str, Any], *, backoff: Backoff | None = None) -> PoleDisplay:
    """The display ``[devices.<name>]`` describes, not yet opened."""
    where = f"[devices.{name}]"
    backend_name = section.get("backend")
    if backend_name not in _KEYS:
        raise ValueError(f"{where} backend must be one of {sorted(_KEYS)}, got {backend_name!r}")
    for key in section:
        if key not in _COMMON | _KEYS[backend_name]:
            raise ValueError(f"{where} unknown key {key!r} for backend {backend_name!r}")
    page_name = section.get("code_page", "cp437")
    try:
        page = CodePage(page_name)
    except ValueError:
        raise ValueError(
            f"{where} code_page must be one of {[p.value for p in CodePage]}, got {page_name!r}"
        ) from None
    marquee_ms = section.get("marquee_ms", 350)
    if (
        isinstance(marquee_ms, bool)
        or not isinstance(marquee_ms, int)
        or not 0 <= marquee_ms <= 10_000
    ):
        raise ValueError(f"{where} marquee_ms must be an integer 0..10000, got {marquee_ms!r}")

    backend: DisplayBackend
    if backend_name == "simulated":
        backend = SimulatedDisplayBackend(page)
    else:
        command_set = section.get("command_set", "epson")
        if command_set not in COMMAND_SETS:
            raise ValueError(
                f"{where} command_set must be one of {sorted(COMMAND_SETS)}, got {command_set!r}"
            )
        backend = SerialDisplayBackend(
            _serial_settings(section, where), COMMAND_SETS[command_set], page, backoff=backoff
        )
    return PoleDisplay(name, backend, marquee_interval=marquee_ms / 1000 if marquee_ms else None)


def _serial_settings(section: Mapping[str, Any], where: str) -> SerialSettings:
    port = section.get("port")
    if not isinstance(port, str) or not port:
        raise ValueError(f"{where} port is required for backend 'serial' (a device path)")
    baudrate = section.get("baudrate", 9600)
    bytesize = section.get("bytesize", 8)
    parity = section.get("parity", "N")
    stopbits = section.get("stopbits", 1)
    if isinstance(baudrate, bool) or not isinstance(baudrate, int):
        raise ValueError(f"{where} baudrate must be an integer, got {baudrate!r}")
    if bytesize not in (7, 8) or isinstance(bytesize, bool):
        raise ValueError(f"{where} bytesize must be 7 or 8, got {bytesize!r}")
    if parity not in ("N", "E", "O"):
        raise ValueError(f"{where} parity must be 'N', 'E' or 'O', got {parity!r}")
    if stopbits not in (1, 2) or isinstance(stopbits, bool):
        raise ValueError(f"{where} stopbits must be 1 or 2, got {stopbits!r}")
    try:
        return SerialSettings(
            port,
            baudrate=baudrate,
            bytesize=cast(Literal[7, 8], bytesize),
            parity=cast(Literal["N", "E", "O"], parity),
            stopbits=cast(Literal[1, 2], stopbits),
        )
    except ValueError as exc:
        raise ValueError(f"{where} baudrate: {exc}") from None
