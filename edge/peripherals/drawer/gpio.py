"""A drawer on the till's own GPIO pins: a solenoid driver on one output, the switch on an input.

gpiozero does the pin work, so the same code runs on RPi.GPIO / rpi-lgpio on a Pi and on
gpiozero's ``MockFactory`` in tests. The pin factory is passed per drawer (``None`` means
gpiozero's default), never set globally, so a test's mock pins cannot leak into another.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from typing import Any, Literal

from gpiozero import DigitalInputDevice, DigitalOutputDevice

from edge.peripherals.base import DeviceError
from edge.peripherals.drawer.device import SenseHandler

Level = Literal["high", "low"]

MIN_PULSE_MS = 50
MAX_PULSE_MS = 250
"""Drawer solenoids want 50–250 ms: shorter may not release the latch, longer heats the coil."""

Pin = int | str
"""A BCM number (17) or any name gpiozero accepts ("GPIO17", "BOARD11")."""


class GpioDrawerBackend:
    """Pulse ``kick_pin`` for ``pulse_ms``; read the switch on ``sense_pin`` with the pull-up on."""

    def __init__(
        self,
        kick_pin: Pin,
        *,
        pulse_ms: int = 100,
        kick_level: Level = "high",
        sense_pin: Pin | None = None,
        sense_open_level: Level = "low",
        pin_factory: Any = None,
    ) -> None:
        if not MIN_PULSE_MS <= pulse_ms <= MAX_PULSE_MS:
            raise ValueError(f"pulse_ms must be {MIN_PULSE_MS}..{MAX_PULSE_MS}, got {pulse_ms}")
        if sense_pin is not None and sense_pin == kick_pin:
            raise ValueError("sense_pin and kick_pin must be different pins")
        self.kick_pin = kick_pin
        self.pulse_ms = pulse_ms
        self.kick_level: Level = kick_level
        self.sense_pin = sense_pin
        self.sense_open_level: Level = sense_open_level
        self._factory = pin_factory
        self._out: Any = None
        self._sense: Any = None
        self._abort = threading.Event()
        self._pulses = 0

    @property
    def has_sense(self) -> bool:
        return self.sense_pin is not None

    def start(self, on_sense: SenseHandler) -> bool | None:
        self._abort.clear()
        self._out = DigitalOutputDevice(
            self.kick_pin,
            active_high=self.kick_level == "high",
            initial_value=False,
            pin_factory=self._factory,
        )
        if self.sense_pin is None:
            return None
        try:
            # Pull-up on: gpiozero calls the input "active" when it reads low.
            self._sense = DigitalInputDevice(
                self.sense_pin, pull_up=True, pin_factory=self._factory
            )
        except Exception:
            self._out.close()
            self._out = None
            raise
        open_when_active = self.sense_open_level == "low"
        self._sense.when_activated = lambda: on_sense(open_when_active)
        self._sense.when_deactivated = lambda: on_sense(not open_when_active)
        return bool(self._sense.is_active) == open_when_active

    def stop(self) -> None:
        self._abort.set()
        for dev in (self._sense, self._out):
            if dev is not None:
                # Closing must not raise; gpiozero releases the pin either way.
                with contextlib.suppress(Exception):
                    dev.close()
        self._sense = self._out = None

    def pulse(self) -> None:
        out = self._out
        if out is None:
            raise DeviceError("drawer GPIO is not open")
        out.on()
        try:
            # Event.wait, not sleep: stop() cuts a pulse short rather than waiting it out.
            self._abort.wait(self.pulse_ms / 1000)
        finally:
            out.off()
        self._pulses += 1

    def counters(self) -> Mapping[str, int]:
        return {"pulses": self._pulses}
