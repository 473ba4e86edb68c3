"""The thread that empties the print queue onto the printer, never losing a receipt.

It runs on its own SQLite connection (the store is WAL, so the checkout keeps writing while it
prints) and takes jobs strictly in order. Before a job it checks the printer's status: paper
out, cover open or no answer leave the job queued with the reason in ``last_error`` (and the
printer's device status says the same to the cashier), and it tries again when woken — by a new
job, by the printer's link coming back — or on its retry timer. A job is ``done`` only when its
bytes were written *and* a status check afterwards finds the printer online with paper: a
printer that swallowed the bytes while unplugged, or ran out of paper half-way, prints the job
again. Duplicates are possible by design; lost receipts are not.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from edge.peripherals.base import DeviceError, Status
from edge.peripherals.printer import queue as jobs
from edge.peripherals.printer.printer import ReceiptPrinter
from edge.peripherals.printer.status import PrinterStatus, no_answer
from edge.store.db import open_store

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Step(Enum):
    PRINTED = "printed"
    WAITING = "waiting"
    IDLE = "idle"


class PrintWorker:
    """Prints the jobs of the store at ``db_path`` on ``printer`` (which must be enabled)."""

    def __init__(
        self,
        db_path: Path,
        printer: ReceiptPrinter,
        *,
        retry_interval: float = 5.0,
        max_attempts: int | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.db_path = db_path
        self.printer = printer
        self.retry_interval = retry_interval
        self.max_attempts = max_attempts
        self._clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.recovered = 0
        self.printed = 0

    def start(self) -> None:
        """Open the store, re-queue jobs a crash interrupted, and start printing."""
        if self._thread is not None:
            return
        self._conn = open_store(self.db_path, check=False)
        self.recovered = jobs.recover(self._conn)
        if self.recovered:
            log.warning("printing %d job(s) again that a crash interrupted", self.recovered)
        self._unsubscribe = self.printer.subscribe(self._printer_changed)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="print worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        stuck = False
        if self._thread is not None:
            self._thread.join(timeout)
            stuck = self._thread.is_alive()
            self._thread = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if stuck:
            # Blocked in a write to a printer that stopped reading; its job stays 'printing'
            # and is printed again at the next start. Its connection is left to it.
            log.warning("print worker did not stop within %.1f s", timeout)
        elif self._conn is not None:
            self._conn.close()
            self._conn = None

    def wake(self) -> None:
        """Look at the queue now (call after queueing a job)."""
        self._wake.set()

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` holds, re-evaluated after each step of the worker."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                step = self._step()
            except Exception:  # a bug or a locked database must not stop receipts for good
                log.exception("print worker step failed")
                step = _Step.WAITING
                self._requeue_interrupted()
            with self._changed:
                self._changed.notify_all()
            if step is not _Step.PRINTED:
                self._wake.wait(self.retry_interval)

    def _step(self) -> _Step:
        conn = self._conn
        assert conn is not None
        job = jobs.next_job(conn)
        status = self._check()
        if job is None:
            return _Step.IDLE
        if not status.ready:
            jobs.mark_waiting(conn, job.id, status.reason_blocking)
            return _Step.WAITING
        jobs.mark_printing(conn, job.id)
        try:
            after = self.printer.print_job(job.document)
        except DeviceError as exc:
            jobs.mark_waiting(
                conn, job.id, f"print interrupted: {exc}", max_attempts=self.max_attempts
            )
            return _Step.WAITING
        if not after.ready:
            reason = f"not confirmed printed: {after.reason_blocking}"
            jobs.mark_waiting(conn, job.id, reason, max_attempts=self.max_attempts)
            return _Step.WAITING
        jobs.mark_done(conn, job.id, self._clock())
        self.printed += 1
        return _Step.PRINTED

    def _requeue_interrupted(self) -> None:
        """After a failed step, no job may stay ``printing`` (only a restart would retry it)."""
        try:
            if self._conn is not None:
                jobs.recover(self._conn)
        except Exception:
            log.exception("print worker cannot re-queue its job")

    def _check(self) -> PrinterStatus:
        try:
            return self.printer.check()
        except DeviceError as exc:
            return no_answer(str(exc))

    def _printer_changed(self, status: Status) -> None:
        # Our own checks change the status too; only news from elsewhere (the link coming back,
        # the device being enabled) needs an early look.
        if threading.current_thread() is not self._thread:
            self._wake.set()
