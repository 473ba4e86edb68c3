"""Storing uplink events exactly once, per-device sequence state, and dead letters.

``event_id`` is the exactly-once key: the ``events`` insert is ``ON CONFLICT DO NOTHING``, and
an event really inserted is also queued for projection (``projection_queue``) in the same
transaction, so a redelivered ``event_id`` changes nothing and every stored event is projected
once (``fleet.db.projection_queue``). The devices row carries the contiguous high-water mark
(``acked_seq``: every seq from 1 to it is stored) that HQ acknowledges to the till, and the
highest seq seen.

Concurrency: on PostgreSQL several ingest workers write at once. A transaction creates the
devices rows it lacks (:func:`ensure_devices`), stores its events, and only then locks its
devices rows, in sorted order (:func:`lock_devices`), to move their marks. The lock serialises
any two transactions that share a device, and sorted it cannot deadlock; once it holds it, a
transaction sees every event of its devices that any earlier transaction committed, and the
high-water mark it computes is exact. Taken before the insert, as it once was, the lock made
two workers' batches — every one carrying the same busy tills — store one after the other; now
they store side by side and queue only for the marks. Two transactions storing the same event
(a redelivery to each worker) wait for each other on its row, not on the lock, in the order
both insert in (device, seq) — unless one event id comes with two seqs (a broken or forged
till): then two such batches can wait on each other, PostgreSQL ends one as a deadlock, and the
writer retries it, losing nothing. On SQLite ``BEGIN IMMEDIATE`` serialises writers anyway.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple, Protocol, TypeVar

from fleet.db.engine import Connection

_WALK_FIRST = 8
_WALK_CHUNK = 512


class Envelope(Protocol):
    """What storing an event needs of it: a decoded ``protocol.messages.Event``, or the
    envelope the ingest's validator kept of one (the body is stored as the raw payload)."""

    @property
    def event_id(self) -> object: ...
    @property
    def tenant(self) -> str: ...
    @property
    def store(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def schema(self) -> int: ...
    @property
    def occurred_at(self) -> dt.datetime: ...


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

    STORED = "stored"
    """Inserted (it counts as received and is acknowledged) and queued for projection."""
    DUPLICATE = "duplicate"
    """Its ``event_id`` was stored already: nothing changed."""
    SEQ_TAKEN = "seq_taken"
    """Another event of the device holds the same seq: refused (a dead letter)."""


def ensure_devices(conn: Connection, seen_at: Mapping[DeviceKey, dt.datetime]) -> None:
    """Create the devices rows that are missing (events refer to them), locking nothing that
    exists: one multi-row statement, sorted, so two workers creating the same new tills wait
    for each other in one order. ``seen_at``: as for :func:`lock_devices`."""
    keys = sorted(seen_at)
    if keys:
        conn.insert_rows(
            "devices",
            ("tenant", "store", "device", "first_seen_at", "last_seen_at"),
            [(*key, seen_at[key], seen_at[key]) for key in keys],
            on_conflict_nothing=True,
        )


def lock_devices(
    conn: Connection, seen_at: Mapping[DeviceKey, dt.datetime], *, create: bool = True
) -> None:
    """Lock devices rows, in sorted order, for this transaction (creating missing ones unless
    ``create`` is false: :func:`ensure_devices` did), and note when each was last seen.

    ``seen_at`` maps each device to when its latest message arrived (``last_seen_at``). The
    updates take the row locks in sorted order (psycopg pipelines ``executemany``).
    """
    keys = sorted(seen_at)
    if not keys:
        return
    if create:
        ensure_devices(conn, seen_at)
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
_T = TypeVar("_T")
_IN_CHUNK = 500
REASON_MAX = 2000
"""Characters of a dead letter's reason that are kept (a reason quoting a huge value is cut)."""


def _in_chunks(values: Sequence[_T]) -> Iterator[tuple[list[_T], str]]:
    """``values`` in pieces of at most :data:`_IN_CHUNK`, each with its ``?, ?, …`` list, so an
    ``IN (…)`` stays within every driver's parameter limit."""
    for start in range(0, len(values), _IN_CHUNK):
        chunk = list(values[start : start + _IN_CHUNK])
        yield chunk, ", ".join("?" for _ in chunk)


def store_events(
    conn: Connection, items: Sequence[tuple[Envelope, bytes, dt.datetime]]
) -> list[Outcome]:
    """:func:`store_event` for many events at once, set-based; one outcome per item, in order.

    Their devices must exist (:func:`ensure_devices`). Items are stored in the order given:
    of two items with one ``event_id`` the later is a duplicate, of two with one seq the later
    is refused. One multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING event_id`` for the
    ``events`` rows, one for the queue rows of those really inserted.
    """
    ids = [str(event.event_id) for event, _, _ in items]
    outcomes: list[Outcome | None] = [None] * len(items)
    first: dict[str, int] = {}
    for i, eid in enumerate(ids):
        if eid in first:
            outcomes[i] = Outcome.DUPLICATE
        else:
            first[eid] = i
    candidates = list(first.values())
    rows = []
    for i in candidates:
        ev, payload, received_at = items[i]
        rows.append(
            (
                ids[i],
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
        )
    inserted = set(
        conn.insert_rows(
            "events",
            _EVENT_COLUMNS,
            rows,
            on_conflict_nothing=True,
            returning="event_id",
            scalar=True,
        )
    )
    refused = [ids[i] for i in candidates if ids[i] not in inserted]
    known: set[str] = set()
    for chunk, marks in _in_chunks(refused):
        known.update(conn.column(f"SELECT event_id FROM events WHERE event_id IN ({marks})", chunk))
    new: list[tuple[str]] = []
    for i in candidates:
        eid = ids[i]
        if eid in inserted:
            outcomes[i] = Outcome.STORED
            new.append((eid,))
        else:
            outcomes[i] = Outcome.DUPLICATE if eid in known else Outcome.SEQ_TAKEN
    conn.insert_rows("projection_queue", ("event_id",), new)
    assert all(o is not None for o in outcomes)
    return [o for o in outcomes if o is not None]


def store_event(
    conn: Connection, event: Envelope, payload: bytes, received_at: dt.datetime
) -> Outcome:
    """Insert ``event`` once and queue it for projection; its device must exist
    (:func:`ensure_devices`)."""
    return store_events(conn, [(event, payload, received_at)])[0]


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
    state = SeqState(hwm=hwm, max_seq=max_seq, first_above=first_above)
    _write_marks(conn, {key: state})
    return state


def advance_many(
    conn: Connection,
    keys: Sequence[DeviceKey],
    stored: Mapping[DeviceKey, Sequence[int]],
    seen: Mapping[DeviceKey, Sequence[int]],
) -> dict[DeviceKey, SeqState]:
    """:func:`advance` for the devices of a batch (locked), in order, with one read and one
    write for all of them.

    ``stored``: the seqs this transaction stored, by device — all of them. A device with
    nothing stored above its mark before (``max_seq`` is the mark: the usual case, a till
    sending in order) moves its mark over those alone, with no query of its own; only a device
    with a gap open walks the table. Two queries a device had made a batch of 500 messages from
    500 tills a thousand round trips. ``seen``: the seqs of the batch found stored already
    (duplicates).

    Relies on ``devices.max_seq`` being the highest seq stored, which every transaction that
    stores events keeps (it ends here or in :func:`advance`, under the device's lock); a
    duplicate above the mark shows it does not hold (a hand-made fix, a partial restore), and
    then that device walks. A stale ``max_seq`` with nothing redelivered shows as a gap, whose
    resend brings the duplicates.
    """
    marks: dict[DeviceKey, tuple[int, int]] = {}
    for start in range(0, len(keys), _IN_CHUNK // 3):
        chunk = keys[start : start + _IN_CHUNK // 3]
        rows = conn.execute(
            "SELECT tenant, store, device, acked_seq, max_seq FROM devices"
            " WHERE (tenant, store, device) IN (VALUES "
            + ", ".join("(?, ?, ?)" for _ in chunk)
            + ")",
            [part for key in chunk for part in key],
        )
        for r in rows:
            key = DeviceKey(str(r["tenant"]), str(r["store"]), str(r["device"]))
            marks[key] = (int(r["acked_seq"]), int(r["max_seq"]))
    states: dict[DeviceKey, SeqState] = {}
    for key in keys:
        mark = marks.get(key)
        if mark is None:
            states[key] = SeqState(hwm=0, max_seq=0, first_above=None)
            continue
        hwm, max_seq = mark
        new = stored.get(key, ())
        max_seq = max(max_seq, *new) if new else max_seq
        if mark[1] > hwm or any(seq > hwm for seq in seen.get(key, ())):
            # A gap was open (or max_seq is behind): what lies beyond is only in the table.
            hwm, first_above = _walk(conn, key, hwm)
            max_seq = max(max_seq, hwm, first_above or 0)
        else:
            above = {seq for seq in new if seq > hwm}
            while hwm + 1 in above:
                hwm += 1
            first_above = min((seq for seq in above if seq > hwm), default=None)
        states[key] = SeqState(hwm=hwm, max_seq=max_seq, first_above=first_above)
    _write_marks(conn, states)
    return states


def _write_marks(conn: Connection, states: Mapping[DeviceKey, SeqState]) -> None:
    """The new marks and highest seqs, one pipelined ``executemany`` for all the devices."""
    if states:
        conn.executemany(
            "UPDATE devices SET acked_seq = ?, max_seq = ?"
            " WHERE tenant = ? AND store = ? AND device = ?",
            [(st.hwm, st.max_seq, *key) for key, st in states.items()],
        )


def _walk(conn: Connection, key: DeviceKey, hwm: int) -> tuple[int, int | None]:
    """The mark moved over every contiguous stored seq above ``hwm``, and the first seq past
    the gap that stops it (``None`` when nothing above the new mark is stored).

    The first look is short, the next ones longer: a mark held by a gap right above it is the
    common case where there is a walk at all (two workers share each till's messages, so each
    finds the other's still missing), and a chunk of 512 fetched 511 seqs past the gap for
    nothing, every batch, for every till."""
    chunk = _WALK_FIRST
    while True:
        seqs = conn.column(
            "SELECT seq FROM events WHERE tenant = ? AND store = ? AND device = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            [*key, hwm, chunk],
        )
        for value in seqs:
            seq = int(value)
            if seq != hwm + 1:
                return hwm, seq
            hwm = seq
        if len(seqs) < chunk:
            return hwm, None
        chunk = min(chunk * 4, _WALK_CHUNK)


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
    """Keep a message that cannot be applied, with why, for a person to look at (and for
    `fleet dead-letters replay` once a fix makes it valid)."""
    conn.execute(
        "INSERT INTO dead_letters (received_at, topic, reason, error_path, payload)"
        " VALUES (?, ?, ?, ?, ?)",
        [received_at, topic, reason[:REASON_MAX], error_path, payload],
    )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that can never be applied, with why (see :func:`record_dead_letter`)."""

    received_at: dt.datetime
    topic: str
    reason: str
    error_path: str | None
    payload: bytes


def lock_dead_letters(conn: Connection, ids: Sequence[int]) -> dict[int, tuple[str, bytes]]:
    """Those of ``ids`` that are still dead letters, with their topic and payload, locked until
    COMMIT.

    A replay takes its letters first: of two replays of one letter the second waits here and
    then finds it gone (stored) or rewritten (refused again), never a copy to store or record
    twice. The caller compares topic and payload with what it read before: on SQLite an id
    freed by a deleted letter can be given to the next one, which is then another message.
    Locked in id order, so two replays with overlapping ids cannot deadlock; SQLite's one
    writer serialises them anyway.
    """
    present: dict[int, tuple[str, bytes]] = {}
    for chunk, marks in _in_chunks(sorted(set(ids))):
        for row in conn.execute(
            f"SELECT dead_letter_id, topic, payload FROM dead_letters"
            f" WHERE dead_letter_id IN ({marks}) ORDER BY dead_letter_id{conn.lock_clause()}",
            chunk,
        ):
            present[int(row["dead_letter_id"])] = (str(row["topic"]), bytes(row["payload"]))
    return present


def delete_dead_letters(conn: Connection, ids: Sequence[int]) -> None:
    """Remove dead letters by id (those a replay has stored or found already stored)."""
    for chunk, marks in _in_chunks(ids):
        conn.execute(f"DELETE FROM dead_letters WHERE dead_letter_id IN ({marks})", chunk)


def rewrite_dead_letters(conn: Connection, reasons: Sequence[tuple[int, str, str | None]]) -> None:
    """Give dead letters (id, reason, error path) today's reason, keeping their ids: a letter
    refused again is the same message, not a new one."""
    conn.executemany(
        "UPDATE dead_letters SET reason = ?, error_path = ? WHERE dead_letter_id = ?",
        [(reason[:REASON_MAX], path, letter) for letter, reason, path in reasons],
    )


def record_dead_letters(conn: Connection, letters: Sequence[DeadLetter]) -> None:
    """:func:`record_dead_letter` for many, in order, with one multi-row insert."""
    conn.insert_rows(
        "dead_letters",
        ("received_at", "topic", "reason", "error_path", "payload"),
        [(d.received_at, d.topic, d.reason[:REASON_MAX], d.error_path, d.payload) for d in letters],
    )
