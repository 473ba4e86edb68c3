"""The transactional outbox: uplink events wait here, in ``seq`` order, until HQ acks them.

Every function runs inside the caller's transaction (``edge.store.db.transaction``), so an
event is queued in the same commit as the state change it reports, and rows leave only when a
signed ack from HQ says they are stored there.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from edge.store import journal
from protocol.messages import encode_event, make_event
from protocol.messages.base import Body


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sends: the envelope fields every uplink event of this till carries."""

    tenant: str
    store: str
    device: str


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    event_id: str
    type: str
    payload: bytes


def queue(
    conn: sqlite3.Connection, origin: Origin, body: Body, *, event_id: uuid.UUID, at: datetime
) -> int:
    """Give ``body`` the next ``seq``, validate it as HQ will, and queue it; returns the seq.

    Validation happens here, before the commit, so an event HQ would refuse is a refused command
    on the till (with the offending field), never a dead letter at HQ.
    """
    seq = journal.next_counter(conn, "seq")
    wire = encode_event(
        make_event(
            body,
            event_id=event_id,
            tenant=origin.tenant,
            store=origin.store,
            device=origin.device,
            seq=seq,
            occurred_at=at,
        )
    )
    journal.add_to_outbox(
        conn, seq=seq, event_id=str(event_id), type_=body.TYPE, payload=wire, at=at
    )
    return seq


def after(conn: sqlite3.Connection, seq: int, limit: int) -> list[Row]:
    """Up to ``limit`` queued rows with a seq of at least ``seq``, in order."""
    return [
        Row(int(s), e, t, bytes(p))
        for s, e, t, p in conn.execute(
            "SELECT seq, event_id, type, payload FROM outbox WHERE seq >= ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
    ]


def first_seq(conn: sqlite3.Connection) -> int | None:
    """The oldest unacked seq, or ``None`` when the outbox is empty."""
    row = conn.execute("SELECT MIN(seq) FROM outbox").fetchone()
    return None if row[0] is None else int(row[0])


def depth(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


class _Refs(msgspec.Struct):
    sale_id: str | None = None
    refund_id: str | None = None


class _Envelope(msgspec.Struct):
    body: _Refs


_ref_decoder = msgspec.json.Decoder(_Envelope)


def acknowledge(conn: sqlite3.Connection, up_to_seq: int, hq_time: datetime) -> int:
    """HQ stored everything up to ``up_to_seq``: drop those rows; returns how many went.

    The loyalty movements of the acked sales and refunds are marked with HQ's time of the ack,
    so a member-cache document HQ issues after it (whose balances include them) can clear them
    (see :func:`clear_confirmed_loyalty`) — and not before, or points would vanish for a while.
    """
    refs: list[str] = []
    for (payload,) in conn.execute(
        "SELECT payload FROM outbox WHERE seq <= ? "
        "AND type IN ('sale.completed', 'refund.completed')",
        (up_to_seq,),
    ):
        body = _ref_decoder.decode(payload).body
        refs.extend(r for r in (body.sale_id, body.refund_id) if r is not None)
    for ref in refs:
        conn.execute(
            "UPDATE loyalty_pending SET acked_at = ? WHERE ref = ? AND acked_at IS NULL",
            (_utc(hq_time), ref),
        )
    return conn.execute("DELETE FROM outbox WHERE seq <= ?", (up_to_seq,)).rowcount


def clear_confirmed_loyalty(
    conn: sqlite3.Connection, member_ids: list[str] | None, issued_at: datetime
) -> int:
    """A member cache issued at ``issued_at`` includes every movement HQ acked before then.

    ``member_ids`` is who the document refreshed (``None``: everyone, a snapshot). Their pending
    movements acked before ``issued_at`` are now in the cached balance: drop them, so the till
    neither counts them twice nor forgets them.
    """
    at = _utc(issued_at)
    if member_ids is None:
        return conn.execute(
            "DELETE FROM loyalty_pending WHERE acked_at IS NOT NULL AND acked_at <= ?", (at,)
        ).rowcount
    n = 0
    for member_id in member_ids:
        n += conn.execute(
            "DELETE FROM loyalty_pending WHERE member_id = ? AND acked_at IS NOT NULL "
            "AND acked_at <= ?",
            (member_id, at),
        ).rowcount
    return n


def _utc(t: datetime) -> str:
    """HQ times in one zone and format, so they compare as text."""
    return t.astimezone(UTC).isoformat()
