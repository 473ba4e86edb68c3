"""The SQLite writers' lock: handed over on release, never a hang, never a stale hold."""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path

import pytest

from fleet.db.writelock import LockTimeoutError, WriterLock


def test_a_waiting_writer_gets_the_lock_when_the_holder_lets_go(tmp_path: Path) -> None:
    holder, waiter = WriterLock(tmp_path / "db-writer"), WriterLock(tmp_path / "db-writer")
    holder.acquire(1.0)
    got = threading.Event()

    def wait() -> None:
        waiter.acquire(30.0)
        got.set()

    thread = threading.Thread(target=wait)
    thread.start()
    assert not got.wait(0.05)  # held: the waiter waits
    holder.release()
    thread.join(30.0)
    assert got.is_set()
    with (tmp_path / "db-writer").open("ab") as probe:
        with pytest.raises(BlockingIOError):  # and the waiter really holds it now
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        waiter.release()
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released: free for the next
    holder.close()
    waiter.close()


def test_a_holder_that_never_lets_go_costs_a_timeout_and_nothing_after(tmp_path: Path) -> None:
    stuck = (tmp_path / "db-writer").open("ab")
    fcntl.flock(stuck, fcntl.LOCK_EX)
    lock = WriterLock(tmp_path / "db-writer")
    with pytest.raises(LockTimeoutError):
        lock.acquire(0.1)
    stuck.close()  # the holder goes away; the abandoned wait gets the lock and lets it go
    lock.acquire(30.0)  # so a later acquire neither hangs nor finds a stale holder
    lock.release()
    lock.close()
    assert lock.closed
