"""Appending to and reading the journal, the outbox and the counters.

These run inside the caller's transaction (see ``edge.store.db.transaction``): the till service
commits a command's events, their projections and their uplink events together.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime

from edge.checkout import events as ev


def append(conn: sqlite3.Connection, stream: str, event: ev.DomainEvent) -> int:
    """Append ``event`` to ``stream``; returns its journal id."""
    cur = conn.execute(
        "INSERT INTO journal (stream, kind, at, data) VALUES (?, ?, ?, ?)",
        (stream, ev.kind_of(event), event.at.isoformat(), ev.encode(event)),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def read_stream(conn: sqlite3.Connection, stream: str) -> Iterator[ev.AnyEvent]:
    """Every event of ``stream`` in the order it was committed."""
    for (data,) in conn.execute("SELECT data FROM journal WHERE stream = ? ORDER BY id", (stream,)):
        yield ev.decode(data)


def read_all(conn: sqlite3.Connection) -> Iterator[tuple[str, ev.AnyEvent]]:
    """Every event of every stream, in commit order."""
    for stream, data in conn.execute("SELECT stream, data FROM journal ORDER BY id"):
        yield stream, ev.decode(data)


def next_counter(conn: sqlite3.Connection, name: str) -> int:
    """Increment and return the counter ``name`` (starting at 1)."""
    row = conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, 1) "
        "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
        (name,),
    ).fetchone()
    return int(row[0])


def claim_counter(conn: sqlite3.Connection, name: str, expected: int) -> None:
    """Increment ``name`` to ``expected``: the number a handler already put on a record.

    The till is the store's only writer, so any other value is a bug; failing here rolls the
    whole transaction back instead of committing two receipts with one number.
    """
    got = next_counter(conn, name)
    if got != expected:
        raise RuntimeError(f"counter {name} moved under the till: {got}, expected {expected}")


def counter(conn: sqlite3.Connection, name: str) -> int:
    """The counter's current value (0 if never incremented)."""
    row = conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def add_to_outbox(
    conn: sqlite3.Connection, *, seq: int, event_id: str, type_: str, payload: bytes, at: datetime
) -> None:
    """Queue an encoded uplink event; the sync client deletes it only on HQ's signed ack."""
    conn.execute(
        "INSERT INTO outbox (seq, event_id, type, payload, created_at) VALUES (?, ?, ?, ?, ?)",
        (seq, event_id, type_, payload, at.isoformat()),
    )


def add_effect(conn: sqlite3.Connection, kind: str, ref: str, at: datetime) -> None:
    """Record that an effect (print a receipt, kick the drawer) is owed; done exactly once."""
    conn.execute(
        "INSERT OR IGNORE INTO effects (kind, ref, state, created_at) VALUES (?, ?, 'pending', ?)",
        (kind, ref, at.isoformat()),
    )
