"""The print queue in the till's store (table ``print_jobs``): what is owed to the paper.

A receipt is rendered to ESC/POS bytes once, when it is queued, in the same transaction as the
effect that owes it if the caller wishes (these functions take a connection and never commit on
their own unless they opened the transaction). So the bytes a customer gets on a reprint next
month are the bytes of the day, whatever HQ's configuration has become since. Queueing is
idempotent on ``ref``: the checkout can queue again after a crash without printing twice.

States: ``queued`` (waiting, ``last_error`` says why if it was tried) → ``printing`` (bytes are
going out) → ``done``. A job found ``printing`` at start was interrupted by a crash and is
queued again: a duplicate receipt is harmless, a lost one is not. ``failed`` is only set by the
worker's optional attempt limit; :func:`retry` puts such a job back.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge.peripherals.printer import escpos_encode
from edge.store.db import transaction

COPY_MARK = "*** COPY ***"


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    ref: str
    kind: str
    document: bytes
    state: str
    attempts: int
    last_error: str | None
    created_at: str
    done_at: str | None


_COLUMNS = "id, ref, kind, document, state, attempts, last_error, created_at, done_at"


def enqueue(conn: sqlite3.Connection, ref: str, kind: str, document: bytes, at: datetime) -> bool:
    """Queue ``document`` under ``ref``; False (nothing changed) if ``ref`` is queued already."""
    if not ref:
        raise ValueError("a print job needs a ref")
    if not document:
        raise ValueError(f"print job {ref} has no bytes")
    cur = conn.execute(
        "INSERT OR IGNORE INTO print_jobs (ref, kind, document, state, created_at) "
        "VALUES (?, ?, ?, 'queued', ?)",
        (ref, kind, document, at.isoformat()),
    )
    return cur.rowcount == 1


def reprint(conn: sqlite3.Connection, ref: str, at: datetime) -> str:
    """Queue a copy of job ``ref``, marked ``*** COPY ***`` at the top; returns the copy's ref.

    The copy's ref is ``{ref}/copy-{n}``; the original job, done or not, is left alone.
    """
    with transaction(conn):
        row = conn.execute("SELECT kind, document FROM print_jobs WHERE ref = ?", (ref,)).fetchone()
        if row is None:
            raise KeyError(f"no print job {ref!r} to reprint")
        kind, document = str(row[0]), bytes(row[1])
        base = f"{ref}/copy-"
        copies = conn.execute(
            "SELECT count(*) FROM print_jobs WHERE substr(ref, 1, ?) = ?", (len(base), base)
        ).fetchone()[0]
        new_ref = f"{base}{int(copies) + 1}"
        enqueue(conn, new_ref, kind, escpos_encode.banner(COPY_MARK) + document, at)
    return new_ref


def job(conn: sqlite3.Connection, ref: str) -> Job | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM print_jobs WHERE ref = ?", (ref,)).fetchone()
    return _job(row) if row is not None else None


def pending(conn: sqlite3.Connection) -> list[Job]:
    """Jobs not yet printed (queued, printing, failed), oldest first: what the cashier sees."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM print_jobs WHERE state != 'done' ORDER BY id"
    ).fetchall()
    return [_job(r) for r in rows]


def retry(conn: sqlite3.Connection, ref: str) -> bool:
    """Put a failed job back in the queue (attempts start again)."""
    cur = conn.execute(
        "UPDATE print_jobs SET state = 'queued', attempts = 0 WHERE ref = ? AND state = 'failed'",
        (ref,),
    )
    return cur.rowcount == 1


# -- for the worker ------------------------------------------------------------------------------


def recover(conn: sqlite3.Connection) -> int:
    """Queue again every job a crash left ``printing``; returns how many."""
    cur = conn.execute(
        "UPDATE print_jobs SET state = 'queued', "
        "last_error = 'interrupted while printing; printing again' WHERE state = 'printing'"
    )
    return cur.rowcount


def next_job(conn: sqlite3.Connection) -> Job | None:
    """The oldest queued job: receipts come out in the order they were owed."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM print_jobs WHERE state = 'queued' ORDER BY id LIMIT 1"
    ).fetchone()
    return _job(row) if row is not None else None


def mark_printing(conn: sqlite3.Connection, job_id: int) -> None:
    conn.execute(
        "UPDATE print_jobs SET state = 'printing', attempts = attempts + 1 WHERE id = ?",
        (job_id,),
    )


def mark_waiting(
    conn: sqlite3.Connection, job_id: int, reason: str, *, max_attempts: int | None = None
) -> None:
    """Back to ``queued`` with ``reason`` (or ``failed`` once ``max_attempts`` are used up)."""
    conn.execute(
        "UPDATE print_jobs SET last_error = ?, state = CASE "
        "WHEN ? IS NOT NULL AND attempts >= ? THEN 'failed' ELSE 'queued' END WHERE id = ?",
        (reason, max_attempts, max_attempts, job_id),
    )


def mark_done(conn: sqlite3.Connection, job_id: int, at: datetime) -> None:
    conn.execute(
        "UPDATE print_jobs SET state = 'done', done_at = ?, last_error = NULL WHERE id = ?",
        (at.isoformat(), job_id),
    )


def _job(row: Any) -> Job:
    id_, ref, kind, document, state, attempts, last_error, created_at, done_at = row
    return Job(id_, ref, kind, bytes(document), state, attempts, last_error, created_at, done_at)
