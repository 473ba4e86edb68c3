"""The printer-kick drawer: ESC p encoding, DLE EOT 1 decoding, and the backend on a sink.

The sink stands in for the receipt printer driver (written separately), which implements the
one-method ``KickSink`` protocol; here it records the bytes a real printer would receive.
"""

from __future__ import annotations

import queue
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.peripherals.base import DeviceError, DeviceState, PowerState
from edge.peripherals.drawer import (
    DLE_EOT_PRINTER_STATUS,
    CashDrawer,
    DrawerState,
    KickRefused,
    PrinterKickBackend,
    drawer_open_from_status,
    encode_kick,
)

WAIT = 5.0


# mypy narrows a property after one assert; reading through a function keeps it honest.


def _drawer_state(drawer: CashDrawer) -> DrawerState:
    return drawer.drawer_state


def _power(drawer: CashDrawer) -> PowerState:
    return drawer.power


def _device_state(drawer: CashDrawer) -> DeviceState:
    return drawer.status.state


CLOSED_BYTE = 0x12  # fixed bits only: pin 3 low
OPEN_BYTE = 0x16  # pin 3 high


class RecordingPrinter:
    """Takes raw bytes like the printer driver's ``send_raw``; can be switched off."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.online = True

    def send_raw(self, data: bytes) -> None:
        if not self.online:
            raise DeviceError("printer is offline")
        self.sent.append(data)


class StatusByte:
    """The printer's answer to DLE EOT 1, settable by the test; counts the questions."""

    def __init__(self, value: int | None) -> None:
        self._cond = threading.Condition()
        self._value = value
        self._calls = 0
        self._mark = 0

    def set(self, value: int | None) -> None:
        with self._cond:
            self._value = value
            self._mark = self._calls

    def __call__(self) -> int | None:
        with self._cond:
            self._calls += 1
            self._cond.notify_all()
            return self._value

    def wait_answered(self, times: int) -> None:
        """Until the poll has asked ``times`` times since the last :meth:`set`.

        The poll is one thread, so by the second question the first answer has been handled.
        """
        with self._cond:
            assert self._cond.wait_for(lambda: self._calls - self._mark >= times, WAIT)


def _enabled(drawer: CashDrawer) -> CashDrawer:
    drawer.open()
    drawer.claim()
    drawer.enable()
    return drawer


# -- ESC p ------------------------------------------------------------------------------------


def test_encode_kick_matches_the_bytes_python_escpos_sends() -> None:
    # The bytes python-escpos names CD_KICK_2 and CD_KICK_5 (Epson's pins 2 and 5, 100 ms).
    assert encode_kick(0, 100) == b"\x1bp\x00\x32\x32"
    assert encode_kick(1, 100) == b"\x1bp\x01\x32\x32"


@given(
    connector=st.sampled_from([0, 1]),
    on_ms=st.integers(1, 510),
    off_ms=st.none() | st.integers(1, 510),
)
def test_encode_kick_never_shortens_the_pulse_or_the_rest(
    connector: int, on_ms: int, off_ms: int | None
) -> None:
    data = encode_kick(connector, on_ms, off_ms)
    assert len(data) == 5
    assert data[:2] == b"\x1bp"
    assert data[2] == connector
    t1, t2 = data[3], data[4]
    assert 0 <= t1 * 2 - on_ms < 2  # rounded up to the 2 ms unit, by less than one unit
    assert t2 >= t1
    assert t2 * 2 >= (on_ms if off_ms is None else off_ms)


@pytest.mark.parametrize(
    ("connector", "on_ms", "off_ms", "message"),
    [
        (2, 100, None, "connector must be 0"),
        (-1, 100, None, "connector must be 0"),
        (0, 0, None, "on_ms must be an int 1..510"),
        (0, 511, None, "on_ms must be an int 1..510"),
        (0, True, None, "on_ms must be an int"),
        (0, 100, 0, "off_ms must be an int 1..510"),
        (0, 100, 600, "off_ms must be an int 1..510"),
    ],
)
def test_encode_kick_refuses_what_the_printer_cannot_do(
    connector: int, on_ms: int, off_ms: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        encode_kick(connector, on_ms, off_ms)


# -- DLE EOT 1 --------------------------------------------------------------------------------


def test_the_status_query_is_dle_eot_1() -> None:
    assert DLE_EOT_PRINTER_STATUS == b"\x10\x04\x01"


@given(st.integers(0, 255))
def test_status_bit_2_is_read_only_from_a_well_formed_reply(status: int) -> None:
    well_formed = status & 0b1001_0011 == 0b0001_0010
    high = drawer_open_from_status(status, "high")
    low = drawer_open_from_status(status, "low")
    if not well_formed:
        assert high is None
        assert low is None
    else:
        assert high is bool(status & 0x04)
        assert low is (not status & 0x04)


def test_status_examples() -> None:
    assert drawer_open_from_status(OPEN_BYTE, "high") is True
    assert drawer_open_from_status(CLOSED_BYTE, "high") is False
    assert drawer_open_from_status(CLOSED_BYTE | 0x08, "low") is True  # offline bit is ignored
    assert drawer_open_from_status(0x00, "high") is None
    assert drawer_open_from_status(0xFF, "high") is None
    assert drawer_open_from_status(0x1_12, "high") is None  # not a byte


# -- the backend --------------------------------------------------------------------------------


def test_kick_sends_esc_p_through_the_printer_once_per_ref() -> None:
    printer = RecordingPrinter()
    drawer = _enabled(
        CashDrawer("drawer", PrinterKickBackend(printer, connector=1, pulse_ms=120, off_ms=200))
    )
    try:
        drawer.kick("sale-1")
        assert printer.sent == [b"\x1bp\x01\x3c\x64"]
        with pytest.raises(KickRefused):
            drawer.kick("sale-1")
        assert len(printer.sent) == 1
        assert not drawer.has_sense
        assert _drawer_state(drawer) is DrawerState.UNKNOWN
        assert drawer.health().detail == "no sense switch: drawer state unknown"
    finally:
        drawer.close()


def test_an_offline_printer_fails_the_kick_and_the_ref_stays_used() -> None:
    printer = RecordingPrinter()
    printer.online = False
    drawer = _enabled(CashDrawer("drawer", PrinterKickBackend(printer)))
    try:
        with pytest.raises(DeviceError, match="printer is offline"):
            drawer.kick("sale-1")
        assert _power(drawer) is PowerState.OFFLINE
        assert not drawer.health().ok
        assert drawer.health().counters["kick_failures"] == 1
        printer.online = True
        # The first attempt may have reached the printer: never pulse twice for one request.
        with pytest.raises(KickRefused, match="already opened"):
            drawer.kick("sale-1")
        drawer.kick("no-sale-7")
        assert printer.sent == [encode_kick(0, 100)]
        assert _power(drawer) is PowerState.ONLINE
        assert drawer.health().ok
    finally:
        drawer.close()


def test_status_polling_reads_the_drawer_and_skips_garbage() -> None:
    printer = RecordingPrinter()
    status = StatusByte(CLOSED_BYTE)
    backend = PrinterKickBackend(printer, status=status, poll_interval=0.005)
    drawer = _enabled(CashDrawer("drawer", backend, open_timeout=WAIT))
    try:
        assert drawer.has_sense
        assert _drawer_state(drawer) is DrawerState.CLOSED
        drawer.kick("sale-1")
        status.set(OPEN_BYTE)
        assert drawer.wait_open(WAIT)

        status.set(0xFF)  # not a DLE EOT 1 reply: must not be read as "closed"
        status.wait_answered(2)
        status.set(None)  # no answer
        status.wait_answered(2)
        assert _drawer_state(drawer) is DrawerState.OPEN
        counters = drawer.health().counters
        assert counters["status_bad"] >= 1
        assert counters["status_missing"] >= 1

        status.set(CLOSED_BYTE)
        assert drawer.wait_closed(WAIT)
    finally:
        drawer.close()


def test_a_status_callable_that_raises_does_not_stop_the_poll() -> None:
    calls = threading.Semaphore(0)
    answers: queue.Queue[int] = queue.Queue()

    def flaky() -> int:
        calls.release()
        try:
            return answers.get_nowait()
        except queue.Empty:
            raise DeviceError("no reply") from None

    drawer = _enabled(
        CashDrawer(
            "drawer", PrinterKickBackend(RecordingPrinter(), status=flaky, poll_interval=0.005)
        )
    )
    try:
        for _ in range(3):
            assert calls.acquire(timeout=WAIT)
        answers.put(OPEN_BYTE)
        assert drawer.wait_open(WAIT)
    finally:
        drawer.close()


def test_did_not_open_through_the_printer() -> None:
    alerts: queue.Queue[str] = queue.Queue()
    status = StatusByte(CLOSED_BYTE)
    backend = PrinterKickBackend(RecordingPrinter(), status=status, poll_interval=0.005)
    drawer = _enabled(CashDrawer("drawer", backend, open_timeout=0.05, on_alert=alerts.put))
    try:
        drawer.kick("sale-1")
        assert alerts.get(timeout=WAIT) == "drawer did not open"
        assert _device_state(drawer) is DeviceState.ERROR
    finally:
        drawer.close()


def test_printer_backend_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="connector"):
        PrinterKickBackend(RecordingPrinter(), connector=5)
    with pytest.raises(ValueError, match="poll_interval"):
        PrinterKickBackend(RecordingPrinter(), poll_interval=0)


def test_a_printer_error_of_another_type_still_fails_as_a_device_error() -> None:
    class BrokenPrinter:
        def send_raw(self, data: bytes) -> None:
            raise OSError(5, "Input/output error")

    drawer = _enabled(CashDrawer("drawer", PrinterKickBackend(BrokenPrinter())))
    try:
        with pytest.raises(DeviceError, match="kick failed"):
            drawer.kick("sale-1")
        assert _power(drawer) is PowerState.OFFLINE
        assert drawer.health().counters["kick_failures"] == 1
    finally:
        drawer.close()
