"""The fleet database: one small layer over SQLite (the default) and PostgreSQL (at scale).

``connect(url)`` opens and migrates; the rest of fleet writes dialect-neutral SQL through the
returned :class:`Connection` (see ``fleet.db.engine`` for what is adapted at the boundary).
"""

from __future__ import annotations

from fleet.db.documents import current_version, next_version, scope_key
from fleet.db.engine import (
    Connection,
    DatabaseError,
    Dialect,
    IntegrityError,
    Row,
    SchemaError,
    TransientError,
    open_connection,
    parse_url,
)
from fleet.db.events import (
    DeadLetter,
    DeviceKey,
    Outcome,
    SeqState,
    advance,
    advance_many,
    delete_dead_letters,
    ensure_devices,
    lock_dead_letters,
    lock_devices,
    record_dead_letter,
    record_dead_letters,
    rewrite_dead_letters,
    seq_state,
    store_event,
    store_events,
)
from fleet.db.projection_queue import ProjectionRound, backlog, project_pending, requeue_failed
from fleet.db.schema import MIGRATIONS, connect, migrate, schema_version

__all__ = [
    "MIGRATIONS",
    "Connection",
    "DatabaseError",
    "DeadLetter",
    "DeviceKey",
    "Dialect",
    "IntegrityError",
    "Outcome",
    "ProjectionRound",
    "Row",
    "SchemaError",
    "SeqState",
    "TransientError",
    "advance",
    "advance_many",
    "backlog",
    "connect",
    "current_version",
    "delete_dead_letters",
    "ensure_devices",
    "lock_dead_letters",
    "lock_devices",
    "migrate",
    "next_version",
    "open_connection",
    "parse_url",
    "project_pending",
    "record_dead_letter",
    "record_dead_letters",
    "requeue_failed",
    "rewrite_dead_letters",
    "schema_version",
    "scope_key",
    "seq_state",
    "store_event",
    "store_events",
]
