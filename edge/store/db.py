"""Opening the till's SQLite file safely: right file, intact, migrated, durable.

The store is opened in WAL mode with ``synchronous=FULL``: a transaction that returned from
COMMIT survives a power cut. At start we check that the file is ours (SQLite
``application_id``), intact (``quick_check``) and at a schema version this code understands; a
foreign or corrupt file is reported and never written to, because the next step after "overwrite
it" is a shop that lost a day of sales.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge.store.migrations import MIGRATIONS

APPLICATION_ID = 0x54464C54  # "TFLT"


class StoreError(Exception):
    """The store file cannot be used; the message says why and what to do."""


def open_store(path: Path, *, check: bool = True) -> sqlite3.Connection:
    """Open (creating if absent) and migrate the store at ``path``.

    Raises :class:`StoreError` for a file that is not SQLite, belongs to another program, is
    corrupt, or was written by a newer version of the till.
    """
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        _check_identity(conn, path)  # before WAL mode, which would rewrite a foreign header
        conn.execute("PRAGMA foreign_keys = ON")
        mode = _switch_to_wal(conn)
        if mode != "wal":
            raise StoreError(f"{path}: cannot switch to WAL journal mode (got {mode})")
        conn.execute("PRAGMA synchronous = FULL")
        if check:
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise StoreError(f"{path} is damaged (quick_check: {result}); restore a backup")
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"{path} is not a usable SQLite database: {exc}") from exc
    except StoreError:
        conn.close()
        raise
    return conn


def _switch_to_wal(conn: sqlite3.Connection) -> str:
    """Switching a new file to WAL needs it to itself and SQLite does not wait for that (no
    busy handler): the station's components opening the new store together would fail at
    once. Retry for as long as the busy timeout."""
    deadline = time.monotonic() + 30.0
    pause = 0.0005
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def _check_identity(conn: sqlite3.Connection, path: Path) -> None:
    """SQLite reads the header itself ("not a database"): the file is never opened from Python,
    because closing any descriptor of it would drop the POSIX locks this process's other
    connections hold. Id and tables are read in one snapshot: read apart, a new store another
    component is setting up could look like (no id, some tables) — someone else's."""
    try:
        conn.execute("BEGIN")
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        finally:
            conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise StoreError(f"{path} is not a SQLite database; refusing to touch it") from exc
        raise
    if app_id == APPLICATION_ID:
        return
    if app_id == 0 and tables == 0:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        return
    raise StoreError(
        f"{path} belongs to another program (application_id {app_id:#x}); refusing to touch it"
    )


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version the file is at (SQLite ``user_version``)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations the file has not seen yet, each in its own transaction (under the
    write lock, re-checked there: several components may open a new store at once)."""
    current = schema_version(conn)
    if current > len(MIGRATIONS):
        raise StoreError(
            f"the store is at schema version {current}, newer than this till software "
            f"understands ({len(MIGRATIONS)}); install the newer software again"
        )
    for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
        with transaction(conn):
            if schema_version(conn) >= version:
                continue  # another connection applied it while this one waited for the lock
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")


def _statements(script: str) -> Iterator[str]:
    # Our migrations contain no semicolons inside literals or triggers, so a split is exact.
    for part in script.split(";"):
        if part.strip():
            yield part


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: the write lock is taken up front, so a transaction
    never fails half-way for want of it, and everything inside commits or nothing does."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
