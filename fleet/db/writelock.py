"""The queue SQLite writers wait in: an exclusive ``flock`` of a ``<db>-writer`` sidecar file.

Why not SQLite's own busy handler: it polls with sleeps that grow to 100 ms, so an ingest
worker waiting behind a projection round sleeps long after the round ended. A blocking
``flock`` is handed over by the kernel the moment the holder lets go. Polling ``flock`` instead
was measured: two workers on one file lost a third of their throughput to the polling gaps.

But a blocking ``flock`` cannot time out, and a holder that never lets go (a stopped process)
would hang the writer for good, deaf to a stop request. So a contended wait happens in a helper
thread while the caller waits at most ``timeout``; if it gives up, the open file the helper is
blocked on is handed to the helper to close when it gets the lock, and this lock continues on a
fresh open of the file — a lock granted late to the abandoned one can never be taken for (or
released from under) a later holder, because ``flock`` locks belong to an open file, not a
process.

The database file itself is never opened here (or anywhere in Python): closing a descriptor of
it would drop SQLite's POSIX locks of the whole process.
"""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path
from typing import BinaryIO


class LockTimeoutError(Exception):
    """Another process held the lock for the whole wait."""


class WriterLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = self._open()

    def _open(self) -> BinaryIO:
        return self.path.open("ab")

    @property
    def closed(self) -> bool:
        return self._file.closed

    def acquire(self, timeout: float) -> None:
        """Take the lock, or raise :class:`LockTimeoutError` after ``timeout`` seconds."""
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waiter = _Waiter(self._file)
        if waiter.wait(timeout):
            return
        self._file = self._open()  # the old open file is the helper's to close
        raise LockTimeoutError(f"{self.path} was held by another process for {timeout:.0f} s")

    def release(self) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)

    def close(self) -> None:
        self._file.close()


class _Waiter:
    """One blocking ``flock`` in a helper thread, which the caller may stop waiting for."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._done = threading.Condition()
        self._got = False
        self._failed = False
        self._abandoned = False
        threading.Thread(target=self._run, name="sqlite-writer-lock", daemon=True).start()

    def _run(self) -> None:
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX)
        except (OSError, ValueError):  # the file was closed under it
            with self._done:
                self._failed = True
                self._done.notify()
            return
        with self._done:
            if not self._abandoned:
                self._got = True
                self._done.notify()
                return
        self._file.close()  # abandoned: closing the open file lets the lock go with it

    def wait(self, timeout: float) -> bool:
        with self._done:
            self._done.wait_for(lambda: self._got or self._failed, timeout)
            if not self._got:
                self._abandoned = True
            return self._got
