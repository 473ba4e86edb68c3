"""A scale driven from code, for the demo's shopper, the HIL rig and the till's own tests.

It behaves like a retail scale: it reports motion while an item settles, refuses weights over
its capacity and below zero, zeroes only a near-empty stable platter, tares a stable load, and
can be told to never settle, to fall silent, or to be unplugged.
"""

from __future__ import annotations

import threading

from edge.peripherals.base import DeviceError, PowerState
from edge.peripherals.scale.reading import Reading, ScaleState
from edge.peripherals.scale.scale import Request, Scale, Settling

ZERO_RANGE_PERCENT = 2
"""A scale may be zeroed only within ±2 % of its capacity (OIML R 76 initial zero setting)."""


class SimulatedScale(Scale):
    def __init__(
        self, name: str, settling: Settling | None = None, *, capacity_grams: int = 15_000
    ) -> None:
        super().__init__(name, settling)
        if capacity_grams < 1:
            raise ValueError("capacity_grams must be positive")
        self.capacity_grams = capacity_grams
        self._state_lock = threading.Lock()
        self._asked = threading.Condition(self._state_lock)
        self._load = 0
        self._stable = True
        self._settle_after = 0
        self._zero = 0
        self._tare = 0
        self._silent = False
        self._plugged = True
        self.requests = 0

    def open(self) -> None:
        super().open()
        self._set_power(PowerState.ONLINE if self._plugged else PowerState.OFFLINE)

    # -- what the shopper, the rig or a test does ------------------------------------------

    def set_weight(self, grams: int, *, stable: bool = True, settle_after: int = 0) -> None:
        """Put ``grams`` on the platter (gross); in motion for the next ``settle_after``
        readings, or for good if ``stable`` is false."""
        if isinstance(grams, bool) or not isinstance(grams, int):
            raise TypeError("weights are integer grams")
        with self._state_lock:
            self._load, self._stable, self._settle_after = grams, stable, settle_after

    def clear(self) -> None:
        """Take everything off."""
        self.set_weight(0)

    def set_silent(self, silent: bool) -> None:
        """Stop (or resume) answering, as a scale switched off behind its adapter does."""
        with self._state_lock:
            self._silent = silent

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """True once ``count`` requests in total have been made (for the rig and tests)."""
        with self._asked:
            return self._asked.wait_for(lambda: self.requests >= count, timeout)

    def unplug(self) -> None:
        self._plugged = False
        self._set_power(PowerState.OFFLINE, "unplugged")

    def plug(self) -> None:
        self._plugged = True
        self._set_power(PowerState.ONLINE)

    # -- the scale's side ------------------------------------------------------------------

    def _request(self, request: Request, timeout: float) -> Reading:
        with self._state_lock:
            self.requests += 1
            self._asked.notify_all()
            if not self._plugged:
                return Reading(ScaleState.NO_ANSWER, detail="offline")
            if self._silent:
                return Reading(ScaleState.NO_ANSWER, detail="no answer")
            reading = self._now()
            if request == "weight":
                return reading
            if reading.state is not ScaleState.STABLE:
                return reading  # a scale ignores zero and tare while moving or out of range
            if request == "zero":
                if abs(self._load - self._zero) * 100 <= self.capacity_grams * ZERO_RANGE_PERCENT:
                    self._zero, self._tare = self._load, 0
                return Reading(ScaleState.STABLE, net=self._tare > 0)
            if request == "tare":
                self._tare = self._load - self._zero if self._load > self._zero else 0
                return Reading(ScaleState.STABLE, net=self._tare > 0)
        raise DeviceError(f"{self.name}: unknown request {request!r}")

    def _now(self) -> Reading:
        gross = self._load - self._zero
        shown, net = gross - self._tare, self._tare > 0
        if gross > self.capacity_grams:
            return Reading(ScaleState.OVER_CAPACITY, net=net)
        if gross < 0:
            return Reading(ScaleState.UNDER_ZERO, shown, net)
        if self._settle_after > 0:
            self._settle_after -= 1
            return Reading(ScaleState.MOTION, shown, net)
        if not self._stable:
            return Reading(ScaleState.MOTION, shown, net)
        return Reading(ScaleState.STABLE, shown, net)
