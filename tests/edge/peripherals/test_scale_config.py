"""Scales from TOML tables, and the simulated scale the demo and the HIL rig weigh with."""

from __future__ import annotations

import threading
import time
import tomllib
from typing import Any

import pytest

from edge.peripherals.base import DeviceError, PowerState
from edge.peripherals.scale import (
    Reading,
    ScaleError,
    ScaleState,
    SerialScale,
    Settling,
    SimulatedScale,
    SubGram,
    Unit,
    build,
)
from edge.peripherals.scale.adam import Adam
from edge.peripherals.scale.toledo8217 import Toledo8217

TOML = """
[devices.scale]
backend = "serial"
port = "/dev/serial/by-id/usb-FTDI-if00-port0"
protocol = "toledo8217"
unit = "g"
sub_gram = "round_down"
equal_readings = 2
min_grams = 20
capacity_grams = 6000
answer_timeout_ms = 300
poll_ms = 50

[devices.adam]
backend = "serial"
port = "/dev/ttyUSB1"
protocol = "adam"
baudrate = 4800
parity = "E"
bytesize = 7

[devices.demo_scale]
backend = "simulated"
capacity_grams = 30000
"""


def test_build_from_toml() -> None:
    devices = tomllib.loads(TOML)["devices"]
    scale = build("scale", devices["scale"])
    assert isinstance(scale, SerialScale)
    assert isinstance(scale.codec, Toledo8217)
    assert (scale.codec.unit, scale.codec.sub_gram) == (Unit.G, SubGram.ROUND_DOWN)
    s = scale.settings
    assert (s.baudrate, s.bytesize, s.parity, s.stopbits) == (9600, 7, "E", 1)  # 8217's own
    assert scale.settling == Settling(
        equal_readings=2, min_grams=20, capacity_grams=6000, poll=0.05, answer_timeout=0.3
    )
    adam = build("adam", devices["adam"])
    assert isinstance(adam, SerialScale)
    assert isinstance(adam.codec, Adam)
    a = adam.settings
    assert (a.baudrate, a.bytesize, a.parity, a.stopbits) == (4800, 7, "E", 1)
    demo = build("demo_scale", devices["demo_scale"])
    assert isinstance(demo, SimulatedScale)
    assert demo.capacity_grams == 30000


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({}, r"devices\.s\.backend must be one of serial, simulated"),
        ({"backend": "serial", "port": "/dev/x"}, r"devices\.s\.protocol is required"),
        ({"backend": "serial", "protocol": "adam"}, r"devices\.s\.port is required"),
        (
            {"backend": "serial", "port": "/dev/x", "protocol": "dialog06"},
            r"devices\.s\.protocol must be one of toledo8217, adam",
        ),
        ({"backend": "serial", "port": "/dev/x", "protocol": "adam", "unit": "lb"}, r"\.unit"),
        (
            {"backend": "serial", "port": "/dev/x", "protocol": "adam", "sub_gram": "round"},
            r"\.sub_gram",
        ),
        ({"backend": "serial", "port": "/dev/x", "protocol": "adam", "baudrate": 1}, r"baudrate"),
        (
            {"backend": "serial", "port": "/dev/x", "protocol": "adam", "baudrate": 14401},
            r"devices\.s\.baudrate: unsupported baud rate",
        ),
        ({"backend": "simulated", "capacity_grams": 0}, r"devices\.s\.capacity_grams"),
        ({"backend": "simulated", "capacity_grams": 15.5}, r"devices\.s\.capacity_grams"),
        ({"backend": "simulated", "min_grams": 100, "capacity_grams": 50}, r"devices\.s\.min_gram"),
        ({"backend": "simulated", "equal_readings": True}, r"devices\.s\.equal_readings"),
        ({"backend": "simulated", "port": "/dev/x"}, r"unknown key 'port'"),
        ({"backend": "simulated", "timeout": 3}, r"unknown key 'timeout'"),
    ],
)
def test_bad_config_names_the_key(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build("s", section)


def _simulated(**settling: Any) -> SimulatedScale:
    defaults: dict[str, Any] = {"poll": 0.005, "capacity_grams": 15_000}
    return SimulatedScale("scale", Settling(**(defaults | settling)), capacity_grams=15_000)


def test_a_shopper_weighs_apples() -> None:
    scale = _simulated()
    with scale.session():
        assert scale.power is PowerState.ONLINE
        scale.set_weight(1234, settle_after=2)
        assert scale.read() == Reading(ScaleState.MOTION, 1234)
        assert scale.wait_stable(timeout=5) == Reading(ScaleState.STABLE, 1234)
        assert scale.requests == 3


def test_equal_readings_wait_for_the_weight_to_stop_changing() -> None:
    scale = _simulated(equal_readings=3)
    with scale.session():
        scale.set_weight(800)
        assert scale.wait_stable(timeout=5).grams == 800
        assert scale.requests == 3


def test_never_settling_raises_within_the_timeout() -> None:
    scale = _simulated()
    with scale.session():
        scale.set_weight(800, stable=False)
        started = time.monotonic()
        with pytest.raises(ScaleError, match="scale not settling"):
            scale.wait_stable(timeout=0.2)
        assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("grams", "message"),
    [
        (15_001, "scale over capacity"),
        (-1, "scale under zero"),
        (0, "no weight on the scale"),
        (19, "no weight on the scale"),
    ],
)
def test_out_of_range(grams: int, message: str) -> None:
    scale = _simulated(min_grams=20)
    with scale.session():
        scale.set_weight(grams)
        with pytest.raises(ScaleError, match=message):
            scale.wait_stable(timeout=0.05)


def test_capacity_configured_below_the_scales_own() -> None:
    scale = _simulated(capacity_grams=6000)
    with scale.session():
        scale.set_weight(6001)  # the scale itself goes to 15 kg
        with pytest.raises(ScaleError, match="scale over capacity") as caught:
            scale.wait_stable(timeout=0.05)
        assert caught.value.state is ScaleState.OVER_CAPACITY


def test_silent_unplugged_and_back() -> None:
    scale = _simulated()
    with scale.session():
        scale.set_weight(500)
        scale.set_silent(True)
        with pytest.raises(ScaleError, match="scale offline"):
            scale.wait_stable(timeout=0.05)
        scale.set_silent(False)
        scale.unplug()
        assert scale.status.power is PowerState.OFFLINE
        started = time.monotonic()
        with pytest.raises(ScaleError, match="scale offline"):
            scale.wait_stable(timeout=5)
        assert time.monotonic() - started < 1.0
        scale.plug()
        assert scale.wait_stable(timeout=5).grams == 500


def test_zero_and_tare() -> None:
    scale = _simulated()
    with scale.session():
        scale.set_weight(250)
        assert scale.zero() == Reading(ScaleState.STABLE)
        assert scale.read() == Reading(ScaleState.STABLE, 0)
        scale.set_weight(1250)
        assert scale.zero() == Reading(ScaleState.STABLE)  # 1 kg is beyond the zero range
        assert scale.read().grams == 1000
        assert scale.tare() == Reading(ScaleState.STABLE, net=True)
        scale.set_weight(1750)
        assert scale.wait_stable(timeout=5) == Reading(ScaleState.STABLE, 500, net=True)


def test_closing_interrupts_a_wait() -> None:
    scale = _simulated(poll=10.0)
    scale.open()
    scale.claim()
    scale.enable()
    scale.set_weight(100, stable=False)
    errors: list[BaseException] = []
    waiting = threading.Thread(target=lambda: _catch(scale, errors))
    waiting.start()
    assert scale.wait_for_requests(1, timeout=5)  # asked once, now pausing 10 s
    scale.close()
    waiting.join(timeout=5)
    assert not waiting.is_alive()
    assert isinstance(errors[0], DeviceError)
    assert "closed while weighing" in str(errors[0])


def _catch(scale: SimulatedScale, errors: list[BaseException]) -> None:
    try:
        scale.wait_stable(timeout=30)
    except DeviceError as exc:
        errors.append(exc)


def test_weights_are_integer_grams() -> None:
    scale = _simulated()
    with pytest.raises(TypeError, match="integer grams"):
        scale.set_weight(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="integer grams"):
        scale.set_weight(True)


def test_a_protocol_without_stability_flag_needs_repeated_equal_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    section = {"backend": "serial", "port": "/dev/x", "protocol": "toledo8217"}
    assert build("s", section).settling.equal_readings == 1
    monkeypatch.setattr(Toledo8217, "reports_stability", False)
    assert build("s", section).settling.equal_readings == 3
    assert build("s", {**section, "equal_readings": 5}).settling.equal_readings == 5
