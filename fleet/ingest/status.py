"""HQ's view of which tills are online: the retained ``status`` topic into the devices table.

A till publishes ``online`` (retained) on each connection and leaves an ``offline`` Last Will;
both carry the connection's number (``protocol.messages.status``). HQ keeps, per device, the
state and connection number of the message that :func:`~protocol.messages.status.supersedes`
all others it saw, so the order messages arrive in does not matter: a Will from a connection
that was already replaced (a network that flapped, a broker that noticed the old socket late)
has a smaller number than the ``online`` HQ holds and is ignored, instead of showing a selling
till as down.

Ingest workers take status messages on an ordinary, not a ``$share``, subscription: a shared
subscription is never sent retained messages (MQTT 5, 4.8.2), and they are how a new HQ
database learns who is online right away. Every worker therefore sees every status message;
applying one is idempotent (the same message twice changes nothing) and the devices row is
locked while it is compared, so that costs a little work, never a wrong answer.

``status_changed_at`` is when HQ's view last moved (HQ's clock, as ``received_at``); a
retained message redelivered on reconnect is the same view and leaves it alone. An ``online``
also moves ``last_seen_at``; a Will does not, as it is the broker speaking, not the till.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from fleet.db.engine import Connection
from fleet.db.events import DeviceKey, record_dead_letter
from fleet.ingest.batch import BatchResult, Incoming, apply_batch, parse_topic
from protocol import topics
from protocol.errors import MessageError, TopicError
from protocol.messages.status import DeviceStatus, decode_status, supersedes


class StatusOutcome(Enum):
    """What one status message did to HQ's view."""

    CHANGED = "changed"
    SAME = "same"
    """Equal to what HQ holds (a retained message redelivered): nothing written."""
    STALE = "stale"
    """Superseded by what HQ holds (a late Will of a replaced connection): ignored."""
    CLEARED = "cleared"
    """An empty payload, i.e. someone deleted the retained status: ignored, HQ keeps its view."""


@dataclass(frozen=True, slots=True)
class StatusView:
    """A device's status as HQ holds it."""

    state: str
    """``unknown`` (never heard), ``online`` or ``offline``."""
    connection: int | None
    changed_at: dt.datetime | None
    last_seen_at: dt.datetime


@dataclass(slots=True)
class StatusResult:
    """What a batch of status messages did."""

    outcomes: Counter[StatusOutcome] = field(default_factory=Counter)
    dead_letters: int = 0


def is_status_topic(topic: str) -> bool:
    """True for ``tf/v1/{store}/{device}/status`` (the only topics this module takes)."""
    try:
        return parse_topic(topic).direction is topics.Direction.STATUS
    except TopicError:
        return False


def apply_messages(conn: Connection, batch: Sequence[Incoming], tenant: str) -> BatchResult:
    """Apply a mixed batch: status messages here, uplink events by ``apply_batch``.

    Statuses commit first, in their own transaction: if the uplink transaction then fails, the
    caller retries the whole batch and the statuses apply again as no-ops.
    """
    statuses: list[Incoming] = []
    others: list[Incoming] = []
    for m in batch:
        (statuses if is_status_topic(m.topic) else others).append(m)
    dead = apply_statuses(conn, statuses, tenant).dead_letters if statuses else 0
    result = apply_batch(conn, others, tenant) if others else BatchResult()
    result.dead_letters += dead
    return result


def apply_statuses(conn: Connection, batch: Sequence[Incoming], tenant: str) -> StatusResult:
    """Apply status messages in one transaction; malformed ones become dead letters.

    Devices are locked in sorted order (as ``lock_devices`` does for uplink), each device's
    messages applied in arrival order — though by :func:`supersedes` any order ends the same.
    """
    result = StatusResult()
    by_device: dict[DeviceKey, list[tuple[Incoming, DeviceStatus | None]]] = {}
    invalid: list[tuple[Incoming, str, str | None]] = []
    for msg in batch:
        try:
            parsed = parse_topic(msg.topic)
        except TopicError as exc:
            invalid.append((msg, f"bad topic: {exc}", None))
            continue
        if parsed.direction is not topics.Direction.STATUS:
            invalid.append((msg, f"not a status topic: {msg.topic}", None))
            continue
        assert parsed.store is not None
        assert parsed.device is not None
        status: DeviceStatus | None = None
        if msg.payload:
            try:
                status = decode_status(msg.payload)
            except MessageError as exc:
                invalid.append((msg, exc.reason, exc.path))
                continue
        by_device.setdefault(DeviceKey(tenant, parsed.store, parsed.device), []).append(
            (msg, status)
        )
    with conn.transaction():
        for key in sorted(by_device):
            for msg, status in by_device[key]:
                if status is None:
                    result.outcomes[StatusOutcome.CLEARED] += 1
                else:
                    result.outcomes[apply_status(conn, key, status, msg.received_at)] += 1
        for msg, reason, path in invalid:
            record_dead_letter(
                conn,
                received_at=msg.received_at,
                topic=msg.topic,
                reason=reason,
                error_path=path,
                payload=msg.payload,
            )
    result.dead_letters = len(invalid)
    return result


def apply_status(
    conn: Connection, key: DeviceKey, status: DeviceStatus, received_at: dt.datetime
) -> StatusOutcome:
    """Fold one status into the device's row (created if missing); needs an open transaction."""
    conn.execute(
        "INSERT INTO devices (tenant, store, device, first_seen_at, last_seen_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [*key, received_at, received_at],
    )
    row = conn.one(
        "SELECT status, connection_no FROM devices WHERE tenant = ? AND store = ? AND device = ?"
        + conn.lock_clause(),
        list(key),
    )
    assert row is not None  # inserted above, in this transaction
    held = _held(row["status"], row["connection_no"])
    if held is not None and (held.state, held.connection) == (status.state, status.connection):
        return StatusOutcome.SAME
    if not supersedes(status, held):
        return StatusOutcome.STALE
    conn.execute(
        "UPDATE devices SET status = ?, connection_no = ?, status_changed_at = ?"
        " WHERE tenant = ? AND store = ? AND device = ?",
        [status.state, status.connection, received_at, *key],
    )
    if status.state == "online":
        conn.execute(
            "UPDATE devices SET last_seen_at = ?"
            " WHERE tenant = ? AND store = ? AND device = ? AND last_seen_at < ?",
            [received_at, *key, received_at],
        )
    return StatusOutcome.CHANGED


def device_status(conn: Connection, key: DeviceKey) -> StatusView | None:
    """HQ's view of ``key``, or ``None`` for a device it has never heard of."""
    row = conn.one(
        "SELECT status, connection_no, status_changed_at, last_seen_at FROM devices"
        " WHERE tenant = ? AND store = ? AND device = ?",
        list(key),
    )
    if row is None:
        return None
    connection = row["connection_no"]
    return StatusView(
        state=row["status"],
        connection=None if connection is None else int(connection),
        changed_at=row["status_changed_at"],
        last_seen_at=row["last_seen_at"],
    )


def _held(state: str, connection: int | None) -> DeviceStatus | None:
    if connection is None or state not in ("online", "offline"):
        return None
    return DeviceStatus(
        state="online" if state == "online" else "offline", connection=int(connection), at=None
    )
