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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from fleet.db.engine import Connection, TransientError
from fleet.db.projections import project, project_many
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
    Two statements for the whole batch: the inserts as one multi-row statement (sorted, so two
    workers creating the same new tills wait for each other in one order), then the updates,
    which take the row locks in sorted order (psycopg pipelines ``executemany``).
    """
    keys = sorted(seen_at)
    if not keys:
        return
    conn.insert_rows(
        "devices",
        ("tenant", "store", "device", "first_seen_at", "last_seen_at"),
        [(*key, seen_at[key], seen_at[key]) for key in keys],
        on_conflict_nothing=True,
    )
    # The UPDATE takes the row lock on PostgreSQL until commit.
    conn.executemany(
        "UPDATE devices SET last_seen_at = CASE WHEN last_seen_at < ? THEN ?"
        " ELSE last_seen_at END WHERE tenant = ? AND store = ? AND device = ?",
        [(seen_at[key], seen_at[key], *key) for key in keys],
    )


_EVENT_COLUMNS = (
    "event_id",
    "tenant",
    "store",
    "device",
    "seq",
    "type",
    "schema",
    "occurred_at",
    "received_at",
    "payload",
)
_IN_CHUNK = 500


def store_events(
    conn: Connection, items: Sequence[tuple[Event[Body], bytes, dt.datetime]]
) -> list[Outcome]:
    """:func:`store_event` for many events at once, set-based; one outcome per item, in order.

    Their devices must be locked (:func:`lock_devices`). Items are stored in the order given:
    of two items with one ``event_id`` the later is a duplicate, of two with one seq the later
    is refused. The ``events`` rows go in with one multi-row ``INSERT ... ON CONFLICT DO
    NOTHING RETURNING event_id``; the inserted events are projected together
    (:func:`project_many`, one multi-row insert per table) in one savepoint. Only if that fails
    is each projected again in a savepoint of its own, so the events that project still do and
    each failure is recorded on its event, exactly as :func:`store_event` would.
    """
    outcomes: list[Outcome | None] = [None] * len(items)
    first: dict[str, int] = {}
    for i, (event, _, _) in enumerate(items):
        eid = str(event.event_id)
        if eid in first:
            outcomes[i] = Outcome.DUPLICATE
        else:
            first[eid] = i
    candidates = list(first.values())
    inserted = {
        str(r["event_id"])
        for r in conn.insert_rows(
            "events",
            _EVENT_COLUMNS,
            [
                (
                    ev.event_id,
                    ev.tenant,
                    ev.store,
                    ev.device,
                    ev.seq,
                    ev.type,
                    ev.schema,
                    ev.occurred_at,
                    received_at,
                    payload,
                )
                for ev, payload, received_at in (items[i] for i in candidates)
            ],
            on_conflict_nothing=True,
            returning="event_id",
        )
    }
    refused = [
        str(items[i][0].event_id) for i in candidates if str(items[i][0].event_id) not in inserted
    ]
    known: set[str] = set()
    for start in range(0, len(refused), _IN_CHUNK):
        chunk = refused[start : start + _IN_CHUNK]
        marks = ", ".join("?" for _ in chunk)
        known.update(
            str(r["event_id"])
            for r in conn.execute(f"SELECT event_id FROM events WHERE event_id IN ({marks})", chunk)
        )
    new: list[Event[Body]] = []
    for i in candidates:
        eid = str(items[i][0].event_id)
        if eid in inserted:
            outcomes[i] = Outcome.APPLIED
            new.append(items[i][0])
        else:
            outcomes[i] = Outcome.DUPLICATE if eid in known else Outcome.SEQ_TAKEN
    failed = _project_all(conn, new)
    for i in candidates:
        if str(items[i][0].event_id) in failed:
            outcomes[i] = Outcome.PROJECTION_FAILED
    assert all(o is not None for o in outcomes)
    return [o for o in outcomes if o is not None]


def _project_all(conn: Connection, events: Sequence[Event[Body]]) -> set[str]:
    """Project ``events``; the ids of those whose projection failed (recorded on the event)."""
    if not events:
        return set()
    try:
        with conn.savepoint():
            project_many(conn, events)
    except TransientError:
        raise
    except Exception:  # some event's projection fails: find which, one savepoint each
        pass
    else:
        return set()
    errors: list[tuple[str, str]] = []
    for event in events:
        try:
            with conn.savepoint():
                project(conn, event)
        except TransientError:
            raise
        except Exception as exc:  # a constraint or a bug must not hold up the other events
            errors.append((_describe(exc), str(event.event_id)))
    if errors:
        conn.executemany("UPDATE events SET projection_error = ? WHERE event_id = ?", errors)
    return {eid for _, eid in errors}


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(exc)).strip()[:2000]


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
        conn.execute(
            "UPDATE events SET projection_error = ? WHERE event_id = ?",
            [_describe(exc), event.event_id],
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
    hwm, first_above = _walk(conn, key, int(row["acked_seq"]))
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


def advance_many(conn: Connection, keys: Sequence[DeviceKey]) -> dict[DeviceKey, SeqState]:
    """:func:`advance` for several devices (locked), in order, with one write for all of them.

    Per device: one statement for the mark and the highest seq, then the walk (normally one
    chunk); the new marks are written with one pipelined ``executemany``.
    """
    states: dict[DeviceKey, SeqState] = {}
    for key in keys:
        row = conn.one(
            "SELECT acked_seq, (SELECT COALESCE(MAX(seq), 0) FROM events e"
            " WHERE e.tenant = d.tenant AND e.store = d.store AND e.device = d.device) AS max_seq"
            " FROM devices d WHERE d.tenant = ? AND d.store = ? AND d.device = ?",
            list(key),
        )
        if row is None:
            states[key] = SeqState(hwm=0, max_seq=0, first_above=None)
            continue
        hwm, first_above = _walk(conn, key, int(row["acked_seq"]))
        states[key] = SeqState(hwm=hwm, max_seq=int(row["max_seq"]), first_above=first_above)
    if states:
        conn.executemany(
            "UPDATE devices SET acked_seq = ?, max_seq = ?"
            " WHERE tenant = ? AND store = ? AND device = ?",
            [(st.hwm, st.max_seq, *key) for key, st in states.items()],
        )
    return states


def _walk(conn: Connection, key: DeviceKey, hwm: int) -> tuple[int, int | None]:
    """The mark moved over every contiguous stored seq above ``hwm``, and the first seq past
    the gap that stops it (``None`` when nothing above the new mark is stored)."""
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
                return hwm, seq
            hwm = seq
        if len(seqs) < _WALK_CHUNK:
            return hwm, None


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


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that can never be applied, with why (see :func:`record_dead_letter`)."""

    received_at: dt.datetime
    topic: str
    reason: str
    error_path: str | None
    payload: bytes


def record_dead_letters(conn: Connection, letters: Sequence[DeadLetter]) -> None:
    """:func:`record_dead_letter` for many, in order, with one multi-row insert."""
    conn.insert_rows(
        "dead_letters",
        ("received_at", "topic", "reason", "error_path", "payload"),
        [(d.received_at, d.topic, d.reason[:2000], d.error_path, d.payload) for d in letters],
    )
