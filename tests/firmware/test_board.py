"""The board's application on a virtual clock, talking to protocol.link + protocol.ioboard."""

from __future__ import annotations

import errno

import pytest

from hil.devices.mpy_shims import firmware, machine
from hil.devices.mpy_shims.bench import KeyMatrix
from protocol import framing
from protocol import ioboard as iob
from tests.firmware.rig import Rig

wire = firmware("wire")


def tap(rig: Rig, key: str, hold: int = 60, after: int = 60) -> None:
    rig.press(key)
    rig.run(hold)
    rig.release(key)
    rig.run(after)


def test_boot_says_hello_then_the_drawer_state_and_shows_the_boot_screen() -> None:
    rig = Rig(cause=wire.RESET_WATCHDOG)
    rig.run(200)
    hello, drawer = rig.received[:2]
    assert hello == iob.Hello(
        protocol=1,
        firmware=(1, 0, 0),
        reset_cause=iob.ResetCause.WATCHDOG,
        display_cols=20,
        display_lines=2,
        board_id=b"\x01\x02\x03\x04",
    )
    assert drawer == iob.DrawerEvent(open=False)
    assert rig.display.stripped() == ("tillfleet I/O 1.0.0", "waiting for till")


def test_keys_arrive_once_each_in_order() -> None:
    rig = Rig()
    rig.run(100)
    for key in ["1", "2", "00", "ENTER"]:
        tap(rig, key)
    expected = [(k, kind) for k in ["1", "2", "00", "ENTER"] for kind in ("down", "up")]
    assert rig.key_events() == expected


def test_a_held_key_repeats() -> None:
    rig = Rig(repeat_delay_ms=200, repeat_rate_ms=50)
    rig.run(100)
    tap(rig, "9", hold=420)
    kinds = [kind for _, kind in rig.key_events()]
    assert kinds[0] == "down"
    assert kinds[-1] == "up"
    assert kinds.count("repeat") == 4  # at 200, 250, 300, 350 ms after the debounced press


def test_display_clear_and_beep_from_the_till() -> None:
    rig = Rig()
    rig.run(100)
    rig.send(iob.DisplayWrite(line=0, text="Milk 1L"))
    rig.send(iob.DisplayWrite(line=1, text="TOTAL          12.50"))
    rig.run(100)
    assert rig.display.text() == ("Milk 1L".ljust(20), "TOTAL          12.50")
    rig.send(iob.Beep(freq_hz=3000, ms=80))
    rig.run(40)
    assert rig.pwm.duty_u16() == 32768
    assert rig.pwm.freq() == 3000
    rig.run(60)
    assert rig.pwm.duty_u16() == 0
    rig.send(iob.DisplayClear())
    rig.run(50)
    assert rig.display.stripped() == ("", "")


def test_drawer_changes_are_debounced_and_reported() -> None:
    rig = Rig(drawer_debounce_ms=30)
    rig.run(100)
    for level in (1, 0, 1, 0):  # a rattle shorter than the debounce time
        rig.drawer.level = level
        rig.run(5)
    rig.run(100)
    rig.drawer.level = 1
    rig.run(100)
    rig.drawer.level = 0
    rig.run(100)
    assert rig.of_type(iob.DrawerEvent) == [
        iob.DrawerEvent(open=False),  # after HELLO
        iob.DrawerEvent(open=True),
        iob.DrawerEvent(open=False),
    ]


def test_hello_again_when_the_till_asks() -> None:
    rig = Rig()
    rig.run(100)
    rig.send(iob.HelloRequest())
    rig.run(100)
    assert len(rig.of_type(iob.Hello)) == 2


def test_heartbeats_carry_uptime_and_state() -> None:
    rig = Rig(heartbeat_ms=100)
    rig.drawer.level = 1
    rig.run(2100, step=5)
    beats = rig.of_type(iob.BoardHeartbeat)
    assert len(beats) >= 15
    assert beats[-1].uptime_s == 2
    assert beats[-1].drawer_open
    assert not beats[-1].safe_state
    assert beats[-1].awaiting_display  # the till never wrote to the display
    rig.send(iob.DisplayClear())
    rig.run(300, step=5)
    assert not rig.of_type(iob.BoardHeartbeat)[-1].awaiting_display


def test_silent_till_means_safe_state_bounded_events_then_recovery() -> None:
    rig = Rig(silence_ms=500, outbox_max=4, heartbeat_ms=60_000)
    rig.run(100)
    rig.send(iob.DisplayWrite(line=0, text="Bread"))
    rig.send(iob.DisplayWrite(line=1, text="2.10"))
    rig.run(100)
    assert rig.display.stripped() == ("Bread", "2.10")
    before = len(rig.received)

    rig.till_talks = False  # the till last spoke at most 100 ms ago
    rig.run(390)
    assert not rig.board.safe
    rig.run(210)
    assert rig.board.safe
    rig.run(20)
    assert rig.display.stripped() == ("Till closed", "")
    keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"]
    for key in keys:  # 20 events; the outbox keeps 4, the link holds 1 in flight
        tap(rig, key)
    assert rig.board.dropped == 15
    assert len(rig.board.outbox) == 4

    rig.till_talks = True
    rig.send(iob.TillHeartbeat())
    rig.run(3000, step=5)
    assert not rig.board.safe
    assert rig.display.stripped() == ("Bread", "2.10")
    events = [(k, kind) for k in keys for kind in ("down", "up")]
    after = [(m.key, m.kind.value) for m in rig.received[before:] if isinstance(m, iob.KeyEvent)]
    assert after == [events[0], *events[-4:]]


def test_the_safe_state_heartbeat_reports_drops() -> None:
    rig = Rig(silence_ms=300, outbox_max=2, heartbeat_ms=200)
    rig.run(100)
    rig.till_talks = False
    rig.run(400)
    for key in ["1", "2", "3"]:
        tap(rig, key)
    rig.till_talks = True
    rig.send(iob.TillHeartbeat())
    rig.run(3000, step=5)
    beats = rig.of_type(iob.BoardHeartbeat)
    assert beats[-1].events_dropped == rig.board.dropped > 0
    assert not beats[-1].safe_state


def test_the_watchdog_is_fed_only_while_the_vital_tasks_succeed() -> None:
    rig = Rig(stall_ms=1000, silence_ms=300)
    rig.run(100)
    fed = rig.wdt.feeds
    assert fed > 0

    rig.till_talks = False  # a silent till is not a fault: still fed
    rig.i2c.fail = OSError(errno.EIO, "display gone")  # nor is a dead display
    rig.run(2000, step=5)
    assert rig.board.safe
    assert rig.wdt.feeds > fed
    assert rig.board.lcd.errors > 0

    rig.uart.fail = OSError(errno.EIO, "UART stuck")  # the link to the till is vital
    rig.run(1000, step=5)
    still = rig.wdt.feeds
    rig.run(500, step=5)
    assert rig.wdt.feeds == still  # starved: the hardware would reset the board now
    assert rig.board.health.stalled(rig.now) == ["link"]
    assert rig.board.errors["link"] > 0

    rig.uart.fail = None
    rig.run(20)
    assert rig.wdt.feeds > still


def test_a_failing_keypad_scan_also_starves_the_watchdog() -> None:
    rig = Rig(stall_ms=300)
    rig.run(100)
    rig.cols[0].fail = OSError(errno.EIO, "shorted")
    rig.run(400)
    fed = rig.wdt.feeds
    rig.run(100)
    assert rig.wdt.feeds == fed
    assert rig.board.health.stalled(rig.now) == ["keypad"]


def test_garbage_and_half_frames_on_the_uart_are_skipped_and_counted() -> None:
    rig = Rig(heartbeat_ms=100)
    rig.run(100)
    half = framing.encode_frame(framing.DATA, 9, b"\x42\x00\x03abc")[:-4]
    rig.noise = b"\xde\xad\xbe\xef\x00\x00\x13\x37" + half
    rig.send(iob.DisplayWrite(line=0, text="after noise"))
    rig.run(100)
    rig.noise = bytes(range(1, 256)) * 2  # far longer than a frame, no delimiter
    rig.send(iob.DisplayWrite(line=1, text="still fine"))
    rig.run(300)
    assert rig.display.stripped() == ("after noise", "still fine")
    decoder = rig.board.link.decoder
    assert decoder.errors() >= 3
    assert decoder.oversize == 1
    assert rig.of_type(iob.BoardHeartbeat)[-1].line_errors == rig.board.line_errors()


def test_a_valid_frame_with_a_bad_message_is_counted_and_ignored() -> None:
    rig = Rig()
    rig.run(100)
    rig.till.send(b"\x42\x07\x01x")  # display line 7
    rig.till.send(b"\x99")
    rig.send(iob.DisplayWrite(line=0, text="fine"))
    rig.run(100)
    assert rig.board.bad_messages == 2
    assert rig.display.stripped()[0] == "fine"


def test_ticks_wrap_under_a_running_board() -> None:
    rig = Rig(start=(1 << 30) - 150, heartbeat_ms=100)
    rig.run(100)
    tap(rig, "5")
    rig.run(400)
    assert rig.key_events() == [("5", "down"), ("5", "up")]
    assert rig.of_type(iob.BoardHeartbeat)


def test_main_builds_the_board_from_the_pins_in_config() -> None:
    main = firmware("main")
    machine.RESET_CAUSE = machine.WDT_RESET
    try:
        board = main.build()
    finally:
        machine.RESET_CAUSE = machine.PWRON_RESET
    assert board is not None
    assert board.reset_cause == wire.RESET_WATCHDOG
    assert board.board_id == machine.UNIQUE_ID
    assert isinstance(board.health.wdt, machine.WDT)
    assert board.health.wdt.timeout == 2000
    assert 0 <= main.now_ms() <= firmware("ticks").MASK


@pytest.mark.parametrize(("held", "expected"), [(None, False), ((0, 3), True), ((1, 3), False)])
def test_holding_clear_at_power_up_asks_for_maintenance(
    held: tuple[int, int] | None, expected: bool
) -> None:
    main = firmware("main")
    rows = [machine.Pin(r, machine.Pin.OUT, value=1) for r in range(4)]
    cols = [machine.Pin(10 + c, machine.Pin.IN, machine.Pin.PULL_UP) for c in range(5)]
    matrix = KeyMatrix(rows, cols)
    if held:
        matrix.press(*held)
    assert main.maintenance_requested(rows, cols) is expected
