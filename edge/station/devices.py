"""Build the till's devices from the ``[devices.*]`` tables and keep them running.

A table's name is the device's name and, unless it says ``kind = "…"``, its kind::

    [devices.scanner]        backend = "serial", port = "/dev/serial/by-id/…"
    [devices.scale]          backend = "serial", protocol = "toledo8217", port = "…"
    [devices.drawer]         backend = "gpio", kick_pin = 17, sense_pin = 27
    [devices.pole_display]   backend = "serial", port = "…", command_set = "cd5220"
    [devices.ioboard]        backend = "serial", port = "…"
    [devices.printer]        backend = "network", host = "192.0.2.10"
    [devices.hand_scanner]   kind = "scanner", backend = "hid", path = "/dev/input/by-id/…"

A device that fails to start is logged and left out of service, never fatal: a till with a
dead scale still sells by PLU, and one with a dead printer queues its receipts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.peripherals.base import Device, DeviceError
from protocol.messages.uplink import PeripheralHealth

if TYPE_CHECKING:
    from edge.peripherals.drawer import CashDrawer
    from edge.peripherals.ioboard import IoBoard
    from edge.peripherals.pole_display import PoleDisplay
    from edge.peripherals.printer import PrintWorker, ReceiptPrinter
    from edge.peripherals.scale import Scale
    from edge.peripherals.scanner import Scanner

log = logging.getLogger(__name__)

KINDS = ("printer", "scanner", "scale", "drawer", "pole_display", "ioboard")
_HEALTH_KIND = {"pole_display": "display"}
_COUNTER_NAME = re.compile(r"[^A-Za-z0-9._-]")


class DevicesError(ValueError):
    """A ``[devices]`` table that cannot be built; the message names it."""


@dataclass
class Devices:
    """Every device of the till, by role."""

    scanners: list[Scanner] = field(default_factory=list)
    scale: Scale | None = None
    drawer: CashDrawer | None = None
    displays: list[PoleDisplay] = field(default_factory=list)
    ioboard: IoBoard | None = None
    printer: ReceiptPrinter | None = None
    print_worker: PrintWorker | None = None
    kinds: dict[str, str] = field(default_factory=dict)  # device name -> kind

    @property
    def all(self) -> list[Device]:
        out: list[Device] = [*self.scanners, *self.displays]
        out += [d for d in (self.printer, self.scale, self.drawer, self.ioboard) if d is not None]
        return out

    def start(self, store_path: Path) -> None:
        """Open, claim and enable each device; one that fails is logged and left closed.

        The printer gets its print worker on the store at ``store_path`` (its queue).
        """
        if self.printer is not None:
            from edge.peripherals.printer import PrintWorker

            self.print_worker = PrintWorker(store_path, self.printer)
        for device in self.all:
            try:
                device.open()
                device.claim()
                device.enable()
            except (DeviceError, OSError, ValueError) as exc:
                log.error("device %s (%s) is out of service: %s", device.name, device.kind, exc)
        if self.print_worker is not None:
            self.print_worker.start()

    def stop(self) -> None:
        if self.print_worker is not None:
            self.print_worker.stop()
        for device in self.all:
            try:
                device.close()
            except Exception:  # closing must go on for the others
                log.exception("closing %s failed", device.name)

    def health(self) -> list[PeripheralHealth]:
        """The ``peripherals`` list of ``device.health``."""
        out = []
        for device in self.all:
            st = device.status
            h = device.health()
            kind = self.kinds.get(device.name, device.kind)
            counters = {
                _COUNTER_NAME.sub("_", k)[:64]: max(0, min(int(v), 10**9))
                for k, v in list(h.counters.items())[:32]
            }
            out.append(
                PeripheralHealth(
                    name=device.name,
                    kind=_HEALTH_KIND.get(kind, kind),  # type: ignore[arg-type]
                    state=st.state.value,
                    power=st.power.value,
                    detail=(h.detail or None) and h.detail[:100],
                    counters=counters,
                )
            )
        return out


def build_devices(tables: Mapping[str, Mapping[str, Any]] | None) -> Devices:
    """Build (not start) every configured device; raises :class:`DevicesError` on bad config."""
    devices = Devices()
    # The printer first: a drawer wired to it is kicked through it.
    ordered = sorted((tables or {}).items(), key=lambda kv: kv[1].get("kind", kv[0]) != "printer")
    for name, table in ordered:
        section = dict(table)
        kind = str(section.pop("kind", name))
        if kind not in KINDS:
            raise DevicesError(
                f"[devices.{name}]: unknown kind {kind!r}; known: {', '.join(KINDS)}"
            )
        try:
            _add(devices, kind, name, section)
        except ValueError as exc:
            raise DevicesError(f"[devices.{name}]: {exc}") from None
        devices.kinds[name] = kind
    return devices


def _add(devices: Devices, kind: str, name: str, section: dict[str, Any]) -> None:
    # Each driver is imported only when a device of its kind is configured: the drivers pull in
    # gpiozero, evdev and more, and `till run` must come back fast after a power cut on a Pi.
    # ruff: noqa: PLC0415
    if kind == "printer":
        from edge.peripherals import printer

        _only_one(devices.printer, kind)
        devices.printer = printer.build(name, section)
    elif kind == "scanner":
        from edge.peripherals import scanner

        devices.scanners.append(scanner.build(name, section))
    elif kind == "scale":
        from edge.peripherals import scale

        _only_one(devices.scale, kind)
        devices.scale = scale.build(name, section)
    elif kind == "drawer":
        from edge.peripherals import drawer

        _only_one(devices.drawer, kind)
        sink = _PrinterKick(devices.printer) if devices.printer is not None else None
        devices.drawer = drawer.build(name, section, kick_sink=sink)
    elif kind == "pole_display":
        from edge.peripherals import pole_display

        devices.displays.append(pole_display.build(name, section))
    elif kind == "ioboard":
        from edge.peripherals import ioboard

        _only_one(devices.ioboard, kind)
        devices.ioboard = ioboard.build(name, section)


class _PrinterKick:
    """The drawer's ``KickSink`` for a drawer wired to the receipt printer."""

    def __init__(self, printer: ReceiptPrinter) -> None:
        self._printer = printer

    def send_raw(self, data: bytes) -> None:
        self._printer.print_bytes(data)


def _only_one(existing: Device | None, kind: str) -> None:
    if existing is not None:
        raise ValueError(f"a till has one {kind}; {existing.name} is already configured")
