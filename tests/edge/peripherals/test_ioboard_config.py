"""The I/O board's TOML factory and its simulated backend."""

from __future__ import annotations

import queue
from typing import Any

import pytest

from edge.peripherals.base import DeviceState, PowerState
from edge.peripherals.ioboard import IoBoard, SerialIoBoard, SimulatedIoBoard, build
from protocol.ioboard import STANDARD_KEYS, KeyKind, ResetCause


def test_build_a_serial_board_with_defaults() -> None:
    board = build("keypad", {"port": "/dev/serial/by-id/usb-tillfleet-ioboard"})
    assert isinstance(board, IoBoard)
    assert board.name == "keypad"
    assert board.beep_hz == 2000
    backend = board.backend
    assert isinstance(backend, SerialIoBoard)
    assert backend.settings.baudrate == 115_200
    assert (backend.heartbeat_ms, backend.offline_ms) == (1000, 3500)


def test_build_takes_every_serial_key() -> None:
    board = build(
        "keypad",
        {
            "backend": "serial",
            "port": "/dev/ttyACM0",
            "baudrate": 57_600,
            "heartbeat_ms": 500,
            "offline_ms": 2000,
            "link_timeout_ms": 50,
            "link_retries": 0,
            "link_probe_ms": 300,
            "beep_hz": 3000,
        },
    )
    assert isinstance(board.backend, SerialIoBoard)
    assert board.backend.settings.baudrate == 57_600
    assert board.beep_hz == 3000


def test_build_a_simulated_board() -> None:
    board = build("keypad", {"backend": "simulated"})
    assert isinstance(board.backend, SimulatedIoBoard)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({}, "port"),
        ({"port": ""}, "port"),
        ({"port": 5}, "port"),
        ({"backend": "usb", "port": "/dev/x"}, "backend"),
        ({"port": "/dev/x", "baudrate": 12345}, "baudrate"),
        ({"port": "/dev/x", "baudrate": "115200"}, "baudrate"),
        ({"port": "/dev/x", "heartbeat_ms": 0}, "heartbeat_ms"),
        ({"port": "/dev/x", "heartbeat_ms": True}, "heartbeat_ms"),
        ({"port": "/dev/x", "heartbeat_ms": 1000, "offline_ms": 900}, "offline_ms"),
        ({"port": "/dev/x", "link_retries": -1}, "link_retries"),
        ({"port": "/dev/x", "beep_hz": 5}, "beep_hz"),
        ({"port": "/dev/x", "beep_hz": 30_000}, "beep_hz"),
        ({"port": "/dev/x", "baud": 9600}, "baud"),
        ({"backend": "simulated", "port": "/dev/x"}, "port"),
    ],
)
def test_build_names_the_bad_key(section: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=rf"devices\.keypad\.{key}\b"):
        build("keypad", section)


def power(board: IoBoard) -> PowerState:
    return board.power


def reset_cause(board: IoBoard) -> ResetCause | None:
    return None if board.info is None else board.info.reset_cause


def test_the_simulated_board_is_driven_like_the_real_one() -> None:
    sim = SimulatedIoBoard()
    board = IoBoard("keypad", sim)
    keys: queue.Queue[tuple[str, KeyKind]] = queue.Queue()
    drawer: queue.Queue[bool] = queue.Queue()
    board.on_key(lambda k, kind: keys.put((k, kind)))
    board.on_drawer(drawer.put)
    with board.session():
        assert power(board) is PowerState.ONLINE
        assert reset_cause(board) is ResetCause.POWER_ON
        assert drawer.get_nowait() is False
        sim.type(["1", "2", "ENTER"])
        got = [keys.get_nowait() for _ in range(6)]
        assert got == [(k, kind) for k in "12" for kind in (KeyKind.DOWN, KeyKind.UP)] + [
            ("ENTER", KeyKind.DOWN),
            ("ENTER", KeyKind.UP),
        ]
        board.show("Total", "4.20")
        assert sim.lines == ("Total", "4.20")
        assert board.beep(80)
        assert sim.beeps == [(2000, 80)]
        sim.set_drawer(True)
        assert drawer.get_nowait() is True

        sim.reset()
        assert reset_cause(board) is ResetCause.SOFT
        assert sim.lines == ("Total", "4.20")
        sim.unplug()
        assert power(board) is PowerState.OFFLINE
        assert not board.beep(80)
        board.show("Paid", "")
        assert sim.lines == ("Total", "4.20")
        sim.plug()
        assert power(board) is PowerState.ONLINE
        assert sim.lines == ("Paid", "")
        with pytest.raises(KeyError):
            sim.tap("F13")
    assert board.state is DeviceState.CLOSED
    assert set(sim.keys) == set(STANDARD_KEYS)
