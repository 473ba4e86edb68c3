"""The cash drawer: kicked through GPIO or the receipt printer, or simulated.

The till asks for a :class:`CashDrawer`; :func:`build` makes one from ``[devices.<name>]``.
"""

from edge.peripherals.drawer.config import build
from edge.peripherals.drawer.device import (
    AlertListener,
    CashDrawer,
    DrawerAlert,
    DrawerBackend,
    DrawerState,
    KickRefused,
    RefusedBecause,
)
from edge.peripherals.drawer.gpio import GpioDrawerBackend
from edge.peripherals.drawer.printer_kick import (
    DLE_EOT_PRINTER_STATUS,
    KickSink,
    PrinterKickBackend,
    PrinterStatus,
    drawer_open_from_status,
    encode_kick,
)
from edge.peripherals.drawer.simulated import SimulatedDrawerBackend

__all__ = [
    "DLE_EOT_PRINTER_STATUS",
    "AlertListener",
    "CashDrawer",
    "DrawerAlert",
    "DrawerBackend",
    "DrawerState",
    "GpioDrawerBackend",
    "KickRefused",
    "KickSink",
    "PrinterKickBackend",
    "PrinterStatus",
    "RefusedBecause",
    "SimulatedDrawerBackend",
    "build",
    "drawer_open_from_status",
    "encode_kick",
]
