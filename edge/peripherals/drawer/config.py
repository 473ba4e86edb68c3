"""Build a cash drawer from its TOML table, refusing bad config with the key that is wrong.

::

    [devices.drawer]
    backend = "gpio"            # "gpio" | "printer" | "simulated"
    kick_pin = 17               # gpio: BCM number (or "GPIO17", "BOARD11")
    kick_level = "high"         # gpio: level that energises the solenoid driver
    pulse_ms = 100              # gpio, printer: 50..250
    sense_pin = 27              # gpio: omit when the drawer has no switch
    sense_open_level = "low"    # gpio, printer: level the switch reads while the drawer is open
    connector = 0               # printer: 0 = RJ11 pin 2, 1 = pin 5
    off_ms = 100                # printer: rest after the pulse (default pulse_ms)
    poll_ms = 250               # printer: status poll period when a status callable is wired
    open_delay_ms = 150         # simulated: time from kick to open
    jammed = false              # simulated: never opens
    open_timeout_ms = 2000      # all: "drawer did not open" after this
    left_open_s = 60            # all: "drawer left open" after this; 0 = never
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from edge.peripherals.drawer.device import AlertListener, CashDrawer, DrawerBackend
from edge.peripherals.drawer.gpio import MAX_PULSE_MS, MIN_PULSE_MS, GpioDrawerBackend
from edge.peripherals.drawer.printer_kick import KickSink, PrinterKickBackend, PrinterStatus
from edge.peripherals.drawer.simulated import SimulatedDrawerBackend

_COMMON = {"backend", "open_timeout_ms", "left_open_s"}
_KEYS: dict[str, set[str]] = {
    "gpio": {"kick_pin", "kick_level", "pulse_ms", "sense_pin", "sense_open_level"},
    "printer": {"connector", "pulse_ms", "off_ms", "sense_open_level", "poll_ms"},
    "simulated": {"open_delay_ms", "jammed"},
}
_MAX_BCM = 27


def build(
    name: str,
    section: Mapping[str, Any],
    *,
    pin_factory: Any = None,
    kick_sink: KickSink | None = None,
    printer_status: PrinterStatus | None = None,
    on_alert: AlertListener | None = None,
) -> CashDrawer:
    """The drawer ``[devices.<name>]`` describes, not yet opened.

    ``pin_factory`` is gpiozero's (``None``: its default); ``kick_sink`` and ``printer_status``
    come from the receipt printer driver when ``backend = "printer"``.
    """
    where = f"[devices.{name}]"
    backend_name = _text(section, "backend", where, None)
    if backend_name not in _KEYS:
        raise ValueError(f"{where} backend must be one of {sorted(_KEYS)}, got {backend_name!r}")
    for key in section:
        if key not in _COMMON | _KEYS[backend_name]:
            raise ValueError(f"{where} unknown key {key!r} for backend {backend_name!r}")

    backend: DrawerBackend
    if backend_name == "gpio":
        kick_pin = _pin(section, "kick_pin", where, required=True)
        assert kick_pin is not None
        backend = GpioDrawerBackend(
            kick_pin,
            pulse_ms=_int(section, "pulse_ms", where, 100, (MIN_PULSE_MS, MAX_PULSE_MS)),
            kick_level=_level(section, "kick_level", where, "high"),
            sense_pin=_pin(section, "sense_pin", where, required=False),
            sense_open_level=_level(section, "sense_open_level", where, "low"),
            pin_factory=pin_factory,
        )
    elif backend_name == "printer":
        if kick_sink is None:
            raise ValueError(f"{where} backend 'printer' needs the receipt printer to kick through")
        pulse_ms = _int(section, "pulse_ms", where, 100, (MIN_PULSE_MS, MAX_PULSE_MS))
        backend = PrinterKickBackend(
            kick_sink,
            connector=_int(section, "connector", where, 0, (0, 1)),
            pulse_ms=pulse_ms,
            off_ms=_int(section, "off_ms", where, pulse_ms, (2, 510)),
            status=printer_status,
            sense_open_level=_level(section, "sense_open_level", where, "high"),
            poll_interval=_int(section, "poll_ms", where, 250, (50, 5000)) / 1000,
        )
    else:
        jammed = section.get("jammed", False)
        if not isinstance(jammed, bool):
            raise ValueError(f"{where} jammed must be true or false, got {jammed!r}")
        backend = SimulatedDrawerBackend(
            open_delay=_int(section, "open_delay_ms", where, 150, (0, 10_000)) / 1000, jammed=jammed
        )
    left_open = _int(section, "left_open_s", where, 60, (0, 86_400))
    return CashDrawer(
        name,
        backend,
        open_timeout=_int(section, "open_timeout_ms", where, 2000, (100, 60_000)) / 1000,
        left_open_after=float(left_open) if left_open else None,
        on_alert=on_alert,
    )


def _int(
    section: Mapping[str, Any], key: str, where: str, default: int, span: tuple[int, int]
) -> int:
    lo, hi = span
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{where} {key} must be an integer {lo}..{hi}, got {value!r}")
    return value


def _text(section: Mapping[str, Any], key: str, where: str, default: str | None) -> str:
    value = section.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{where} {key} must be a string, got {value!r}")
    return value


def _level(
    section: Mapping[str, Any], key: str, where: str, default: str
) -> Literal["high", "low"]:
    value = _text(section, key, where, default)
    if value not in ("high", "low"):
        raise ValueError(f"{where} {key} must be 'high' or 'low', got {value!r}")
    return cast(Literal["high", "low"], value)


def _pin(section: Mapping[str, Any], key: str, where: str, *, required: bool) -> int | str | None:
    if key not in section:
        if required:
            raise ValueError(f"{where} {key} is required for backend 'gpio'")
        return None
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{where} {key} must be a BCM pin number or a pin name, got {value!r}")
    if isinstance(value, int) and not 0 <= value <= _MAX_BCM:
        raise ValueError(f"{where} {key} must be a BCM pin 0..{_MAX_BCM}, got {value}")
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"{where} {key} must not be empty")
    return value
