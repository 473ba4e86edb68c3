"""Projecting stored events into HQ's tables, after the ingest has acknowledged them.

The ingest's transaction stores an event and queues its id (``fleet.db.events``); that is what
HQ acknowledges, so a till can free its outbox as fast as events can be written once. Writing an
event's rows into ``sales``, ``sale_lines``, ``tenders``, ``stock_deltas``, the loyalty ledger
and the rest (``fleet.db.projections``) is about five times the work of storing it, and happens
here: a round takes queued events, projects them and takes them off the queue in one
transaction, so each is projected exactly once whatever crashes, and a bug in a projection never
holds up the acknowledgements of a fleet.

Order: the queue is read in ``event_id`` order, and event ids are UUIDv7, i.e. in the order the
tills made the events, so a sale is projected before a refund of it made later on another till
whenever both are waiting. Concurrency: on PostgreSQL each round locks the queue rows it takes
(``FOR UPDATE SKIP LOCKED``), so several workers project side by side without taking the same
event twice or waiting for each other; on SQLite ``BEGIN IMMEDIATE`` serialises them.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass

from fleet.db.engine import Connection, Dialect, TransientError
from fleet.db.projections import project, project_many
from protocol.errors import MessageError
from protocol.messages import Body, Event, decode_event


@dataclass(frozen=True, slots=True)
class ProjectionRound:
    """What one round did."""

    projected: int = 0
    failed: int = 0
    """Events whose projection failed: taken off the queue, the reason kept in
    ``events.projection_error`` (see :func:`requeue_failed`)."""

    @property
    def taken(self) -> int:
        return self.projected + self.failed


def backlog(conn: Connection) -> int:
    """Events stored and not projected yet."""
    return int(conn.scalar("SELECT count(*) AS n FROM projection_queue"))


def project_pending(conn: Connection, limit: int = 100) -> ProjectionRound:
    """Project up to ``limit`` queued events in one transaction; a round of 0 means none waits
    (or, on PostgreSQL, all waiting are being projected by another worker)."""
    skip_locked = " FOR UPDATE SKIP LOCKED" if conn.dialect is Dialect.POSTGRES else ""
    with conn.transaction():
        ids = [
            str(r["event_id"])
            for r in conn.execute(
                f"SELECT event_id FROM projection_queue ORDER BY event_id LIMIT {int(limit)}"
                + skip_locked
            )
        ]
        if not ids:
            return ProjectionRound()
        marks = ", ".join("?" for _ in ids)
        stored = {
            str(r["event_id"]): (bytes(r["payload"]), str(r["type"]))
            for r in conn.execute(
                f"SELECT event_id, type, payload FROM events WHERE event_id IN ({marks})", ids
            )
        }
        events: list[Event[Body]] = []
        errors: list[tuple[str, str]] = []
        for eid in ids:
            payload, kind = stored[eid]
            try:
                events.append(decode_event(payload, expect=kind))
            except MessageError as exc:  # stored under an older schema this code cannot read
                errors.append((f"cannot decode the stored payload: {exc}", eid))
            except Exception as exc:  # an upgrade bug must not hold up the queue behind it
                errors.append((f"cannot decode the stored payload: {_describe(exc)}", eid))
        errors.extend(_project_all(conn, events))
        if errors:
            conn.executemany("UPDATE events SET projection_error = ? WHERE event_id = ?", errors)
        conn.execute(f"DELETE FROM projection_queue WHERE event_id IN ({marks})", ids)
    return ProjectionRound(projected=len(ids) - len(errors), failed=len(errors))


def requeue_failed(conn: Connection) -> int:
    """Queue again every event whose projection failed (after the fix is deployed); how many."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT event_id FROM events WHERE projection_error IS NOT NULL"
            " AND event_id NOT IN (SELECT event_id FROM projection_queue)"
        )
        ids = [(r["event_id"],) for r in rows]
        conn.insert_rows("projection_queue", ("event_id",), ids)
        # Only those: a round committing meanwhile (PostgreSQL, read committed) may have
        # recorded new errors, which stay until the next requeue.
        conn.executemany("UPDATE events SET projection_error = NULL WHERE event_id = ?", ids)
    return len(ids)


def _project_all(conn: Connection, events: Sequence[Event[Body]]) -> list[tuple[str, str]]:
    """Project ``events`` together (one multi-row insert per table) in a savepoint; only if that
    fails, each in a savepoint of its own, so the events that project still do. Returns
    (reason, event_id) for each that failed."""
    if not events:
        return []
    try:
        with conn.savepoint():
            project_many(conn, events)
    except TransientError:
        raise
    except Exception:  # some event's projection fails: find which, one savepoint each
        pass
    else:
        return []
    errors: list[tuple[str, str]] = []
    for event in events:
        try:
            with conn.savepoint():
                project(conn, event)
        except TransientError:
            raise
        except Exception as exc:  # a constraint or a bug must not hold up the other events
            errors.append((_describe(exc), str(event.event_id)))
    return errors


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(exc)).strip()[:2000]
