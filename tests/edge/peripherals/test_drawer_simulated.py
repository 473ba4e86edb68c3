"""The simulated drawer the demo and the HIL rig use, and building drawers from TOML tables."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge.peripherals.base import DeviceError, DeviceState
from edge.peripherals.drawer import (
    CashDrawer,
    DrawerState,
    GpioDrawerBackend,
    KickRefused,
    PrinterKickBackend,
    SimulatedDrawerBackend,
    build,
)

WAIT = 5.0


# mypy narrows a property after one assert; reading through a function keeps it honest.


def _drawer_state(drawer: CashDrawer) -> DrawerState:
    return drawer.drawer_state


def _device_state(drawer: CashDrawer) -> DeviceState:
    return drawer.status.state


class Sink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send_raw(self, data: bytes) -> None:
        self.sent.append(data)


@pytest.fixture
def alerts() -> queue.Queue[str]:
    return queue.Queue()


@pytest.fixture
def sim(alerts: queue.Queue[str]) -> Iterator[CashDrawer]:
    drawer = build(
        "drawer",
        {"backend": "simulated", "open_delay_ms": 20, "open_timeout_ms": 500, "left_open_s": 60},
        on_alert=alerts.put,
    )
    with drawer.session():
        yield drawer


def _backend(drawer: CashDrawer) -> SimulatedDrawerBackend:
    assert isinstance(drawer.backend, SimulatedDrawerBackend)
    return drawer.backend


def test_simulated_drawer_opens_after_its_delay_and_closes_by_hand(
    sim: CashDrawer, alerts: queue.Queue[str]
) -> None:
    backend = _backend(sim)
    assert _drawer_state(sim) is DrawerState.CLOSED
    sim.kick("sale-1")
    assert sim.wait_open(WAIT)
    assert backend.is_open
    assert backend.pulses == 1
    with pytest.raises(KickRefused):
        sim.kick("sale-2")
    backend.close_by_hand()
    assert sim.wait_closed(WAIT)
    assert alerts.empty()


def test_simulated_drawer_with_no_delay_opens_within_the_kick() -> None:
    drawer = CashDrawer("drawer", SimulatedDrawerBackend(open_delay=0))
    with drawer.session():
        drawer.kick("sale-1")
        assert _drawer_state(drawer) is DrawerState.OPEN


def test_a_jammed_simulated_drawer_never_opens_and_alerts(
    sim: CashDrawer, alerts: queue.Queue[str]
) -> None:
    backend = _backend(sim)
    backend.jammed = True
    sim.kick("sale-1")
    assert alerts.get(timeout=WAIT) == "drawer did not open"
    assert _drawer_state(sim) is DrawerState.CLOSED
    assert backend.pulses == 1
    assert _device_state(sim) is DeviceState.ERROR
    backend.jammed = False  # un-jammed: a new request works and clears the error
    sim.kick("sale-1-retry")
    assert sim.wait_open(WAIT)
    assert _device_state(sim) is DeviceState.IDLE
    assert sim.status.detail == ""


def test_opened_by_key_and_left_open_alerts() -> None:
    alerts: queue.Queue[str] = queue.Queue()
    drawer = CashDrawer(
        "drawer", SimulatedDrawerBackend(), left_open_after=0.05, on_alert=alerts.put
    )
    with drawer.session():
        _backend(drawer).open_by_key()
        assert drawer.wait_open(WAIT)
        assert alerts.get(timeout=WAIT) == "drawer left open"


def test_kick_on_a_closed_simulated_backend_fails() -> None:
    with pytest.raises(DeviceError, match="not open"):
        SimulatedDrawerBackend().pulse()


# -- build() --------------------------------------------------------------------------------


def test_build_gpio_with_all_keys() -> None:
    factory = MockFactory()
    drawer = build(
        "till_drawer",
        {
            "backend": "gpio",
            "kick_pin": 17,
            "kick_level": "low",
            "pulse_ms": 200,
            "sense_pin": "GPIO27",
            "sense_open_level": "high",
            "open_timeout_ms": 3000,
            "left_open_s": 0,
        },
        pin_factory=factory,
    )
    backend = drawer.backend
    assert isinstance(backend, GpioDrawerBackend)
    assert (backend.kick_pin, backend.kick_level, backend.pulse_ms) == (17, "low", 200)
    assert (backend.sense_pin, backend.sense_open_level) == ("GPIO27", "high")
    assert drawer.open_timeout == 3.0
    assert drawer.left_open_after is None
    assert drawer.name == "till_drawer"
    with drawer.session():
        assert _drawer_state(drawer) is DrawerState.OPEN  # pull-up idle high = open here


def test_build_printer() -> None:
    sink = Sink()
    drawer = build(
        "drawer",
        {"backend": "printer", "connector": 1, "pulse_ms": 60, "off_ms": 300},
        kick_sink=sink,
    )
    assert isinstance(drawer.backend, PrinterKickBackend)
    with drawer.session():
        drawer.kick("sale-1")
    assert sink.sent == [b"\x1bp\x01\x1e\x96"]


def test_build_simulated_defaults() -> None:
    drawer = build("drawer", {"backend": "simulated"})
    backend = _backend(drawer)
    assert backend.open_delay == 0.15
    assert not backend.jammed
    assert drawer.open_timeout == 2.0
    assert drawer.left_open_after == 60.0


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({}, "backend must be a string"),
        ({"backend": "usb"}, "backend must be one of"),
        ({"backend": "gpio"}, "kick_pin is required"),
        ({"backend": "gpio", "kick_pin": 40}, "kick_pin must be a BCM pin 0..27"),
        ({"backend": "gpio", "kick_pin": True}, "kick_pin must be a BCM pin number"),
        ({"backend": "gpio", "kick_pin": 17.0}, "kick_pin must be a BCM pin number"),
        ({"backend": "gpio", "kick_pin": " "}, "kick_pin must not be empty"),
        (
            {"backend": "gpio", "kick_pin": 17, "pulse_ms": 300},
            "pulse_ms must be an integer 50..250",
        ),
        ({"backend": "gpio", "kick_pin": 17, "pulse_ms": 100.0}, "pulse_ms must be an integer"),
        ({"backend": "gpio", "kick_pin": 17, "kick_level": "up"}, "kick_level must be 'high'"),
        ({"backend": "gpio", "kick_pin": 17, "sense_pin": 17}, "different pins"),
        ({"backend": "gpio", "kick_pin": 17, "port": "/dev/x"}, "unknown key 'port'"),
        ({"backend": "gpio", "kick_pin": 17, "jammed": True}, "unknown key 'jammed'"),
        ({"backend": "simulated", "jammed": "yes"}, "jammed must be true or false"),
        ({"backend": "simulated", "open_timeout_ms": 0}, "open_timeout_ms must be an integer"),
        ({"backend": "simulated", "left_open_s": -1}, "left_open_s must be an integer"),
        ({"backend": "printer"}, "needs the receipt printer"),
    ],
)
def test_build_names_the_bad_key(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        build("drawer", section)
    if "different pins" not in message:
        assert "[devices.drawer]" in str(err.value)


def test_build_printer_rejects_bad_connector() -> None:
    with pytest.raises(ValueError, match=r"\[devices.drawer\] connector must be an integer 0..1"):
        build("drawer", {"backend": "printer", "connector": 2}, kick_sink=Sink())
