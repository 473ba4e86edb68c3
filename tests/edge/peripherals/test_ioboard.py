"""The till's I/O board driver against the real firmware, emulated, on a real pty.

Every test runs ``edge.peripherals.ioboard`` over a ``SerialConnection`` to an
``IoBoardEmulator`` — the board's MicroPython firmware on shim hardware — joined by a
``PtyCable``. Nothing is mocked between the driver's bytes and the firmware's; waits are on
queues and conditions, never sleeps.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edge.peripherals.base import DeviceError, PowerState, Status
from edge.peripherals.ioboard import IoBoard, SerialIoBoard
from edge.peripherals.serial_port import Backoff, SerialSettings
from hil.devices.ioboard_emulator import IoBoardEmulator
from hil.devices.pty_cable import PtyCable
from protocol import framing
from protocol import ioboard as iob
from protocol.ioboard import ResetCause
from protocol.link import Link

WAIT = 5.0


@dataclass
class Till:
    """The device under test and what it delivered, as queues."""

    device: IoBoard
    keys: queue.Queue[tuple[str, str]] = field(default_factory=queue.Queue)
    drawer: queue.Queue[bool] = field(default_factory=queue.Queue)
    statuses: queue.Queue[Status] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        self.device.on_key(lambda key, kind: self.keys.put((key, kind.value)))
        self.device.on_drawer(self.drawer.put)
        self.device.subscribe(self.statuses.put)

    def wait_power(self, power: PowerState, timeout: float = WAIT) -> Status:
        while True:
            status = self.statuses.get(timeout=timeout)
            if status.power is power:
                return status

    def take_keys(self, n: int) -> list[tuple[str, str]]:
        return [self.keys.get(timeout=WAIT) for _ in range(n)]

    def no_more_keys(self) -> bool:
        try:
            extra = self.keys.get(timeout=0.3)
        except queue.Empty:
            return True
        pytest.fail(f"unexpected key event {extra}")


def make_device(cable: PtyCable) -> IoBoard:
    backend = SerialIoBoard(
        SerialSettings(str(cable.path), baudrate=115_200),
        heartbeat_ms=200,
        offline_ms=800,
        backoff=Backoff(initial=0.01, maximum=0.05),
    )
    return IoBoard("ioboard", backend)


@pytest.fixture
def cable(tmp_path: Path) -> Iterator[PtyCable]:
    c = PtyCable(tmp_path / "ttyIOB")
    yield c
    c.close()


@pytest.fixture
def board(cable: PtyCable) -> Iterator[IoBoardEmulator]:
    emu = IoBoardEmulator(cable, settings={"silence_ms": 1500}, watchdog_ms=1500)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def till(cable: PtyCable, board: IoBoardEmulator) -> Iterator[Till]:
    t = Till(make_device(cable))
    t.device.open()
    t.device.claim()
    t.device.enable()
    t.wait_power(PowerState.ONLINE)
    assert t.drawer.get(timeout=WAIT) is False  # the state the board reports after HELLO
    yield t
    t.device.close()


def tap(board: IoBoardEmulator, *keys: str) -> None:
    """Tap keys one after the other, each released before the next is pressed."""
    for key in keys:
        board.tap(key)
        assert board.wait_for(lambda: not board.matrix.held)


def test_the_board_introduces_itself_and_is_online(till: Till, board: IoBoardEmulator) -> None:
    info = till.device.info
    assert info is not None
    assert info.firmware == "1.0.0"
    assert info.board_id == board.board_id.hex()
    assert info.reset_cause is ResetCause.POWER_ON
    assert (info.display_cols, info.display_lines) == (20, 2)
    health = till.device.health()
    assert health.ok
    assert health.counters["hellos"] >= 1
    assert till.device.drawer_open is False


def test_key_presses_arrive_once_each_in_order(till: Till, board: IoBoardEmulator) -> None:
    tap(board, "1", "2", "00", "ENTER")
    expected = [(k, kind) for k in ["1", "2", "00", "ENTER"] for kind in ("down", "up")]
    assert till.take_keys(8) == expected
    assert till.no_more_keys()


def test_a_held_key_repeats(till: Till, board: IoBoardEmulator) -> None:
    board.press("9")
    assert till.take_keys(3) == [("9", "down"), ("9", "repeat"), ("9", "repeat")]
    board.release("9")
    while (event := till.keys.get(timeout=WAIT)) != ("9", "up"):
        assert event == ("9", "repeat")


def test_show_puts_text_on_the_display(till: Till, board: IoBoardEmulator) -> None:
    till.device.show("Milk 1L", "TOTAL 1.99")
    assert board.wait_lines("Milk 1L", "TOTAL 1.99")
    till.device.show("Café crème", "€ 2.50 ~ special\\")
    assert board.wait_lines("Cafe creme", "E 2.50 - special/")
    assert till.device.lines == ("Cafe creme", "E 2.50 - special/")


def test_beep(till: Till, board: IoBoardEmulator) -> None:
    assert till.device.beep(120)
    assert board.wait_for(lambda: bool(board.beeps))
    heard = board.beeps[0]
    assert heard.freq_hz == 2000
    assert 120 <= heard.ms < 600
    with pytest.raises(DeviceError):
        till.device.beep(0)


def test_drawer_sense(till: Till, board: IoBoardEmulator) -> None:
    board.set_drawer(True)
    assert till.drawer.get(timeout=WAIT) is True
    assert till.device.drawer_open is True
    board.set_drawer(False)
    assert till.drawer.get(timeout=WAIT) is False


def test_an_io_board_that_resets_mid_sale(till: Till, board: IoBoardEmulator) -> None:
    till.device.show("Bread", "SUBTOTAL 2.10")
    assert board.wait_lines("Bread", "SUBTOTAL 2.10")
    tap(board, "5")
    assert till.take_keys(2) == [("5", "down"), ("5", "up")]
    mark = len(board.display.instructions)

    board.reset("watchdog")

    # The reset clears the display; the driver sees the new HELLO and shows the sale again.
    assert board.wait_for(
        lambda: (
            ("cmd", 0x01) in board.display.instructions[mark:]
            and board.lines() == ("Bread", "SUBTOTAL 2.10")
        )
    )
    assert till.device.info is not None
    assert till.device.info.reset_cause is ResetCause.WATCHDOG
    tap(board, "7", "ENTER")
    assert till.take_keys(4) == [("7", "down"), ("7", "up"), ("ENTER", "down"), ("ENTER", "up")]
    assert till.no_more_keys()
    assert till.device.health().counters["peer_restarts"] >= 1


def test_a_hung_board_goes_offline_and_comes_back_after_its_watchdog(
    till: Till, board: IoBoardEmulator
) -> None:
    till.device.show("Eggs", "3.20")
    assert board.wait_lines("Eggs", "3.20")
    board.hang()
    status = till.wait_power(PowerState.OFFLINE)
    assert status.detail
    assert not till.device.health().ok
    assert not till.device.beep(50)  # a beep for a board that is away is dropped, not queued
    till.device.show("Eggs", "3.20 - PAID")  # never blocks, never raises
    till.wait_power(PowerState.ONLINE)
    assert board.boots == ["power-on", "watchdog"]
    assert board.wait_lines("Eggs", "3.20 - PAID")
    tap(board, "CASH")
    assert till.take_keys(2) == [("CASH", "down"), ("CASH", "up")]


def test_garbage_and_half_frames_on_the_line_are_skipped(
    till: Till, board: IoBoardEmulator
) -> None:
    half = framing.encode_frame(framing.DATA, 77, b"\x02\x01\x01X")[:-4]
    board.inject(b"\x00\xde\xad\xbe\xef\x00" + half)
    board.inject(bytes(range(1, 256)) * 3)  # over-long run without a delimiter
    board.inject(b"\x00" + framing.encode_frame(framing.DATA, 200, b"")[:-1] + b"\x55\x00")
    tap(board, "3")
    assert till.take_keys(2) == [("3", "down"), ("3", "up")]
    counters = till.device.health().counters
    assert counters["oversize"] >= 1
    assert counters["cobs_errors"] + counters["crc_errors"] + counters["length_errors"] >= 2
    assert till.device.health().ok


def test_unplug_and_plug_the_cable(till: Till, board: IoBoardEmulator, cable: PtyCable) -> None:
    till.device.show("Apples", "0.99")
    assert board.wait_lines("Apples", "0.99")
    cable.unplug()
    till.wait_power(PowerState.OFFLINE)
    till.device.show("Apples", "0.99 x2")
    cable.plug()
    till.wait_power(PowerState.ONLINE)
    assert board.wait_lines("Apples", "0.99 x2")
    tap(board, "QTY")
    assert till.take_keys(2) == [("QTY", "down"), ("QTY", "up")]


def test_a_closed_till_leaves_the_board_safe_and_a_new_one_takes_over(
    till: Till, board: IoBoardEmulator, cable: PtyCable
) -> None:
    till.device.show("Thank you", "")
    assert board.wait_lines("Thank you")
    till.device.close()
    assert board.wait_lines("Till closed")
    tap(board, "1")  # pressed at a closed till: queued (bounded) for whoever comes next
    assert board.board.safe

    again = Till(make_device(cable))
    again.device.open()
    again.device.claim()
    again.device.enable()
    again.wait_power(PowerState.ONLINE)
    try:
        again.device.show("Welcome", "")
        assert board.wait_lines("Welcome")
        assert not board.board.safe
        tap(board, "2")
        keys = [again.keys.get(timeout=WAIT) for _ in range(2)]
        while keys[-2:] != [("2", "down"), ("2", "up")]:
            keys.append(again.keys.get(timeout=WAIT))
        assert keys[:-2] == [("1", "down"), ("1", "up")]  # kept for the next till, once
    finally:
        again.device.close()


def test_keys_are_delivered_only_while_enabled(till: Till, board: IoBoardEmulator) -> None:
    till.device.disable()
    tap(board, "4")
    assert board.wait_for(lambda: till.device.health().counters["keys_ignored"] == 2)
    till.device.enable()
    tap(board, "6")
    assert till.take_keys(2) == [("6", "down"), ("6", "up")]
    assert till.no_more_keys()


def test_output_needs_an_enabled_device(cable: PtyCable, board: IoBoardEmulator) -> None:
    device = make_device(cable)
    with pytest.raises(DeviceError):
        device.show("x")
    device.open()
    try:
        with pytest.raises(DeviceError, match="not enabled"):
            device.beep()
    finally:
        device.close()


class ScriptedBoard:
    """The board's end played by the test with protocol.link and protocol.ioboard.

    For the case the firmware reaches only by a race: a board that restarted without the till
    seeing a new link session (its HELLO taken for a retransmission, protocol.link's known
    limit). Bytes still go over the real pty; only the board's decisions are scripted.
    """

    def __init__(self, cable: PtyCable) -> None:
        self.cable = cable
        self.link = Link()
        self.got: list[iob.TillMessage] = []

    def send(self, msg: iob.BoardMessage) -> None:
        self.link.send(iob.encode(msg))

    def pump_until(self, done: Callable[[], bool], timeout: float = WAIT) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.cable.read(0.01)
            now = time.monotonic_ns() // 1_000_000
            self.got += [iob.decode_till(p) for p in self.link.receive(data, now)]
            self.cable.write(self.link.poll(now))
            if done():
                return True
        return False

    def heartbeat(self, uptime_s: int, *, awaiting: bool = False) -> None:
        self.send(
            iob.BoardHeartbeat(
                uptime_s=uptime_s,
                events_dropped=0,
                line_errors=0,
                drawer_open=False,
                safe_state=False,
                awaiting_display=awaiting,
            )
        )

    def lines_sent_since(self, mark: int) -> set[str]:
        return {m.text for m in self.got[mark:] if isinstance(m, iob.DisplayWrite)}


def test_a_restart_the_link_could_not_show_is_caught_by_the_heartbeat(cable: PtyCable) -> None:
    scripted = ScriptedBoard(cable)
    till = Till(make_device(cable))
    till.device.open()
    till.device.claim()
    till.device.enable()
    try:
        scripted.send(
            iob.Hello(
                protocol=1,
                firmware=(1, 0, 0),
                reset_cause=ResetCause.POWER_ON,
                display_cols=20,
                display_lines=2,
                board_id=b"\x01",
            )
        )
        till.device.show("Apples", "1.00")
        assert scripted.pump_until(lambda: scripted.lines_sent_since(0) >= {"Apples", "1.00"})
        assert scripted.pump_until(lambda: till.device.power is PowerState.ONLINE)
        scripted.heartbeat(3)
        assert scripted.pump_until(lambda: scripted.link.pending == 0)

        mark = len(scripted.got)
        scripted.heartbeat(4, awaiting=True)  # no lines, yet no new HELLO came through
        assert scripted.pump_until(lambda: scripted.lines_sent_since(mark) == {"Apples", "1.00"})
        assert any(isinstance(m, iob.HelloRequest) for m in scripted.got[mark:])

        mark = len(scripted.got)
        scripted.heartbeat(1)  # uptime went backwards: it restarted
        assert scripted.pump_until(lambda: scripted.lines_sent_since(mark) == {"Apples", "1.00"})
        assert till.device.health().counters["missed_restarts"] == 2
    finally:
        till.device.close()
