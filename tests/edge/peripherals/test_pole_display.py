"""The pole display driver against the byte-accurate emulator on a real pseudo-terminal.

Assertions are about what a customer would read on the glass (the emulator's decoded lines),
awaited on the emulator's condition, never slept for.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge.peripherals.base import DeviceError, PowerState, Status
from edge.peripherals.pole_display import (
    CodePage,
    PoleDisplay,
    SerialDisplayBackend,
    SimulatedDisplayBackend,
    build,
)
from edge.peripherals.serial_port import Backoff
from hil.devices.pole_display_emulator import PoleDisplayEmulator
from hil.devices.pty_cable import PtyCable

WAIT = 5.0
FAST = Backoff(initial=0.01, maximum=0.05)


@dataclass
class Rig:
    cable: PtyCable
    emulator: PoleDisplayEmulator
    display: PoleDisplay
    powers: queue.Queue[PowerState]


@pytest.fixture(params=["epson", "cd5220"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    command_set = request.param
    cable = PtyCable(tmp_path / "ttyPole")
    emulator = PoleDisplayEmulator(cable, command_set=command_set, code_page="cp858").start()
    display = build(
        "pole",
        {
            "backend": "serial",
            "port": str(cable.path),
            "command_set": command_set,
            "code_page": "cp858",
            "marquee_ms": 0,
        },
        backoff=FAST,
    )
    powers: queue.Queue[PowerState] = queue.Queue()
    display.subscribe(lambda s: powers.put(s.power))
    display.open()
    display.claim()
    display.enable()
    try:
        yield Rig(cable, emulator, display, powers)
    finally:
        display.close()
        emulator.stop()
        cable.close()


def _wait_power(rig: Rig, want: PowerState) -> None:
    while rig.powers.get(timeout=WAIT) is not want:
        pass


def test_show_puts_both_lines_on_the_glass(rig: Rig) -> None:
    rig.display.show("Milk 1L", "Total 1.29")
    assert rig.emulator.wait_for("Milk 1L", "Total 1.29", WAIT)
    rig.display.show("Bread", "Total 3.39")
    assert rig.emulator.wait_for("Bread", "Total 3.39", WAIT)
    assert rig.display.lines == ("Bread".ljust(20), "Total 3.39".ljust(20))
    assert rig.display.power is PowerState.ONLINE
    assert rig.display.health().ok


def test_unicode_is_shown_through_the_code_page(rig: Rig) -> None:
    rig.display.show("Crème brûlée", "寿司 €4.50")
    assert rig.emulator.wait_for("Crème brûlée", "?? €4.50", WAIT)


def test_clear_blanks_the_display(rig: Rig) -> None:
    rig.display.show("Something", "else")
    assert rig.emulator.wait_for("Something", "else", WAIT)
    rig.display.clear()
    assert rig.emulator.wait_for("", "", WAIT)


def test_marquee_frames_follow_the_tick(rig: Rig) -> None:
    name = "Organic Wildflower Honey 500g"
    rig.display.show(name, "Total 7.99")
    expected = [
        "Organic Wildflower H",  # held for two ticks so the start can be read
        "Organic Wildflower H",
        "Organic Wildflower H",
        "rganic Wildflower Ho",
        "ganic Wildflower Hon",
    ]
    for i, want in enumerate(expected):
        if i:
            rig.display.tick()
        assert rig.display.lines[0] == want
        assert len(rig.display.lines[0]) == 20
        assert rig.emulator.wait_for(want, "Total 7.99", WAIT), rig.emulator.lines


def test_marquee_runs_by_itself_on_a_timer() -> None:
    display = PoleDisplay("pole", SimulatedDisplayBackend(), marquee_interval=0.01)
    backend = display.backend
    assert isinstance(backend, SimulatedDisplayBackend)
    seen: set[str] = set()

    def three_frames(lines: tuple[str, str]) -> bool:
        seen.add(lines[0])
        return len(seen - {" " * 20}) >= 3

    with display.session():
        display.show("A long product name for the marquee", "Total 1.00")
        assert backend.wait_until(three_frames, WAIT)  # nobody called tick(): the timer did
        assert all(len(frame) == 20 for frame in seen)
        assert display.health().counters["ticks"] >= 2


def test_unplug_mid_write_then_plug_restores_the_current_lines(rig: Rig) -> None:
    rig.display.show("Before", "Total 1.00")
    assert rig.emulator.wait_for("Before", "Total 1.00", WAIT)
    # Cut the cable three bytes into the next update: the display keeps a half command.
    rig.emulator.unplug_after(3)
    rig.display.show("Half sent", "Total 2.00")
    assert rig.emulator.cut.wait(WAIT)
    _wait_power(rig, PowerState.OFFLINE)
    assert not rig.display.health().ok
    # The sale goes on while the display is away; nothing raises.
    rig.display.show("Apples", "Total 4.10")
    assert rig.display.lines[0].rstrip() == "Apples"
    assert rig.emulator.lines[0].rstrip() != "Apples"

    rig.cable.plug()
    _wait_power(rig, PowerState.ONLINE)
    assert rig.emulator.wait_for("Apples", "Total 4.10", WAIT), rig.emulator.lines
    assert rig.display.wait_written(WAIT)  # the writer has booked what it sent
    assert rig.display.health().counters["refreshes"] >= 2  # the first start and the reconnect


def test_garbage_from_the_display_is_counted_and_ignored(rig: Rig) -> None:
    rig.display.show("Ready", "")
    assert rig.emulator.wait_for("Ready", "", WAIT)
    junk = os.urandom(512) + b"\x00\xff\x1b@\r\n"
    rig.emulator.send(junk)
    backend = rig.display.backend
    assert isinstance(backend, SerialDisplayBackend)
    assert backend.wait_ignored(len(junk), WAIT)
    rig.display.show("Still", "working")
    assert rig.emulator.wait_for("Still", "working", WAIT)
    assert rig.display.health().ok
    assert rig.display.health().counters["bytes_ignored"] == len(junk)


def test_show_needs_an_enabled_display() -> None:
    display = PoleDisplay("pole", SimulatedDisplayBackend())
    with pytest.raises(DeviceError, match="not enabled"):
        display.show("x")


# -- simulated backend ------------------------------------------------------------------------


def test_simulated_display_holds_the_lines_and_survives_unplugging() -> None:
    display = build("pole", {"backend": "simulated", "code_page": "cp437", "marquee_ms": 0})
    backend = display.backend
    assert isinstance(backend, SimulatedDisplayBackend)
    statuses: queue.Queue[Status] = queue.Queue()
    display.subscribe(statuses.put)
    with display.session():
        display.show("Crème brûlée", "€ 3.20")
        assert backend.wait_for("Crème brûlée", "? 3.20", WAIT)  # CP437 has no euro sign
        backend.unplug()
        assert display.power is PowerState.OFFLINE
        display.show("Tea", "Total 5.00")  # written later
        assert backend.lines[0].rstrip() == "Crème brûlée"
        backend.plug()
        assert backend.wait_for("Tea", "Total 5.00", WAIT)
        assert display.wait_written(WAIT)
        assert display.health().counters["refreshes"] >= 2


def test_serial_display_on_a_missing_port_reports_offline_and_keeps_the_text(
    tmp_path: Path,
) -> None:
    display = build(
        "pole",
        {"backend": "serial", "port": str(tmp_path / "nothing"), "marquee_ms": 0},
        backoff=FAST,
    )
    backend = display.backend
    assert isinstance(backend, SerialDisplayBackend)
    powers: queue.Queue[PowerState] = queue.Queue()
    display.subscribe(lambda s: powers.put(s.power))
    with display.session():
        while powers.get(timeout=WAIT) is not PowerState.OFFLINE:
            pass
        display.show("Nobody", "sees this")
        assert display.lines == ("Nobody".ljust(20), "sees this".ljust(20))
        assert not display.wait_written(0.05)
        assert not display.health().ok


# -- build() ------------------------------------------------------------------------------------


def test_build_serial_with_all_keys() -> None:
    display = build(
        "customer",
        {
            "backend": "serial",
            "port": "/dev/ttyUSB0",
            "baudrate": 19200,
            "bytesize": 8,
            "parity": "N",
            "stopbits": 1,
            "command_set": "cd5220",
            "code_page": "cp858",
            "marquee_ms": 500,
        },
    )
    backend = display.backend
    assert isinstance(backend, SerialDisplayBackend)
    assert backend.settings.port == "/dev/ttyUSB0"
    assert backend.settings.baudrate == 19200
    assert backend.commands.name == "cd5220"
    assert backend.code_page is CodePage.CP858
    assert display.marquee_interval == 0.5
    assert display.name == "customer"


def test_build_defaults() -> None:
    display = build("pole", {"backend": "serial", "port": "/dev/ttyS0"})
    backend = display.backend
    assert isinstance(backend, SerialDisplayBackend)
    assert backend.settings.baudrate == 9600
    assert backend.commands.name == "epson"
    assert backend.code_page is CodePage.CP437
    assert display.marquee_interval == 0.35


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({}, "backend must be one of"),
        ({"backend": "usb"}, "backend must be one of"),
        ({"backend": "serial"}, "port is required"),
        ({"backend": "serial", "port": ""}, "port is required"),
        ({"backend": "serial", "port": "/dev/x", "baudrate": 1234}, "baudrate"),
        (
            {"backend": "serial", "port": "/dev/x", "baudrate": "9600"},
            "baudrate must be an integer",
        ),
        ({"backend": "serial", "port": "/dev/x", "parity": "X"}, "parity"),
        ({"backend": "serial", "port": "/dev/x", "stopbits": 3}, "stopbits"),
        ({"backend": "serial", "port": "/dev/x", "bytesize": 6}, "bytesize"),
        ({"backend": "serial", "port": "/dev/x", "command_set": "esc"}, "command_set must be"),
        ({"backend": "serial", "port": "/dev/x", "code_page": "utf8"}, "code_page must be"),
        ({"backend": "simulated", "marquee_ms": -1}, "marquee_ms must be"),
        ({"backend": "simulated", "marquee_ms": True}, "marquee_ms must be"),
        ({"backend": "simulated", "port": "/dev/x"}, "unknown key 'port'"),
        ({"backend": "serial", "port": "/dev/x", "colour": "green"}, "unknown key 'colour'"),
    ],
)
def test_build_names_the_bad_key(section: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        build("pole", section)
    assert "[devices.pole]" in str(err.value)
