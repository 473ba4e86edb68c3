"""The printer device over a real pty against the emulated printer: status, bytes, faults."""

from __future__ import annotations

import pytest

from edge.peripherals.base import DeviceError, DeviceState, PowerState
from edge.peripherals.printer import Paper
from edge.peripherals.printer.escpos_encode import drawer_kick
from tests.edge.peripherals.printer.conftest import Rig


def test_a_healthy_printer_is_ready_and_idle(rig: Rig) -> None:
    status = rig.printer.check()
    assert status.ready
    assert rig.emulator.queries == [1, 2, 4]  # error detail (3) only when n=2 reports an error
    st = rig.printer.status
    assert (st.power, st.state, st.detail) == (PowerState.ONLINE, DeviceState.IDLE, "")
    assert rig.printer.health().ok


@pytest.mark.parametrize(
    ("state", "detail"),
    [
        ({"paper": "out"}, "printer paper out - load a new roll"),
        ({"cover_open": True}, "printer cover open - close it"),
        ({"cutter_error": True}, "printer cutter jammed - open the cover and clear it"),
        ({"offline": True}, "printer offline"),
    ],
)
def test_a_printer_that_cannot_print_is_in_error_with_the_reason(
    rig: Rig, state: dict[str, object], detail: str
) -> None:
    rig.emulator.set(**state)
    status = rig.printer.check()
    assert not status.ready
    st = rig.printer.status
    assert (st.power, st.state, st.detail) == (PowerState.ONLINE, DeviceState.ERROR, detail)
    health = rig.printer.health()
    assert (health.ok, health.detail) == (False, detail)


def test_error_detail_is_asked_only_when_there_is_an_error(rig: Rig) -> None:
    rig.emulator.set(recoverable_error=True)
    assert rig.printer.check().recoverable_error
    assert rig.emulator.queries == [1, 2, 3, 4]


def test_paper_low_is_a_warning(rig: Rig) -> None:
    rig.emulator.set(paper="near_end")
    status = rig.printer.check()
    assert status.ready
    assert status.paper is Paper.NEAR_END
    assert rig.printer.status.detail == "printer paper low"
    assert rig.printer.status.state is DeviceState.IDLE


def test_noise_around_replies_is_skipped_and_counted(rig: Rig) -> None:
    rig.emulator.noise = b"\xff\x00\x80"  # none has the fixed bits of a status byte
    rig.emulator.set(paper="near_end")
    status = rig.printer.check()
    assert status.ready
    assert status.paper is Paper.NEAR_END
    assert rig.printer.health().counters["replies_skipped"] >= 3 * 3


def test_a_silent_printer_is_offline(rig: Rig) -> None:
    rig.emulator.set(answering=False)
    status = rig.printer.check()
    assert not status.answered
    st = rig.printer.status
    assert st.power is PowerState.OFFLINE
    assert st.detail == "printer not answering: no reply to a status query"
    assert rig.printer.health().counters["no_replies"] == 1
    rig.emulator.set(answering=True)
    assert rig.printer.check().ready
    assert rig.printer.status.power is PowerState.ONLINE


def test_bytes_and_drawer_kicks_arrive_exactly(rig: Rig) -> None:
    rig.printer.print_bytes(b"\x1b@hello\n")
    rig.printer.kick_drawer()
    want = b"\x1b@hello\n" + drawer_kick()
    assert rig.emulator.wait_for(lambda: bytes(rig.emulator.printed) == want)
    counters = rig.printer.health().counters
    assert (counters["jobs_written"], counters["drawer_kicks"]) == (1, 1)


def test_the_drawer_sense_pin_is_reported(rig: Rig) -> None:
    rig.emulator.set(drawer_high=True)
    assert rig.printer.check().drawer_pin3_high


def test_printing_needs_an_enabled_printer(rig: Rig) -> None:
    rig.printer.disable()
    with pytest.raises(DeviceError, match="not enabled"):
        rig.printer.print_bytes(b"x\n")
    with pytest.raises(DeviceError, match="not enabled"):
        rig.printer.kick_drawer()


def test_pulled_cable_goes_offline_and_comes_back(rig: Rig) -> None:
    rig.offline.clear()
    rig.cable.unplug()
    assert rig.offline.wait(5)
    status = rig.printer.check()
    assert not status.ready
    assert rig.printer.status.power is PowerState.OFFLINE
    assert "printer offline" in rig.printer.status.detail or "not answering" in status.reason
    with pytest.raises(DeviceError, match="offline"):
        rig.printer.print_bytes(b"x\n")

    rig.online.clear()
    rig.cable.plug()
    assert rig.online.wait(5)
    assert rig.printer.check().ready
    assert rig.printer.health().counters["reconnects"] == 1
