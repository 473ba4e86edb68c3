"""The customer pole display (2×20): Epson ESC/POS or CD5220 on a serial port, or simulated.

The till asks for a :class:`PoleDisplay`; :func:`build` makes one from ``[devices.<name>]``.
"""

from edge.peripherals.pole_display.codepage import CodePage, encode, fold
from edge.peripherals.pole_display.commands import (
    COMMAND_SETS,
    Cd5220Commands,
    CommandSet,
    EpsonCommands,
)
from edge.peripherals.pole_display.config import build
from edge.peripherals.pole_display.device import DisplayBackend, PoleDisplay
from edge.peripherals.pole_display.marquee import cycle_length, frame
from edge.peripherals.pole_display.serial_backend import SerialDisplayBackend
from edge.peripherals.pole_display.simulated import SimulatedDisplayBackend

__all__ = [
    "COMMAND_SETS",
    "Cd5220Commands",
    "CodePage",
    "CommandSet",
    "DisplayBackend",
    "EpsonCommands",
    "PoleDisplay",
    "SerialDisplayBackend",
    "SimulatedDisplayBackend",
    "build",
    "cycle_length",
    "encode",
    "fold",
    "frame",
]
