"""A batch of uplink messages into the database: check each, store the good ones, one transaction.

No MQTT here, so it is tested directly. Each message is checked strictly before the transaction
opens (decoding is the expensive part and must not hold locks): the topic must parse as an
uplink topic, the payload must decode as the exact schema it names, the envelope's tenant must
be this fleet's, and its store, device and type must be the topic's — a till's broker identity
only lets it publish under its own ``{store}/{device}``, so an envelope naming another till is
forged or broken. A message failing any of that becomes a dead letter (kept with its reason and
raw bytes, and acknowledged to the broker: it will never become valid).

Valid events are stored in (device, seq) order, set-based (one multi-row insert for the
``events`` rows and one for their ``projection_queue`` rows; see
``fleet.db.events.store_events``), then their devices are locked and each device's high-water
mark is advanced (why in that order: ``fleet.db.events``); the caller
acks the broker only after this returns, i.e. after COMMIT. Projection into the sales, stock and
loyalty tables follows in its own transactions (``fleet.db.projection_queue``).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from fleet.db.engine import Connection
from fleet.db.events import (
    REASON_MAX,
    DeadLetter,
    DeviceKey,
    Outcome,
    SeqState,
    advance_many,
    delete_dead_letters,
    ensure_devices,
    lock_dead_letters,
    lock_devices,
    record_dead_letters,
    rewrite_dead_letters,
    store_events,
)
from protocol import ids, topics
from protocol.errors import MessageError, TopicError
from protocol.messages import Body, Event, decode_event


class Checked(NamedTuple):
    """A valid event's envelope, as the validator process hands it over: all that storing it
    needs (its body was checked, and is stored as the raw payload)."""

    event_id: str
    tenant: str
    store: str
    device: str
    seq: int
    type: str
    schema: int
    occurred_at: dt.datetime

    @classmethod
    def of(cls, event: Event[Body]) -> Checked:
        return cls(
            ids.text(event.event_id),
            event.tenant,
            event.store,
            event.device,
            event.seq,
            event.type,
            event.schema,
            event.occurred_at,
        )


@dataclass(slots=True)
class Incoming:
    """One message as the network thread handed it over; not changed after (not ``frozen``:
    a frozen dataclass sets each field through ``object.__setattr__``, which doubled the cost
    of building the thousands a second the worker's reader thread builds)."""

    topic: str
    payload: bytes
    received_at: dt.datetime
    mid: int = 0
    qos: int = 1
    generation: int = 0
    """Which broker connection delivered it: a packet id is only meaningful within one."""
    checked: Event[Body] | Checked | Invalid | None = None
    """:func:`check`'s verdict when it was reached before the batch (by the worker's validator
    process); ``None``: check it in the batch."""


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a message can never be applied, and where in it (JSONPath) when known."""

    reason: str
    path: str | None = None


@dataclass(slots=True)
class BatchResult:
    """What a committed batch did."""

    outcomes: Counter[Outcome] = field(default_factory=Counter)
    dead_letters: int = 0
    devices: dict[DeviceKey, SeqState] = field(default_factory=dict)
    """Every device the batch touched (duplicates included), with its state after commit."""
    seqs: dict[DeviceKey, list[int]] = field(default_factory=dict)
    lags_ms: list[int] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)
    """Replayed dead letters the checks refuse again, by reason (seq clashes are counted in
    ``outcomes``)."""
    letters_gone: int = 0
    """Replayed dead letters another replay took first (see :func:`apply_batch`)."""


parse_topic = functools.lru_cache(maxsize=1 << 16)(topics.parse)
"""``topics.parse``, remembered: a fleet uses a few topics per till over and over (a topic that
fails to parse raises each time and is not remembered)."""


def check(topic: str, payload: bytes, tenant: str) -> Event[Body] | Invalid:
    """The decoded event, or why the message is refused."""
    try:
        parsed = parse_topic(topic)
    except TopicError as exc:
        return Invalid(f"bad topic: {exc}")
    if parsed.direction is not topics.Direction.UP:
        return Invalid(f"not an uplink topic: {topic}")
    try:
        event = decode_event(payload, expect=parsed.name)
    except MessageError as exc:
        return Invalid(exc.reason, exc.path)
    if event.tenant != tenant:
        return Invalid(f"tenant {event.tenant!r} is not this fleet's ({tenant!r})", "$.tenant")
    for what, claimed, actual in (
        ("store", event.store, parsed.store),
        ("device", event.device, parsed.device),
        ("type", event.type, parsed.name),
    ):
        if claimed != actual:
            return Invalid(
                f"envelope {what} {claimed!r} differs from the topic's {actual!r}", f"$.{what}"
            )
    return event


def apply_batch(
    conn: Connection,
    batch: Sequence[Incoming],
    tenant: str,
    *,
    letters: Sequence[int] | None = None,
) -> BatchResult:
    """Store a batch in one transaction and return what happened (after COMMIT).

    ``letters``: when the batch replays dead letters (``fleet.ingest.replay``), each message's
    dead letter id, in order. They are locked first (:func:`~fleet.db.events.lock_dead_letters`)
    and a message whose letter is gone meanwhile — another replay took it — or now holds
    another message (an id freed before schema V5 and reused on SQLite) is left out
    (``BatchResult.letters_gone``). A message stored, or found stored, loses its letter in the
    same transaction, so it is never both stored and dead, nor neither; one refused again keeps
    its letter, under its id, with today's reason.
    """
    result = BatchResult()
    valid: list[tuple[DeviceKey, int, int, Incoming, Event[Body] | Checked]] = []
    invalid: list[tuple[int, Incoming, Invalid]] = []
    for i, msg in enumerate(batch):
        checked = msg.checked if msg.checked is not None else check(msg.topic, msg.payload, tenant)
        if isinstance(checked, Invalid):
            invalid.append((i, msg, checked))
        else:
            key = DeviceKey(checked.tenant, checked.store, checked.device)
            valid.append((key, checked.seq, i, msg, checked))
    valid.sort(key=lambda item: (item[0], item[1]))

    with conn.transaction():
        if letters is not None:
            locked = lock_dead_letters(conn, letters)
            present = {
                i
                for i, (lid, msg) in enumerate(zip(letters, batch, strict=True))
                if locked.get(lid) == (msg.topic, msg.payload)  # the same message still
            }
            result.letters_gone = len(batch) - len(present)
            if result.letters_gone:
                valid = [v for v in valid if v[2] in present]
                invalid = [v for v in invalid if v[0] in present]
            result.refusals.update(why.reason[:REASON_MAX] for _, _, why in invalid)
        seen_at: dict[DeviceKey, dt.datetime] = {}
        for key, _, _, msg, _ in valid:
            seen = seen_at.get(key)
            if seen is None or msg.received_at > seen:
                seen_at[key] = msg.received_at
        ensure_devices(conn, seen_at)
        outcomes = store_events(
            conn, [(ev, msg.payload, msg.received_at) for _, _, _, msg, ev in valid]
        )
        lock_devices(conn, seen_at, create=False)  # only now: the marks (fleet.db.events)
        done: list[int] = []
        stored: dict[DeviceKey, list[int]] = {}  # by this transaction
        found: dict[DeviceKey, list[int]] = {}  # stored before it (duplicates)
        for (key, seq, i, msg, event), outcome in zip(valid, outcomes, strict=True):
            result.outcomes[outcome] += 1
            if outcome is Outcome.SEQ_TAKEN:
                why = Invalid(f"seq {seq} of {'/'.join(key)} is another event's", "$.seq")
                invalid.append((i, msg, why))
                continue
            done.append(i)
            result.seqs.setdefault(key, []).append(seq)
            if outcome is Outcome.DUPLICATE:
                found.setdefault(key, []).append(seq)
            elif outcome is Outcome.STORED:
                stored.setdefault(key, []).append(seq)
                lag = msg.received_at - event.occurred_at
                result.lags_ms.append(max(0, lag // _MS))
        result.dead_letters = len(invalid)
        if letters is None:
            record_dead_letters(
                conn,
                [
                    DeadLetter(
                        received_at=msg.received_at,
                        topic=msg.topic,
                        reason=why.reason,
                        error_path=why.path,
                        payload=msg.payload,
                    )
                    for _, msg, why in invalid
                ],
            )
        else:
            refused = [(letters[i], why.reason, why.path) for i, _, why in invalid]
            rewrite_dead_letters(conn, refused)
            delete_dead_letters(conn, [letters[i] for i in done])
        result.devices.update(advance_many(conn, sorted(seen_at), stored, found))
    return result


_MS = dt.timedelta(milliseconds=1)
