"""The GPIO cash drawer on gpiozero's mock pins: pulse timing, wiring, sense edges, alerts.

Each test makes its own ``MockFactory`` and hands it to the drawer, so no global pin factory
is set and no pin state leaks between tests. ``MockPin.states`` records every level change with
the time since the previous one, which is what the pulse-length assertions read.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge.peripherals.base import DeviceError, DeviceState, Status
from edge.peripherals.drawer import (
    CashDrawer,
    DrawerState,
    GpioDrawerBackend,
    KickRefused,
    RefusedBecause,
    build,
)

KICK, SENSE = 17, 27
WAIT = 5.0


# mypy narrows a property after one assert; reading through a function keeps it honest.


def _drawer_state(drawer: CashDrawer) -> DrawerState:
    return drawer.drawer_state


def _device_state(drawer: CashDrawer) -> DeviceState:
    return drawer.status.state


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    yield f
    f.reset()


def _drawer(factory: MockFactory, **options: Any) -> CashDrawer:
    backend_opts = {
        k: options.pop(k)
        for k in ("pulse_ms", "kick_level", "sense_pin", "sense_open_level")
        if k in options
    }
    backend_opts.setdefault("sense_pin", SENSE)
    backend = GpioDrawerBackend(KICK, pin_factory=factory, **backend_opts)
    drawer = CashDrawer("drawer", backend, **options)
    drawer.open()
    drawer.claim()
    drawer.enable()
    return drawer


def _levels(pin: Any) -> list[bool]:
    return [bool(s.state) for s in pin.states]


def test_kick_drives_the_pin_high_for_the_configured_pulse(factory: MockFactory) -> None:
    drawer = _drawer(factory, pulse_ms=120)
    pin = factory.pin(KICK)
    pin.clear_states()
    try:
        drawer.kick("sale-1")
    finally:
        drawer.close()
    assert _levels(pin) == [False, True, False]
    pulse = pin.states[2].timestamp  # time from going high to going low
    assert 0.120 - 0.002 <= pulse <= 0.120 + 0.15


def test_active_low_wiring_pulses_low_and_rests_high(factory: MockFactory) -> None:
    drawer = _drawer(factory, pulse_ms=50, kick_level="low")
    pin = factory.pin(KICK)
    assert pin.state  # resting level of an active-low driver is high
    pin.clear_states()
    try:
        drawer.kick("sale-1")
    finally:
        drawer.close()
    assert _levels(pin) == [True, False, True]
    assert 0.050 - 0.002 <= pin.states[2].timestamp <= 0.050 + 0.15


def test_sense_edges_wake_wait_open_and_wait_closed(factory: MockFactory) -> None:
    drawer = _drawer(factory)
    sense = factory.pin(SENSE)
    try:
        assert _drawer_state(drawer) is DrawerState.CLOSED  # pull-up: high, switch open-level low
        assert not drawer.wait_open(0.01)
        waited: queue.Queue[bool] = queue.Queue()
        started = threading.Event()

        def waiter() -> None:
            started.set()
            waited.put(drawer.wait_open(WAIT))

        thread = threading.Thread(target=waiter)
        thread.start()
        assert started.wait(WAIT)
        sense.drive_low()
        assert waited.get(timeout=WAIT) is True
        thread.join(WAIT)
        assert _drawer_state(drawer) is DrawerState.OPEN
        assert drawer.wait_open(0)  # already open: no wait

        thread = threading.Thread(target=lambda: waited.put(drawer.wait_closed(WAIT)))
        thread.start()
        sense.drive_high()
        assert waited.get(timeout=WAIT) is True
        thread.join(WAIT)
        assert _drawer_state(drawer) is DrawerState.CLOSED
    finally:
        drawer.close()


def test_sense_open_level_high_reads_the_idle_pull_up_as_open(factory: MockFactory) -> None:
    drawer = _drawer(factory, sense_open_level="high")
    try:
        assert _drawer_state(drawer) is DrawerState.OPEN
        factory.pin(SENSE).drive_low()
        assert drawer.wait_closed(WAIT)
    finally:
        drawer.close()


def test_kick_then_sense_open_is_a_normal_open(factory: MockFactory) -> None:
    alerts: queue.Queue[str] = queue.Queue()
    drawer = _drawer(factory, pulse_ms=50, open_timeout=0.2, on_alert=alerts.put)
    try:
        drawer.kick("sale-1")
        factory.pin(SENSE).drive_low()
        assert drawer.wait_open(WAIT)
        # Past the open timeout nothing fires: the watch was cancelled by the open edge.
        with pytest.raises(queue.Empty):
            alerts.get(timeout=0.4)
        assert _device_state(drawer) is DeviceState.IDLE
        assert drawer.health().counters["opened"] == 1
    finally:
        drawer.close()


def test_did_not_open_alert_then_cleared_when_it_opens(
    factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    alerts: queue.Queue[str] = queue.Queue()
    statuses: queue.Queue[Status] = queue.Queue()
    drawer = _drawer(factory, pulse_ms=50, open_timeout=0.05, on_alert=alerts.put)
    drawer.subscribe(statuses.put)
    try:
        with caplog.at_level(logging.WARNING, logger="edge.peripherals.drawer.device"):
            drawer.kick("sale-1")
            assert alerts.get(timeout=WAIT) == "drawer did not open"
        assert "drawer did not open" in caplog.text
        while (status := statuses.get(timeout=WAIT)).detail != "drawer did not open":
            pass
        assert status.state is DeviceState.ERROR
        health = drawer.health()
        assert not health.ok
        assert health.detail == "drawer did not open"
        assert health.counters["alerts_did_not_open"] == 1

        factory.pin(SENSE).drive_low()  # opened late (the cashier used the key)
        assert _device_state(drawer) is DeviceState.IDLE
        assert drawer.status.detail == ""
        assert drawer.health().ok
    finally:
        drawer.close()


def test_left_open_alert_then_cleared_when_closed(factory: MockFactory) -> None:
    alerts: queue.Queue[str] = queue.Queue()
    drawer = _drawer(factory, left_open_after=0.05)
    drawer.on_alert(alerts.put)
    sense = factory.pin(SENSE)
    try:
        sense.drive_low()
        assert alerts.get(timeout=WAIT) == "drawer left open"
        assert drawer.status.detail == "drawer left open"
        assert drawer.health().ok  # a cashier matter, not a broken device
        sense.drive_high()
        assert drawer.status.detail == ""
        assert drawer.health().counters["alerts_left_open"] == 1
    finally:
        drawer.close()


def test_closing_in_time_raises_no_left_open_alert(factory: MockFactory) -> None:
    alerts: queue.Queue[str] = queue.Queue()
    drawer = _drawer(factory, left_open_after=0.2, on_alert=alerts.put)
    sense = factory.pin(SENSE)
    try:
        sense.drive_low()
        sense.drive_high()
        with pytest.raises(queue.Empty):
            alerts.get(timeout=0.4)
    finally:
        drawer.close()


def test_kick_is_refused_while_the_drawer_is_open(factory: MockFactory) -> None:
    drawer = _drawer(factory, pulse_ms=50)
    kick = factory.pin(KICK)
    try:
        factory.pin(SENSE).drive_low()
        kick.clear_states()
        with pytest.raises(KickRefused, match="already open") as refused:
            drawer.kick("sale-2")
        assert refused.value.because is RefusedBecause.ALREADY_OPEN
        assert _levels(kick) == [False]  # no pulse at all
        # The refused ref was not used up: once closed, the same request may open it.
        factory.pin(SENSE).drive_high()
        drawer.kick("sale-2")
        assert _levels(kick) == [False, True, False]
    finally:
        drawer.close()


def test_a_ref_opens_the_drawer_at_most_once(factory: MockFactory) -> None:
    drawer = _drawer(factory, pulse_ms=50)
    kick = factory.pin(KICK)
    sense = factory.pin(SENSE)
    kick.clear_states()
    try:
        drawer.kick("sale-1")
        sense.drive_low()
        sense.drive_high()
        with pytest.raises(KickRefused, match="already opened for sale-1") as refused:
            drawer.kick("sale-1")
        assert refused.value.because is RefusedBecause.ALREADY_KICKED
        assert _levels(kick) == [False, True, False]
        drawer.kick("sale-2")
        assert _levels(kick) == [False, True, False, True, False]
        counters = drawer.health().counters
        assert (counters["kicks"], counters["kicks_refused"], counters["pulses"]) == (2, 1, 2)
    finally:
        drawer.close()


def test_a_drawer_without_sense_kicks_and_says_its_state_is_unknown(
    factory: MockFactory,
) -> None:
    drawer = build(
        "drawer",
        {"backend": "gpio", "kick_pin": KICK, "pulse_ms": 50},
        pin_factory=factory,
    )
    drawer.open()
    drawer.claim()
    drawer.enable()
    kick = factory.pin(KICK)
    kick.clear_states()
    try:
        assert not drawer.has_sense
        drawer.kick("sale-1")
        assert _levels(kick) == [False, True, False]
        drawer.kick("sale-2")  # nothing can say it is open, so nothing refuses
        assert _drawer_state(drawer) is DrawerState.UNKNOWN
        health = drawer.health()
        assert health.ok
        assert health.detail == "no sense switch: drawer state unknown"
        with pytest.raises(DeviceError, match="no sense switch"):
            drawer.wait_open(0.01)
    finally:
        drawer.close()


def test_kick_needs_an_enabled_drawer_and_a_ref(factory: MockFactory) -> None:
    drawer = CashDrawer("drawer", GpioDrawerBackend(KICK, pin_factory=factory))
    with pytest.raises(DeviceError, match="not enabled"):
        drawer.kick("sale-1")
    drawer.open()
    drawer.claim()
    with pytest.raises(DeviceError, match="not enabled"):
        drawer.kick("sale-1")
    drawer.enable()
    try:
        with pytest.raises(ValueError, match="non-empty ref"):
            drawer.kick("")
    finally:
        drawer.close()


def test_close_releases_the_pins_so_the_drawer_can_open_again(factory: MockFactory) -> None:
    drawer = _drawer(factory, pulse_ms=50)
    drawer.close()
    assert _device_state(drawer) is DeviceState.CLOSED
    drawer.open()  # the pins are free again, or gpiozero would refuse them
    drawer.claim()
    drawer.enable()
    try:
        factory.pin(SENSE).drive_low()
        assert drawer.wait_open(WAIT)
    finally:
        drawer.close()


def test_a_pin_in_use_fails_open_with_a_device_error(factory: MockFactory) -> None:
    first = _drawer(factory)
    second = CashDrawer("drawer2", GpioDrawerBackend(KICK, pin_factory=factory))
    try:
        with pytest.raises(DeviceError, match="cannot take the drawer hardware"):
            second.open()
        assert _device_state(second) is DeviceState.CLOSED
    finally:
        first.close()


def test_a_drawer_open_at_start_up_is_seen_and_watched(factory: MockFactory) -> None:
    # With open-level high, the mock pin's pull-up makes it read open from the first moment
    # (setting the pull drives a mock pin, so a level set before open() would be overwritten).
    alerts: queue.Queue[str] = queue.Queue()
    drawer = _drawer(factory, sense_open_level="high", left_open_after=0.05, on_alert=alerts.put)
    try:
        assert _drawer_state(drawer) is DrawerState.OPEN
        assert alerts.get(timeout=WAIT) == "drawer left open"
        with pytest.raises(KickRefused):
            drawer.kick("sale-1")
    finally:
        drawer.close()


def test_gpio_backend_refuses_bad_pulse_and_shared_pins() -> None:
    with pytest.raises(ValueError, match=r"pulse_ms must be 50\.\.250"):
        GpioDrawerBackend(KICK, pulse_ms=49)
    with pytest.raises(ValueError, match=r"pulse_ms must be 50\.\.250"):
        GpioDrawerBackend(KICK, pulse_ms=251)
    with pytest.raises(ValueError, match="different pins"):
        GpioDrawerBackend(KICK, sense_pin=KICK)
