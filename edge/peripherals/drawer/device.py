"""The cash drawer as the till sees it, whatever opens it.

A drawer holds the shop's cash, so two rules outrank convenience. **At most once**: one request
(a sale's cash tender, a manager's "no sale") opens the drawer at most once, so :meth:`kick`
remembers every ``ref`` it was given in this process and refuses a repeat — the till also
records the effect in SQLite, this is the second lock on the door. **Never while open**: a
kick while the sense switch reports the drawer open is refused, because a second pulse cannot
do anything useful and hides that the cashier left it open.

The drawer raises two alerts, each logged, put in the status detail and handed to
:meth:`CashDrawer.on_alert` listeners: *did not open* (a kick was not followed by the sense
switch reporting open in time: jammed, locked by key, unplugged) and *left open* (open longer
than the configured time). A drawer without a sense switch can only be kicked; its state is
``unknown`` and its health says so.

How the solenoid is energised and how the switch is read is a :class:`DrawerBackend`: GPIO
pins, the receipt printer's RJ11 port, or a simulation.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import ClassVar, Protocol

from edge.peripherals.base import Device, DeviceError, DeviceState, Health, PowerState

log = logging.getLogger(__name__)

SenseHandler = Callable[[bool], None]
"""Told ``True`` when the sense switch reports the drawer open, ``False`` when closed."""

AlertListener = Callable[[str], None]

_NO_SENSE = "no sense switch: drawer state unknown"


class DrawerState(StrEnum):
    """What the sense switch says; ``unknown`` without a switch (or before it answered)."""

    OPEN = "open"
    CLOSED = "closed"
    UNKNOWN = "unknown"


class DrawerAlert(StrEnum):
    """The alert messages (a ``str``, so listeners may treat them as plain text)."""

    DID_NOT_OPEN = "drawer did not open"
    LEFT_OPEN = "drawer left open"


_ALERT_TEXTS = frozenset(a.value for a in DrawerAlert)


class RefusedBecause(StrEnum):
    ALREADY_KICKED = "already_kicked"
    ALREADY_OPEN = "already_open"


class KickRefused(DeviceError):  # noqa: N818 - a refusal is an outcome, as checkout's Refused
    """A kick that was not attempted; ``because`` tells the till whether the effect is done."""

    def __init__(self, message: str, because: RefusedBecause) -> None:
        super().__init__(message)
        self.because = because


class DrawerBackend(Protocol):
    """What opens the drawer and reads its switch; :class:`CashDrawer` does the rest."""

    @property
    def has_sense(self) -> bool:
        """Whether :meth:`start`'s handler will ever be called."""
        ...

    def start(self, on_sense: SenseHandler) -> bool | None:
        """Take the hardware; return the switch's current reading (``None``: no switch).

        Raises :class:`DeviceError` when the hardware cannot be taken.
        """
        ...

    def stop(self) -> None:
        """Free the hardware; must not raise."""
        ...

    def pulse(self) -> None:
        """Energise the solenoid once; raises :class:`DeviceError` if it could not be sent."""
        ...

    def counters(self) -> Mapping[str, int]: ...


class _Alarm:
    """A one-shot timer that can be re-armed and cancelled without racing its own firing."""

    def __init__(self, name: str, fire: Callable[[], None]) -> None:
        self._name = name
        self._fire = fire
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._generation = 0

    def arm(self, seconds: float) -> None:
        with self._lock:
            self._cancel_locked()
            generation = self._generation
            timer = threading.Timer(seconds, self._expired, args=(generation,))
            timer.name = self._name
            timer.daemon = True
            self._timer = timer
            timer.start()

    def cancel(self) -> None:
        with self._lock:
            self._cancel_locked()

    def _cancel_locked(self) -> None:
        self._generation += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return  # cancelled or re-armed after this timer was started
            self._timer = None
        self._fire()


class CashDrawer(Device):
    """One cash drawer: kick it, wait for it, hear when something is wrong."""

    kind: ClassVar[str] = "cash_drawer"

    REMEMBERED_REFS = 50_000
    """How many kicked refs are kept (oldest forgotten first): weeks of sales on one till.
    Bounded so a till that runs for months does not grow without end; the SQLite effects table
    is the durable record, this set only guards against a retry within the process."""

    def __init__(
        self,
        name: str,
        backend: DrawerBackend,
        *,
        open_timeout: float = 2.0,
        left_open_after: float | None = 60.0,
        on_alert: AlertListener | None = None,
    ) -> None:
        super().__init__(name)
        if open_timeout <= 0:
            raise ValueError("open_timeout must be > 0 seconds")
        if left_open_after is not None and left_open_after <= 0:
            raise ValueError("left_open_after must be > 0 seconds or None (no alert)")
        self.backend = backend
        self.open_timeout = open_timeout
        self.left_open_after = left_open_after
        self._cond = threading.Condition()
        self._kick_lock = threading.Lock()
        self._sense_lock = threading.Lock()
        self._drawer = DrawerState.UNKNOWN  # the latest reading: what kick() checks
        self._settled = DrawerState.UNKNOWN  # the reading once fully applied: what waiters see
        self._kicked: OrderedDict[str, None] = OrderedDict()
        self._awaiting_open = False
        self._alert_listeners: list[AlertListener] = [on_alert] if on_alert else []
        self._not_opened = _Alarm(f"{name} open watch", self._did_not_open)
        self._left_open = _Alarm(f"{name} left-open watch", self._was_left_open)
        self._counts = {
            "kicks": 0,
            "kicks_refused": 0,
            "kick_failures": 0,
            "opened": 0,
            "alerts_did_not_open": 0,
            "alerts_left_open": 0,
        }

    # -- what the till uses ----------------------------------------------------------------

    @property
    def has_sense(self) -> bool:
        return self.backend.has_sense

    @property
    def drawer_state(self) -> DrawerState:
        with self._cond:
            return self._drawer

    def kick(self, ref: str) -> None:
        """Open the drawer for request ``ref``, at most once per ref.

        Raises :class:`KickRefused` (nothing was sent) for a ref already kicked or a drawer
        already open, and :class:`DeviceError` when the pulse could not be sent — the ref then
        stays used, because a pulse that may have gone out must not be repeated; the till falls
        back to "open by key".
        """
        if not isinstance(ref, str) or not ref:
            raise ValueError("a kick needs a non-empty ref (the request it belongs to)")
        self._require_enabled()
        with self._kick_lock:
            with self._cond:
                if ref in self._kicked:
                    self._counts["kicks_refused"] += 1
                    raise KickRefused(
                        f"{self.name} was already opened for {ref}", RefusedBecause.ALREADY_KICKED
                    )
                if self._drawer is DrawerState.OPEN:
                    self._counts["kicks_refused"] += 1
                    raise KickRefused(
                        f"{self.name} is already open; close it first", RefusedBecause.ALREADY_OPEN
                    )
                self._kicked[ref] = None
                while len(self._kicked) > self.REMEMBERED_REFS:
                    self._kicked.popitem(last=False)
                self._awaiting_open = self.has_sense
            try:
                self.backend.pulse()
            except Exception as exc:  # DeviceError, or a pin library's / printer's own
                with self._cond:
                    self._awaiting_open = False
                    self._counts["kick_failures"] += 1
                log.warning("drawer %s: kick for %s failed: %s", self.name, ref, exc)
                self._set_power(PowerState.OFFLINE, f"kick failed: {exc}")
                if isinstance(exc, DeviceError):
                    raise
                raise DeviceError(f"{self.name}: kick failed: {exc}") from exc
            with self._cond:
                self._counts["kicks"] += 1
                watch = self._awaiting_open
        log.info("drawer %s kicked for %s", self.name, ref)
        if self.power is not PowerState.ONLINE:
            self._set_power(PowerState.ONLINE, self._idle_detail())
        if watch:
            self._not_opened.arm(self.open_timeout)

    def wait_open(self, timeout: float) -> bool:
        """True once the switch reports open (at once if it already does), False on timeout."""
        return self._wait_for(DrawerState.OPEN, timeout)

    def wait_closed(self, timeout: float) -> bool:
        """True once the switch reports closed (at once if it already does), False on timeout."""
        return self._wait_for(DrawerState.CLOSED, timeout)

    def on_alert(self, listener: AlertListener) -> Callable[[], None]:
        """Call ``listener(message)`` for every alert (on a timer thread: only enqueue)."""
        with self._cond:
            self._alert_listeners.append(listener)

        def unsubscribe() -> None:
            with self._cond:
                if listener in self._alert_listeners:
                    self._alert_listeners.remove(listener)

        return unsubscribe

    def health(self) -> Health:
        base = super().health()
        if base.ok and not self.has_sense:
            return Health(ok=True, detail=_NO_SENSE, counters=base.counters)
        return base

    # -- lifecycle ---------------------------------------------------------------------------

    def _on_open(self) -> None:
        try:
            reading = self.backend.start(self._sensed)
        except DeviceError:
            raise
        except Exception as exc:  # a driver library's own error type, e.g. a pin in use
            raise DeviceError(f"{self.name}: cannot take the drawer hardware: {exc}") from exc
        self._power = PowerState.ONLINE
        self._detail = self._idle_detail()
        if reading is not None:
            # Set directly, not through _sensed: this runs under the lifecycle lock, which a
            # reading arriving on a callback thread may be waiting for while it holds _sense_lock.
            state = DrawerState.OPEN if reading else DrawerState.CLOSED
            with self._cond:
                self._drawer = self._settled = state
                self._cond.notify_all()
            if reading and self.left_open_after is not None:
                self._left_open.arm(self.left_open_after)

    def close(self) -> None:
        # The backend is stopped before the lifecycle lock is taken: stopping joins threads
        # (a status poll, gpiozero's callback thread) that may be waiting for that very lock
        # to report a reading, and joining them while holding it would deadlock.
        self._not_opened.cancel()
        self._left_open.cancel()
        self.backend.stop()
        super().close()

    def _on_close(self) -> None:
        self._not_opened.cancel()
        self._left_open.cancel()
        with self._cond:
            self._drawer = self._settled = DrawerState.UNKNOWN
            self._awaiting_open = False
            self._cond.notify_all()

    def _counters(self) -> Mapping[str, int]:
        with self._cond:
            counts = dict(self._counts)
        counts.update(self.backend.counters())
        return counts

    # -- the sense switch and the alarms -----------------------------------------------------

    def _sensed(self, is_open: bool) -> None:
        """Called by the backend (often on a GPIO callback thread) with each reading.

        Waiters are woken last, after the status is updated, so whoever returns from
        :meth:`wait_open` sees a status that already agrees with the drawer.
        """
        new = DrawerState.OPEN if is_open else DrawerState.CLOSED
        with self._sense_lock:
            with self._cond:
                if new is self._drawer:
                    return
                self._drawer = new
                if is_open:
                    self._awaiting_open = False
                    self._counts["opened"] += 1
            log.info("drawer %s %s", self.name, new.value)
            if is_open:
                self._not_opened.cancel()
                if self.left_open_after is not None:
                    self._left_open.arm(self.left_open_after)
            else:
                self._left_open.cancel()
            if self.status.detail in _ALERT_TEXTS:
                # The drawer answered: clear a "did not open" / "left open" now out of date.
                self._set_state(DeviceState.IDLE, self._idle_detail())
            with self._cond:
                self._settled = new
                self._cond.notify_all()

    def _did_not_open(self) -> None:
        with self._cond:
            if not self._awaiting_open:
                return
            self._awaiting_open = False
            self._counts["alerts_did_not_open"] += 1
        self._alert(DrawerAlert.DID_NOT_OPEN, DeviceState.ERROR)

    def _was_left_open(self) -> None:
        with self._cond:
            if self._drawer is not DrawerState.OPEN:
                return
            self._counts["alerts_left_open"] += 1
        self._alert(DrawerAlert.LEFT_OPEN, DeviceState.IDLE)

    def _alert(self, alert: DrawerAlert, state: DeviceState) -> None:
        log.warning("drawer %s: %s", self.name, alert.value)
        self._set_state(state, alert.value)
        with self._cond:
            listeners = list(self._alert_listeners)
        for listener in listeners:
            try:
                listener(alert.value)
            except Exception:  # one broken listener must not silence the others
                log.exception("alert listener of %s failed", self.name)

    def _wait_for(self, wanted: DrawerState, timeout: float) -> bool:
        if not self.has_sense:
            raise DeviceError(f"{self.name} has no sense switch; its state is unknown")
        with self._cond:
            return self._cond.wait_for(lambda: self._settled is wanted, timeout)

    def _idle_detail(self) -> str:
        return "" if self.has_sense else _NO_SENSE
