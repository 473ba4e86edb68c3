"""Storing uplink events exactly once, per-device sequence state, and dead letters.

``event_id`` is the exactly-once key: the ``events`` insert is ``ON CONFLICT DO NOTHING`` and
the projection runs only when a row was really inserted, in the same transaction. The devices
row carries the contiguous high-water mark (``acked_seq``: every seq from 1 to it is stored)
that HQ acknowledges to the till, and the highest seq seen.

Concurrency: on PostgreSQL several ingest workers write at once. Each transaction first touches
the devices rows of its batch in sorted order (:func:`lock_devices`), which serialises any two
transactions that share a device and cannot deadlock; after that a transaction sees every event
of its devices that any earlier transaction committed, so the high-water mark it computes is
exact. On SQLite ``BEGIN IMMEDIATE`` serialises writers anyway.
"""

from __future__ import annotations

import datetime as dt
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from fleet.db.engine import Connection, TransientError
from fleet.db.projections import project
from protocol.messages import Body, Event

_WALK_CHUNK = 512


class DeviceKey(NamedTuple):
    """A till, as HQ names it."""

    tenant: str
    store: str
    device: str


@dataclass(frozen=True, slots=True)
class SeqState:
    """Where a device's uplink sequence stands in the database."""

    hwm: int
    """Every seq from 1 to ``hwm`` is stored: what HQ acknowledges."""
    max_seq: int
    """The highest seq stored."""
    first_above: int | None
    """The lowest seq stored above ``hwm`` (so ``hwm + 1 .. first_above - 1`` is missing)."""

    @property
    def gap(self) -> tuple[int, int] | None:
        """The first missing range, or ``None`` when nothing above the mark is stored."""
        if self.first_above is None:
            return None
        return (self.hwm + 1, self.first_above - 1)


class Outcome(Enum):
    """What storing one event did."""

    APPLIED = "applied"
    """Inserted and projected."""
    PROJECTION_FAILED = "projection_failed"
    """Inserted (so it counts as received and is acknowledged) but its projection failed; the
    reason is kept in ``events.projection_error`` for a replay once the bug is fixed."""
    DUPLICATE = "duplicate"
    """Its ``event_id`` was stored already: nothing changed."""
    SEQ_TAKEN = "seq_taken"
    """Another event of the device holds the same seq: refused (a dead letter)."""


def lock_devices(conn: Connection, seen_at: Mapping[DeviceKey, dt.datetime]) -> None:
    """Create missing devices rows and lock them, in sorted order, for this transaction.

    ``seen_at`` maps each device to when its latest message arrived (``last_seen_at``).
    """
    for key in sorted(seen_at):
        at = seen_at[key]
        conn.execute(
            "INSERT INTO devices (tenant, store, device, first_seen_at, last_seen_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [*key, at, at],
        )
        # The UPDATE takes the row lock on PostgreSQL until commit.
        conn.execute(
            "UPDATE devices SET last_seen_at = CASE WHEN last_seen_at < ? THEN ?"
            " ELSE last_seen_at END WHERE tenant = ? AND store = ? AND device = ?",
            [at, at, *key],
        )


def store_event(
    conn: Connection, event: Event[Body], payload: bytes, received_at: dt.datetime
) -> Outcome:
    """Insert ``event`` once and project it; its device must be locked (:func:`lock_devices`)."""
    inserted = conn.insert(
        "events",
        {
            "event_id": event.event_id,
            "tenant": event.tenant,
            "store": event.store,
            "device": event.device,
            "seq": event.seq,
            "type": event.type,
            "schema": event.schema,
            "occurred_at": event.occurred_at,
            "received_at": received_at,
            "payload": payload,
        },
        on_conflict_nothing=True,
    )
    if not inserted:
        known = conn.one("SELECT 1 AS x FROM events WHERE event_id = ?", [event.event_id])
        return Outcome.DUPLICATE if known is not None else Outcome.SEQ_TAKEN
    try:
        with conn.savepoint():
            project(conn, event)
    except TransientError:
        raise
    except Exception as exc:  # a constraint or a bug must not hold up the other events
        detail = "".join(traceback.format_exception_only(exc)).strip()
        conn.execute(
            "UPDATE events SET projection_error = ? WHERE event_id = ?",
            [detail[:2000], event.event_id],
        )
        return Outcome.PROJECTION_FAILED
    return Outcome.APPLIED


def advance(conn: Connection, key: DeviceKey) -> SeqState:
    """Move the device's high-water mark over every contiguous seq now stored, and return it.

    Walks the stored seqs upward from the mark in chunks, so the cost is the distance the mark
    moves plus one index probe: a long-standing gap with thousands of events beyond it costs
    nothing per batch.
    """
    row = conn.one(
        "SELECT acked_seq FROM devices WHERE tenant = ? AND store = ? AND device = ?", list(key)
    )
    if row is None:
        return SeqState(hwm=0, max_seq=0, first_above=None)
    hwm = int(row["acked_seq"])
    first_above: int | None = None
    while True:
        seqs = [
            int(r["seq"])
            for r in conn.execute(
                "SELECT seq FROM events WHERE tenant = ? AND store = ? AND device = ? AND seq > ?"
                f" ORDER BY seq LIMIT {_WALK_CHUNK}",
                [*key, hwm],
            )
        ]
        for seq in seqs:
            if seq != hwm + 1:
                first_above = seq
                break
            hwm = seq
        if first_above is not None or len(seqs) < _WALK_CHUNK:
            break
    max_seq = int(
        conn.scalar(
            "SELECT COALESCE(MAX(seq), 0) AS m FROM events"
            " WHERE tenant = ? AND store = ? AND device = ?",
            list(key),
        )
    )
    conn.execute(
        "UPDATE devices SET acked_seq = ?, max_seq = ?"
        " WHERE tenant = ? AND store = ? AND device = ?",
        [hwm, max_seq, *key],
    )
    return SeqState(hwm=hwm, max_seq=max_seq, first_above=first_above)


def seq_state(conn: Connection, key: DeviceKey) -> SeqState:
    """The device's sequence state as last committed (no lock, no change)."""
    row = conn.one(
        "SELECT acked_seq, max_seq FROM devices WHERE tenant = ? AND store = ? AND device = ?",
        list(key),
    )
    if row is None:
        return SeqState(hwm=0, max_seq=0, first_above=None)
    hwm = int(row["acked_seq"])
    first = conn.scalar(
        "SELECT MIN(seq) AS s FROM events"
        " WHERE tenant = ? AND store = ? AND device = ? AND seq > ?",
        [*key, hwm],
    )
    return SeqState(
        hwm=hwm, max_seq=int(row["max_seq"]), first_above=None if first is None else int(first)
    )


def record_dead_letter(
    conn: Connection,
    *,
    received_at: dt.datetime,
    topic: str,
    reason: str,
    error_path: str | None,
    payload: bytes,
) -> None:
    """Keep a message that can never be applied, with why, for a person to look at."""
    conn.execute(
        "INSERT INTO dead_letters (received_at, topic, reason, error_path, payload)"
        " VALUES (?, ?, ?, ?, ?)",
        [received_at, topic, reason[:2000], error_path, payload],
    )
