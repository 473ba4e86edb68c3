"""``[devices.printer]`` in the till's TOML turned into a :class:`ReceiptPrinter`.

Example::

    [devices.printer]
    backend = "serial"          # "serial" | "network" | "usb" | "simulated"
    port = "/dev/serial/by-id/usb-Prolific-if00-port0"
    baudrate = 38400
    width = 42                  # characters per line: 42 for 80 mm paper, 32 for 58 mm
    codepage = "cp858"          # cp437 | cp850 | cp852 | cp858 | cp866 | wpc1252

A wrong key, type or value is refused with a message naming it, at start-up, instead of a
printer that fails at the first sale. Unknown keys are refused too: a misspelt ``baud_rate``
silently left at its default is a printer printing garbage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from edge.peripherals.printer.codepages import code_page
from edge.peripherals.printer.document import MAX_WIDTH, MIN_WIDTH
from edge.peripherals.printer.escpos_encode import Cut
from edge.peripherals.printer.network import RAW_PORT, NetworkTransport
from edge.peripherals.printer.printer import ReceiptPrinter
from edge.peripherals.printer.simulated import SimulatedTransport
from edge.peripherals.printer.status import Paper
from edge.peripherals.printer.transport import SerialTransport, Transport
from edge.peripherals.printer.usb import DEFAULT_DEVICE, UsbTransport
from edge.peripherals.serial_port import Parity, SerialSettings

_COMMON = {
    "backend", "width", "codepage", "status_timeout_ms", "feed_lines", "cut", "drawer_pin",
    "drawer_on_ms", "drawer_off_ms",
}  # fmt: skip
_BACKEND_KEYS: dict[str, set[str]] = {
    "serial": {"port", "baudrate", "bytesize", "parity", "stopbits"},
    "network": {"host", "port", "connect_timeout_ms"},
    "usb": {"device"},
    "simulated": {"paper"},
}


def build(name: str, section: Mapping[str, Any]) -> ReceiptPrinter:
    """The printer ``[devices.<name>]`` describes (closed: open, claim and enable it to use it)."""
    where = f"[devices.{name}]"
    backend = _str(section, "backend", where, None)
    if backend not in _BACKEND_KEYS:
        raise ValueError(f"{where} backend must be one of {sorted(_BACKEND_KEYS)}, got {backend!r}")
    unknown = set(section) - _COMMON - _BACKEND_KEYS[backend]
    if unknown:
        raise ValueError(f"{where} unknown key(s) for backend {backend!r}: {sorted(unknown)}")

    width = _int(section, "width", where, default=42, lo=MIN_WIDTH, hi=MAX_WIDTH)
    try:
        page = code_page(_str(section, "codepage", where, "cp858"))
    except ValueError as exc:
        raise ValueError(f"{where} codepage: {exc}") from None
    cut = _choice(section, "cut", where, "partial", ("partial", "full", "none"))
    pin = _int(section, "drawer_pin", where, default=2, lo=2, hi=5)
    if pin not in (2, 5):
        raise ValueError(f"{where} drawer_pin must be 2 or 5, got {pin}")

    def ms(key: str, default: int, lo: int, hi: int) -> int:
        return _int(section, key, where, default=default, lo=lo, hi=hi)

    return ReceiptPrinter(
        name,
        _transport(backend, section, where),
        width=width,
        page=page,
        status_timeout=ms("status_timeout_ms", 500, 10, 60_000) / 1000,
        feed_lines=_int(section, "feed_lines", where, default=3, lo=0, hi=255),
        cut=cast(Cut, cut),
        drawer_pin=cast(Literal[2, 5], pin),
        drawer_on_ms=ms("drawer_on_ms", 100, 2, 510),
        drawer_off_ms=ms("drawer_off_ms", 100, 2, 510),
    )


def _transport(backend: str, section: Mapping[str, Any], where: str) -> Transport:
    def number(key: str, default: int, lo: int, hi: int) -> int:
        return _int(section, key, where, default=default, lo=lo, hi=hi)

    if backend == "serial":
        try:
            settings = SerialSettings(
                port=_str(section, "port", where, None),
                baudrate=number("baudrate", 9600, 300, 4_000_000),
                bytesize=cast(Literal[7, 8], number("bytesize", 8, 7, 8)),
                parity=cast(Parity, _choice(section, "parity", where, "N", ("N", "E", "O"))),
                stopbits=cast(Literal[1, 2], number("stopbits", 1, 1, 2)),
            )
        except ValueError as exc:
            raise ValueError(f"{where} {exc}") from None
        return SerialTransport(settings)
    if backend == "network":
        return NetworkTransport(
            _str(section, "host", where, None),
            number("port", RAW_PORT, 1, 65535),
            connect_timeout=number("connect_timeout_ms", 3000, 10, 60_000) / 1000,
        )
    if backend == "usb":
        return UsbTransport(_str(section, "device", where, DEFAULT_DEVICE))
    sim = SimulatedTransport()
    sim.set_paper(Paper(_choice(section, "paper", where, "ok", tuple(p.value for p in Paper))))
    return sim


def _str(section: Mapping[str, Any], key: str, where: str, default: str | None) -> str:
    value = section.get(key, default)
    if value is None:
        raise ValueError(f"{where} needs {key!r}")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where} {key} must be a non-empty string, got {value!r}")
    return value


def _int(
    section: Mapping[str, Any], key: str, where: str, *, default: int, lo: int, hi: int
) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} {key} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{where} {key} must be {lo}..{hi}, got {value}")
    return value


def _choice(
    section: Mapping[str, Any], key: str, where: str, default: str, allowed: tuple[str, ...]
) -> str:
    value = section.get(key, default)
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{where} {key} must be one of {list(allowed)}, got {value!r}")
    return value
