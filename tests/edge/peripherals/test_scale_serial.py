"""Serial scales over a real pseudo-terminal, against the byte-accurate HIL scale emulator."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from edge.peripherals.base import DeviceError, PowerState, Status
from edge.peripherals.scale import (
    Reading,
    ScaleError,
    ScaleState,
    SerialScale,
    Settling,
    codec,
)
from edge.peripherals.serial_port import Backoff, SerialSettings
from hil.devices.pty_cable import PtyCable
from hil.devices.scale_emulator import ScaleEmulator

WAIT = 5.0
PROTOCOLS = ["toledo8217", "adam"]


class Rig:
    def __init__(self, scale: SerialScale, emulator: ScaleEmulator) -> None:
        self.scale = scale
        self.emulator = emulator
        self.powers: queue.Queue[PowerState] = queue.Queue()
        self._last = PowerState.UNKNOWN
        scale.subscribe(self._status)

    def _status(self, status: Status) -> None:
        if status.power is not self._last:
            self._last = status.power
            self.powers.put(status.power)

    def wait_power(self, power: PowerState) -> None:
        while self.powers.get(timeout=WAIT) is not power:
            pass


@contextmanager
def rig(
    tmp_path: Path, protocol: str, *, parity_bit: bool = False, equal_readings: int = 1
) -> Iterator[Rig]:
    cable = PtyCable(tmp_path / "ttyScale")
    emulator = ScaleEmulator(cable, protocol, parity_bit=parity_bit, capacity_grams=15_000)
    scale = SerialScale(
        "scale",
        SerialSettings(str(cable.path)),
        codec(protocol),
        settling=Settling(
            equal_readings=equal_readings,
            capacity_grams=15_000,
            poll=0.01,
            answer_timeout=0.5,
        ),
        backoff=Backoff(initial=0.01, maximum=0.05),
    )
    r = Rig(scale, emulator)
    try:
        with emulator, scale.session():
            r.wait_power(PowerState.ONLINE)
            yield r
    finally:
        cable.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_settling_item_is_weighed_once_stable(tmp_path: Path, protocol: str) -> None:
    with rig(tmp_path, protocol) as r:
        r.emulator.set_weight(1234, settle_after=3)
        reading = r.scale.wait_stable(timeout=WAIT)
        assert (reading.state, reading.grams) == (ScaleState.STABLE, 1234)
        assert len(r.emulator.requests) >= 4  # three answers in motion came first
        assert r.scale.read() == Reading(ScaleState.STABLE, 1234)


def test_equal_readings_are_required_when_configured(tmp_path: Path) -> None:
    with rig(tmp_path, "toledo8217", equal_readings=3) as r:
        r.emulator.set_weight(750)
        assert r.scale.wait_stable(timeout=WAIT).grams == 750
        assert len(r.emulator.requests) >= 3  # (more only if a reply came late)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_scale_that_never_settles_fails_within_the_timeout(tmp_path: Path, protocol: str) -> None:
    with rig(tmp_path, protocol) as r:
        r.emulator.set_weight(500, stable=False)
        started = time.monotonic()
        with pytest.raises(ScaleError, match="scale not settling") as caught:
            r.scale.wait_stable(timeout=0.5)
        assert time.monotonic() - started < 0.5 + 1.0
        assert caught.value.state is ScaleState.MOTION
        assert len(r.emulator.requests) >= 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("grams", "message", "state"),
    [
        (20_000, "scale over capacity", ScaleState.OVER_CAPACITY),
        (-50, "scale under zero", ScaleState.UNDER_ZERO),
        (0, "no weight on the scale", ScaleState.STABLE),
    ],
)
def test_out_of_range_weights_are_refused(
    tmp_path: Path, protocol: str, grams: int, message: str, state: ScaleState
) -> None:
    with rig(tmp_path, protocol) as r:
        r.emulator.set_weight(grams)
        with pytest.raises(ScaleError, match=message) as caught:
            r.scale.wait_stable(timeout=0.5)
        assert caught.value.state is state


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_garbage_and_half_replies_are_skipped_and_counted(tmp_path: Path, protocol: str) -> None:
    with rig(tmp_path, protocol) as r:
        r.emulator.set_weight(2500)
        r.emulator.garbage_before_next_reply(b"\xff\x13junk\x0d")
        assert r.scale.read() == Reading(ScaleState.STABLE, 2500)
        r.emulator.half_next_reply()
        assert r.scale.read().state is ScaleState.NO_ANSWER
        assert r.scale.read() == Reading(ScaleState.STABLE, 2500)
        counters = r.scale.health().counters
        assert counters["garbage"] >= 5
        assert counters["truncated"] == 1
        assert counters["no_answer"] == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_silent_scale_goes_offline_and_comes_back(tmp_path: Path, protocol: str) -> None:
    with rig(tmp_path, protocol) as r:
        r.emulator.set_weight(300)
        r.emulator.set_silent(True)
        with pytest.raises(ScaleError, match="scale offline") as caught:
            r.scale.wait_stable(timeout=WAIT)  # gives up once marked offline, not at WAIT
        assert caught.value.state is ScaleState.NO_ANSWER
        r.wait_power(PowerState.OFFLINE)
        assert r.scale.health().detail == "scale not answering"
        r.emulator.set_silent(False)
        assert r.scale.wait_stable(timeout=WAIT).grams == 300
        r.wait_power(PowerState.ONLINE)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_pulled_cable_and_back(tmp_path: Path, protocol: str) -> None:
    with rig(tmp_path, protocol) as r:
        r.emulator.set_weight(1000)
        assert r.scale.wait_stable(timeout=WAIT).grams == 1000
        r.emulator.cable.unplug()
        r.wait_power(PowerState.OFFLINE)
        started = time.monotonic()
        with pytest.raises(ScaleError, match="scale offline"):
            r.scale.wait_stable(timeout=WAIT)
        assert time.monotonic() - started < 1.0  # no waiting out the deadline
        assert r.scale.read().state is ScaleState.NO_ANSWER
        r.emulator.cable.plug()
        r.wait_power(PowerState.ONLINE)
        assert r.scale.wait_stable(timeout=WAIT).grams == 1000


def test_adam_zero_and_tare(tmp_path: Path) -> None:
    with rig(tmp_path, "adam") as r:
        r.emulator.set_weight(120)  # an empty tray left on the platter: within 2 % of 15 kg
        assert r.scale.zero().state is ScaleState.STABLE
        assert r.scale.read() == Reading(ScaleState.STABLE, 0)
        r.emulator.set_weight(620)
        assert r.scale.tare().net
        r.emulator.set_weight(1620)
        assert r.scale.wait_stable(timeout=WAIT) == Reading(ScaleState.STABLE, 1000, net=True)


def test_toledo_zero_and_no_tare(tmp_path: Path) -> None:
    with rig(tmp_path, "toledo8217", parity_bit=True) as r:  # 7E1 bytes on an 8N1 port
        r.emulator.set_weight(40)
        assert r.scale.read() == Reading(ScaleState.STABLE, 40)
        assert r.scale.zero() == Reading(ScaleState.STABLE)
        assert r.emulator.requests[-1] == b"Z"
        r.emulator.set_weight(540)
        assert r.scale.read() == Reading(ScaleState.STABLE, 500)
        with pytest.raises(DeviceError, match="toledo8217 protocol has no tare"):
            r.scale.tare()


def test_reading_needs_an_enabled_scale(tmp_path: Path) -> None:
    cable = PtyCable(tmp_path / "ttyScale")
    scale = SerialScale("scale", SerialSettings(str(cable.path)), codec("adam"))
    try:
        with pytest.raises(DeviceError, match="not enabled"):
            scale.read()
        scale.open()
        with pytest.raises(DeviceError, match="not enabled"):
            scale.wait_stable(1)
        scale.close()
    finally:
        cable.close()
