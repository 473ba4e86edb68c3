"""Monotonic document versions per (kind, scope), so every document HQ issues is newer.

A till refuses a document whose version is not above the one it runs (no rollback, even from a
hostile broker), and executes a command once per version, so HQ must never issue the same
version twice for a (kind, scope). The counter lives in the database and is bumped atomically
(``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``), so concurrent workers and publishers
never hand out the same number.
"""

from __future__ import annotations

import datetime as dt

from fleet.db.engine import Connection
from protocol.messages import DocScope


def scope_key(scope: DocScope) -> str:
    """``tenant``, ``tenant/store`` or ``tenant/store/device`` (ids never contain ``/``)."""
    return "/".join(p for p in (scope.tenant, scope.store, scope.device) if p is not None)


def next_version(
    conn: Connection, kind: str, scope: DocScope, *, now: dt.datetime, at_least: int = 1
) -> int:
    """Allocate the next version of ``kind`` for ``scope`` (never below ``at_least``)."""
    version = conn.scalar(
        "INSERT INTO document_versions (kind, scope, version, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (kind, scope) DO UPDATE SET"
        " version = CASE WHEN document_versions.version + 1 > ? THEN document_versions.version + 1"
        " ELSE ? END, updated_at = excluded.updated_at"
        " RETURNING version",
        [kind, scope_key(scope), max(at_least, 1), now, at_least, at_least],
    )
    return int(version)


def current_version(conn: Connection, kind: str, scope: DocScope) -> int | None:
    """The last version issued for (kind, scope), or ``None`` if none was."""
    value = conn.scalar(
        "SELECT version FROM document_versions WHERE kind = ? AND scope = ?",
        [kind, scope_key(scope)],
    )
    return None if value is None else int(value)
