"""Dead letters, given another chance: after a fix to the checks or to a till, not before.

A message the ingest worker could not apply is kept as a dead letter with its raw bytes and the
reason (``fleet.ingest.batch``). Most never become valid (garbage, a forged envelope), but two
kinds can: one refused because of a bug in checking (``internal error while checking: …``), and
one refused by an older HQ that did not yet know its schema version. :func:`replay` checks the
selected dead letters again with the code running now; those that pass are stored exactly as the
ingest worker stores them (:func:`~fleet.ingest.batch.apply_batch`: once by ``event_id``, seq
marks advanced, queued for projection) and their dead letters deleted in the same transaction;
one whose event is meanwhile stored (the till resent it) is deleted as done; the rest stay, with
today's reason. The till learns of the stored events from the next ack HQ sends it.

Status messages are not replayed: a device's next retained status supersedes a refused one.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from fleet.db import Connection, DatabaseError, Outcome, Row, project_pending
from fleet.ingest import validator
from fleet.ingest.batch import Incoming, apply_batch
from fleet.ingest.status import is_status_topic

REPLAY_BATCH = 500
"""Dead letters per transaction."""


@dataclass(frozen=True, slots=True)
class Letter:
    """One dead letter as listed."""

    dead_letter_id: int
    received_at: dt.datetime
    topic: str
    reason: str
    error_path: str | None
    size: int


@dataclass(slots=True)
class ReplayResult:
    """What a replay did."""

    stored: int = 0
    already_stored: int = 0
    still_invalid: int = 0
    skipped_status: int = 0
    not_found: int = 0
    """Ids asked for that are not dead letters (any more, or taken by a replay beside this)."""
    projected: int = 0
    """Queued events this replay projected afterwards (the replayed ones first)."""
    projection_failed: int = 0
    projection_deferred: str | None = None
    """Why projecting afterwards stopped early (a database error), if it did: the stored events
    wait in the queue for a worker's projector."""
    reasons: Counter[str] = field(default_factory=Counter)
    """Why those still invalid are refused now (reason → how many)."""


def list_letters(conn: Connection, *, limit: int, after_id: int = 0) -> list[Letter]:
    """Dead letters in the order they came, ``limit`` at most, ids above ``after_id``."""
    rows = conn.execute(
        "SELECT dead_letter_id, received_at, topic, reason, error_path,"
        " length(payload) AS size FROM dead_letters"
        " WHERE dead_letter_id > ? ORDER BY dead_letter_id LIMIT ?",
        [after_id, limit],
    )
    return [
        Letter(
            dead_letter_id=int(r["dead_letter_id"]),
            received_at=r["received_at"],
            topic=str(r["topic"]),
            reason=str(r["reason"]),
            error_path=r["error_path"],
            size=int(r["size"]),
        )
        for r in rows
    ]


def replay(conn: Connection, tenant: str, ids: list[int] | None = None) -> ReplayResult:
    """Check the dead letters named by ``ids`` (all when ``None``) again; store what passes,
    then project what was stored (a worker's projector only wakes for what its worker stored)."""
    result = ReplayResult()
    if ids is not None:
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), REPLAY_BATCH):
            chunk = wanted[start : start + REPLAY_BATCH]
            marks = ", ".join("?" for _ in chunk)
            rows = _rows(conn, f"dead_letter_id IN ({marks}) ORDER BY dead_letter_id", chunk)
            result.not_found += len(chunk) - len(rows)
            _replay_rows(conn, tenant, rows, result)
    else:
        # Up to the newest there is now, so a replay cannot chase letters recorded after it
        # started (those are the live workers' to refuse).
        last = conn.scalar("SELECT max(dead_letter_id) AS n FROM dead_letters") or 0
        after = 0
        while rows := _rows(
            conn,
            "dead_letter_id > ? AND dead_letter_id <= ? ORDER BY dead_letter_id LIMIT ?",
            [after, last, REPLAY_BATCH],
        ):
            after = int(rows[-1]["dead_letter_id"])
            _replay_rows(conn, tenant, rows, result)
    _project(conn, result)
    return result


def _rows(conn: Connection, where: str, params: list[int]) -> list[Row]:
    return conn.execute(
        f"SELECT dead_letter_id, topic, payload, received_at FROM dead_letters WHERE {where}",
        params,
    )


def _replay_rows(conn: Connection, tenant: str, rows: list[Row], result: ReplayResult) -> None:
    batch: list[Incoming] = []
    letters: list[int] = []
    for row in rows:
        topic = str(row["topic"])
        if is_status_topic(topic):
            result.skipped_status += 1
            continue
        payload = bytes(row["payload"])
        verdict = validator.verdict(topic, payload, tenant)  # a check that raises: refused
        assert verdict is not None  # status topics were skipped above
        batch.append(Incoming(topic, payload, row["received_at"], checked=verdict))
        letters.append(int(row["dead_letter_id"]))
    if not batch:
        return
    applied = apply_batch(conn, batch, tenant, letters=letters)
    result.stored += applied.outcomes[Outcome.STORED]
    result.already_stored += applied.outcomes[Outcome.DUPLICATE]
    result.still_invalid += applied.dead_letters
    result.not_found += applied.letters_gone
    result.reasons.update(applied.refusals)
    if taken := applied.outcomes[Outcome.SEQ_TAKEN]:
        result.reasons["its seq is another event's"] += taken


def _project(conn: Connection, result: ReplayResult) -> None:
    """Project as many queued events as the replay stored (the queue is in event order, and
    replayed events are old, so theirs come first) — fewer if a worker's projector is taking
    them meanwhile. The replay itself is committed by now: a failure here only leaves the
    rest to the workers' projectors, and is reported, not raised."""
    try:
        while result.projected + result.projection_failed < result.stored:
            done = project_pending(conn)
            if not done.taken:
                break
            result.projected += done.projected
            result.projection_failed += done.failed
    except DatabaseError as exc:
        result.projection_deferred = str(exc)
