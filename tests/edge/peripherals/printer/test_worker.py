"""The print queue and its worker against the emulated printer on a pty: nothing is lost.

Each test reads the paper back with the independent decoder and the queue's rows with its own
connection; it waits on the worker's or the emulator's condition, never on a clock.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.peripherals.base import PowerState
from edge.peripherals.printer import (
    PrintWorker,
    ReceiptPrinter,
    SerialTransport,
    enqueue,
    job,
    pending,
    render_sale,
    reprint,
    retry,
)
from edge.peripherals.printer.queue import Job
from edge.peripherals.serial_port import SerialSettings
from edge.store.db import open_store
from hil.devices.escpos_printer import EscPosPrinter
from tests.edge.peripherals.printer.conftest import FAST, Rig, watch_power
from tests.edge.peripherals.printer.escpos_decoder import Cut, decode, receipts
from tests.edge.peripherals.printer.reference import EXPECTED_42, SALE, STORE

AT = dt.datetime(2026, 11, 22, 12, 1, tzinfo=dt.UTC)
REF = SALE.receipt_no
JOB_START = b"\x1b@\x1bt"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    path = tmp_path / "till.db"
    conn = open_store(path)
    try:
        yield path, conn
    finally:
        conn.close()


@pytest.fixture
def worker(rig: Rig, store: tuple[Path, sqlite3.Connection]) -> Iterator[PrintWorker]:
    w = PrintWorker(store[0], rig.printer, retry_interval=0.05, clock=lambda: AT)
    try:
        yield w
    finally:
        w.stop()


def _receipt(printer: ReceiptPrinter) -> bytes:
    return printer.encode(render_sale(SALE, STORE, 42))


def _job(conn: sqlite3.Connection, ref: str = REF) -> Job:
    found = job(conn, ref)
    assert found is not None
    return found


def _last_job_paper(printed: bytes) -> list[str]:
    """The paper of the last complete job in ``printed`` (earlier partial jobs ignored)."""
    return decode(printed[printed.rindex(JOB_START) :]).paper(42)


def test_a_queued_receipt_is_printed_once_and_marked_done(
    rig: Rig, store: tuple[Path, sqlite3.Connection], worker: PrintWorker
) -> None:
    _, conn = store
    assert enqueue(conn, REF, "receipt", _receipt(rig.printer), AT)
    worker.start()
    assert worker.wait(lambda: _job(conn).state == "done", 10)
    done = _job(conn)
    assert (done.attempts, done.last_error, done.done_at) == (1, None, AT.isoformat())
    assert _last_job_paper(bytes(rig.emulator.printed)) == EXPECTED_42
    assert len(receipts(bytes(rig.emulator.printed))) == 1
    assert pending(conn) == []


def test_queueing_is_idempotent_on_ref(rig: Rig, store: tuple[Path, sqlite3.Connection]) -> None:
    _, conn = store
    assert enqueue(conn, REF, "receipt", b"first\n", AT)
    assert not enqueue(conn, REF, "receipt", b"second\n", AT)
    assert [(j.ref, j.document) for j in pending(conn)] == [(REF, b"first\n")]
    with pytest.raises(ValueError, match="no bytes"):
        enqueue(conn, "other", "receipt", b"", AT)


def test_paper_out_keeps_the_job_queued_until_paper_is_loaded(
    rig: Rig, store: tuple[Path, sqlite3.Connection], worker: PrintWorker
) -> None:
    _, conn = store
    rig.emulator.set(paper="out")
    enqueue(conn, REF, "receipt", _receipt(rig.printer), AT)
    worker.start()
    reason = "printer paper out - load a new roll"
    assert worker.wait(lambda: _job(conn).last_error == reason, 10)
    queued = _job(conn)
    assert (queued.state, queued.attempts) == ("queued", 0)
    assert rig.printer.status.detail == reason  # what the cashier sees
    assert JOB_START not in rig.emulator.received  # not a byte of the receipt was sent

    rig.emulator.set(paper="ok")
    assert worker.wait(lambda: _job(conn).state == "done", 10)
    assert len(receipts(bytes(rig.emulator.printed))) == 1
    assert _last_job_paper(bytes(rig.emulator.printed)) == EXPECTED_42


def test_paper_running_out_mid_receipt_prints_it_again(
    rig: Rig, store: tuple[Path, sqlite3.Connection], worker: PrintWorker
) -> None:
    _, conn = store
    enqueue(conn, REF, "receipt", _receipt(rig.printer), AT)
    rig.emulator.paper_out_after(300)
    worker.start()
    assert worker.wait(lambda: (_job(conn).last_error or "").startswith("not confirmed"), 10)
    assert _job(conn).state == "queued"
    assert len(rig.emulator.printed) == 300  # the rest waits in the printer's buffer

    rig.emulator.set(paper="ok")
    assert worker.wait(lambda: _job(conn).state == "done", 10)
    assert _job(conn).attempts == 2
    # The interrupted copy finishes from the buffer, then the job prints whole again.
    assert len(receipts(bytes(rig.emulator.printed))) == 2
    assert _last_job_paper(bytes(rig.emulator.printed)) == EXPECTED_42


def test_a_pulled_cable_mid_receipt_goes_offline_then_prints_after_plug(
    rig: Rig, store: tuple[Path, sqlite3.Connection], worker: PrintWorker
) -> None:
    _, conn = store
    enqueue(conn, REF, "receipt", _receipt(rig.printer), AT)
    rig.emulator.unplug_after(500)
    rig.offline.clear()
    worker.start()
    assert rig.offline.wait(10)
    assert worker.wait(
        lambda: _job(conn).state == "queued" and _job(conn).last_error is not None, 10
    )
    assert rig.printer.status.power is PowerState.OFFLINE
    printed_before = bytes(rig.emulator.printed)
    assert len(printed_before) == 500
    assert Cut(partial=True) not in decode_partial(printed_before)

    rig.cable.plug()
    assert worker.wait(lambda: _job(conn).state == "done", 10)
    assert _job(conn).attempts == 2
    assert _last_job_paper(bytes(rig.emulator.printed)) == EXPECTED_42
    assert len(receipts(bytes(rig.emulator.printed)[500:])) == 1


def test_a_cable_put_straight_back_does_not_confirm_what_the_old_link_lost(
    rig: Rig, store: tuple[Path, sqlite3.Connection], worker: PrintWorker
) -> None:
    _, conn = store
    enqueue(conn, REF, "receipt", _receipt(rig.printer), AT)
    rig.emulator.unplug_after(500, replug=True)
    worker.start()
    assert worker.wait(lambda: _job(conn).state == "done", 10)
    assert _job(conn).attempts == 2  # the first attempt was not confirmed on the new link
    printed = bytes(rig.emulator.printed)
    document = _receipt(rig.printer)
    assert printed == document[:500] + document  # the cut-off start, then the whole receipt


def decode_partial(data: bytes) -> list[object]:
    """Commands of a job cut off mid-way (decoded up to its last complete line)."""
    return list(decode(data[: data.rindex(b"\n") + 1]).items)


def test_a_printer_that_swallows_bytes_and_goes_silent_is_not_marked_done(
    rig: Rig, store: tuple[Path, sqlite3.Connection], worker: PrintWorker
) -> None:
    _, conn = store
    enqueue(conn, REF, "receipt", _receipt(rig.printer), AT)
    rig.emulator.change_after(100, answering=False)  # switched off while printing
    worker.start()
    silent = "not confirmed printed: printer not answering: no reply to a status query"
    assert worker.wait(lambda: _job(conn).last_error == silent, 10)
    assert _job(conn).state == "queued"

    rig.emulator.set(answering=True)
    assert worker.wait(lambda: _job(conn).state == "done", 10)
    assert _job(conn).attempts == 2


def test_an_attempt_limit_fails_the_job_until_it_is_retried(
    rig: Rig, store: tuple[Path, sqlite3.Connection]
) -> None:
    path, conn = store
    worker = PrintWorker(path, rig.printer, retry_interval=0.05, max_attempts=1, clock=lambda: AT)
    enqueue(conn, REF, "receipt", _receipt(rig.printer), AT)
    rig.emulator.change_after(100, answering=False)
    worker.start()
    try:
        assert worker.wait(lambda: _job(conn).state == "failed", 10)
        assert (_job(conn).last_error or "").startswith("not confirmed printed")
        assert [j.ref for j in pending(conn)] == [REF]  # still shown to the cashier
        rig.emulator.set(answering=True)
        assert retry(conn, REF)
        worker.wake()
        assert worker.wait(lambda: _job(conn).state == "done", 10)
    finally:
        worker.stop()


def test_jobs_print_in_the_order_they_were_queued(
    rig: Rig, store: tuple[Path, sqlite3.Connection], worker: PrintWorker
) -> None:
    _, conn = store
    for n in range(3):
        enqueue(conn, f"r{n}", "receipt", f"\x1b@\x1bt\x13job {n}\n".encode() + b"\x1dV\x01", AT)
    worker.start()
    assert worker.wait(lambda: pending(conn) == [], 10)
    jobs = receipts(bytes(rig.emulator.printed))
    assert [j.lines[0].text for j in jobs] == ["job 0", "job 1", "job 2"]


def test_reprint_queues_a_marked_copy(
    rig: Rig, store: tuple[Path, sqlite3.Connection], worker: PrintWorker
) -> None:
    _, conn = store
    enqueue(conn, REF, "receipt", _receipt(rig.printer), AT)
    worker.start()
    assert worker.wait(lambda: _job(conn).state == "done", 10)

    copy_ref = reprint(conn, REF, AT)
    assert copy_ref == f"{REF}/copy-1"
    assert reprint(conn, REF, AT) == f"{REF}/copy-2"
    worker.wake()
    assert worker.wait(lambda: pending(conn) == [], 10)
    jobs = receipts(bytes(rig.emulator.printed))
    assert len(jobs) == 3
    copy = jobs[1].paper(42)
    assert copy == ["               *** COPY ***", *EXPECTED_42]
    assert _job(conn).state == "done"  # the original is left alone
    with pytest.raises(KeyError, match="no print job"):
        reprint(conn, "nope", AT)


CRASHING_WORKER = """
import sys, threading
from pathlib import Path
from edge.peripherals.printer import PrintWorker, build

printer = build("printer", {"backend": "serial", "port": sys.argv[2], "status_timeout_ms": 500})
printer.open(); printer.claim(); printer.enable()
PrintWorker(Path(sys.argv[1]), printer, retry_interval=0.05).start()
threading.Event().wait()  # until killed
"""


def test_a_job_left_printing_by_a_crash_is_printed_again_after_restart(
    tmp_path: Path, store: tuple[Path, sqlite3.Connection]
) -> None:
    from hil.devices.pty_cable import PtyCable

    path, conn = store
    cable = PtyCable(tmp_path / "ttyCrash")
    emulator = EscPosPrinter(cable)
    emulator.start()
    # Far more than a pty buffers, so the writer blocks once the printer stops reading.
    big = b"\x1b@\x1bt\x13" + b"".join(b"line %06d\n" % i for i in range(20_000)) + b"\x1dV\x01"
    enqueue(conn, "big", "receipt", big, AT)
    emulator.stall_after(1000)
    root = Path(__file__).resolve().parents[4]
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WORKER, str(path), str(cable.path)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert emulator.wait_for(lambda: emulator.stalled, 30)
        assert _job(conn, "big").state == "printing"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert _job(conn, "big").state == "printing"  # as the crash left it

        emulator.resume()
        printer = ReceiptPrinter(
            "printer",
            SerialTransport(SerialSettings(str(cable.path)), backoff=FAST),
            status_timeout=0.5,
        )
        watch_power(printer)
        printer.open()
        printer.claim()
        printer.enable()
        worker = PrintWorker(path, printer, retry_interval=0.05, clock=lambda: AT)
        worker.start()
        try:
            assert worker.recovered == 1
            assert worker.wait(lambda: _job(conn, "big").state == "done", 30)
        finally:
            worker.stop()
            printer.close()
        assert _job(conn, "big").attempts == 2
        printed = bytes(emulator.printed)
        assert printed.endswith(big)  # the whole job, after what the crash cut short
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        emulator.stop()
        cable.close()
