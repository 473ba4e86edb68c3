"""The device model every peripheral follows, after UnifiedPOS.

A device is opened (resources found), claimed (this program owns it), enabled (it may produce
input and take output), used, then disabled, released and closed. Each step is only legal after
the one before it, so a half-started device is refused with a message instead of half-working.
Separately from that lifecycle a device has a *power* state — whether the hardware answers —
because a till must keep selling while a printer is unplugged: the driver reports ``offline``,
queues or degrades, and reconnects on its own.

Status changes are pushed to subscribers (the checkout loop, the health report) as
:class:`Status` values. Listeners run on the thread that changed the state (often a device's
reader thread), so they must only enqueue, never block.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

log = logging.getLogger(__name__)


class DeviceState(StrEnum):
    """Where the device is in its lifecycle (UnifiedPOS ``State``)."""

    CLOSED = "closed"
    IDLE = "idle"
    BUSY = "busy"
    ERROR = "error"


class PowerState(StrEnum):
    """Whether the hardware answers (UnifiedPOS ``PowerState``)."""

    UNKNOWN = "unknown"
    ONLINE = "online"
    OFFLINE = "offline"


class DeviceError(Exception):
    """A device step that cannot be done; the message is fit to show a cashier."""


@dataclass(frozen=True, slots=True)
class Status:
    """A snapshot of one device, as pushed to subscribers and shown in ``device.health``."""

    device: str
    kind: str
    state: DeviceState
    power: PowerState
    claimed: bool
    enabled: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Health:
    """The answer to a health check: fit for use or not, why, and the device's counters."""

    ok: bool
    detail: str
    counters: Mapping[str, int] = field(default_factory=dict)


Listener = Callable[[Status], None]


class Device:
    """Base class of every peripheral driver, real or simulated.

    Subclasses override the ``_on_*`` hooks (called with the lifecycle lock held, after the
    step's precondition was checked) and report hardware changes with :meth:`_set_power` and
    :meth:`_set_state`. They add their own counters by overriding :meth:`_counters`.
    """

    kind: ClassVar[str] = "device"

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._state = DeviceState.CLOSED
        self._power = PowerState.UNKNOWN
        self._claimed = False
        self._enabled = False
        self._detail = ""

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        with self._lock:
            if self._state is not DeviceState.CLOSED:
                raise DeviceError(f"{self.name} is already open")
            self._on_open()
            self._state = DeviceState.IDLE
        self._notify()

    def claim(self) -> None:
        with self._lock:
            self._require_open()
            if not self._claimed:
                self._on_claim()
                self._claimed = True
        self._notify()

    def enable(self) -> None:
        with self._lock:
            self._require_open()
            if not self._claimed:
                raise DeviceError(f"{self.name} must be claimed before it is enabled")
            if not self._enabled:
                self._on_enable()
                self._enabled = True
        self._notify()

    def disable(self) -> None:
        with self._lock:
            if self._enabled:
                self._enabled = False
                self._on_disable()
        self._notify()

    def release(self) -> None:
        with self._lock:
            if self._enabled:
                self._enabled = False
                self._on_disable()
            if self._claimed:
                self._claimed = False
                self._on_release()
        self._notify()

    def close(self) -> None:
        with self._lock:
            if self._state is DeviceState.CLOSED:
                return
            self.release()
            self._on_close()
            self._state = DeviceState.CLOSED
            self._power = PowerState.UNKNOWN
        self._notify()

    @contextmanager
    def session(self) -> Iterator[Device]:
        """Open, claim and enable for the block; disable, release and close after it."""
        self.open()
        try:
            self.claim()
            self.enable()
            yield self
        finally:
            self.close()

    # -- what subscribers see --------------------------------------------------------------

    @property
    def status(self) -> Status:
        with self._lock:
            return Status(
                device=self.name,
                kind=self.kind,
                state=self._state,
                power=self._power,
                claimed=self._claimed,
                enabled=self._enabled,
                detail=self._detail,
            )

    @property
    def state(self) -> DeviceState:
        return self._state

    @property
    def power(self) -> PowerState:
        return self._power

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every new status; returns the function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def health(self) -> Health:
        """Fit for use: open, not in error and answering. Subclasses may check more."""
        st = self.status
        if st.state is DeviceState.CLOSED:
            ok, why = False, "closed"
        elif st.state is DeviceState.ERROR:
            ok, why = False, st.detail or "error"
        elif st.power is PowerState.OFFLINE:
            ok, why = False, st.detail or "offline"
        else:
            ok, why = True, st.detail or st.power.value
        return Health(ok=ok, detail=why, counters=dict(self._counters()))

    # -- for subclasses --------------------------------------------------------------------

    def _on_open(self) -> None:
        """Find and open the hardware (may leave power unknown until it answers)."""

    def _on_claim(self) -> None:
        """Take exclusive use (grab an input device, lock a port)."""

    def _on_enable(self) -> None:
        """Start delivering input / accepting output."""

    def _on_disable(self) -> None:
        """Stop delivering input."""

    def _on_release(self) -> None:
        """Give up exclusive use."""

    def _on_close(self) -> None:
        """Free every resource; must not raise."""

    def _counters(self) -> Mapping[str, int]:
        return {}

    def _require_open(self) -> None:
        if self._state is DeviceState.CLOSED:
            raise DeviceError(f"{self.name} is not open")

    def _require_enabled(self) -> None:
        if self._state is DeviceState.CLOSED or not self._enabled:
            raise DeviceError(f"{self.name} is not enabled")

    def _set_power(self, power: PowerState, detail: str = "") -> None:
        with self._lock:
            if self._state is DeviceState.CLOSED:
                return
            changed = (power, detail) != (self._power, self._detail)
            if power is not self._power:
                log.info("device %s power %s %s", self.name, power.value, detail)
            self._power, self._detail = power, detail
        if changed:
            self._notify()

    def _set_state(self, state: DeviceState, detail: str = "") -> None:
        with self._lock:
            if self._state is DeviceState.CLOSED or state is DeviceState.CLOSED:
                return
            changed = (state, detail) != (self._state, self._detail)
            self._state, self._detail = state, detail
        if changed:
            self._notify()

    def _notify(self) -> None:
        status = self.status
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(status)
            except Exception:  # a broken subscriber must not take the device down
                log.exception("status listener of %s failed", self.name)
