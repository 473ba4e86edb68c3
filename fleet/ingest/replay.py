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

from fleet.db import Connection, Outcome, Row
from fleet.ingest import validator
from fleet.ingest.batch import Incoming, Invalid, apply_batch
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
    """Ids asked for that are not dead letters (any more)."""
    reasons: Counter[str] = field(default_factory=Counter)
    """Why those still invalid are refused now (reason → how many)."""


def list_letters(conn: Connection, *, limit: int, after_id: int = 0) -> list[Letter]:
    """Dead letters in the order they came, ``limit`` at most, ids above ``after_id``."""
    rows = _rows(conn, "dead_letter_id > ? ORDER BY dead_letter_id LIMIT ?", [after_id, limit])
    return [
        Letter(
            dead_letter_id=int(r["dead_letter_id"]),
            received_at=r["received_at"],
            topic=str(r["topic"]),
            reason=str(r["reason"]),
            error_path=r["error_path"],
            size=len(bytes(r["payload"])),
        )
        for r in rows
    ]


def replay(conn: Connection, tenant: str, ids: list[int] | None = None) -> ReplayResult:
    """Check the dead letters named by ``ids`` (all when ``None``) again; store what passes."""
    result = ReplayResult()
    if ids is not None:
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), REPLAY_BATCH):
            chunk = wanted[start : start + REPLAY_BATCH]
            marks = ", ".join("?" for _ in chunk)
            rows = _rows(conn, f"dead_letter_id IN ({marks}) ORDER BY dead_letter_id", chunk)
            result.not_found += len(chunk) - len(rows)
            _replay_rows(conn, tenant, rows, result)
        return result
    # Up to the newest there is now: a replay refused again is recorded anew, above it.
    last = conn.scalar("SELECT max(dead_letter_id) AS n FROM dead_letters") or 0
    after = 0
    while rows := _rows(
        conn,
        "dead_letter_id > ? AND dead_letter_id <= ? ORDER BY dead_letter_id LIMIT ?",
        [after, last, REPLAY_BATCH],
    ):
        after = int(rows[-1]["dead_letter_id"])
        _replay_rows(conn, tenant, rows, result)
    return result


def _rows(conn: Connection, where: str, params: list[int]) -> list[Row]:
    return conn.execute(
        "SELECT dead_letter_id, received_at, topic, reason, error_path, payload"
        f" FROM dead_letters WHERE {where}",
        params,
    )


def _replay_rows(conn: Connection, tenant: str, rows: list[Row], result: ReplayResult) -> None:
    passing: list[Incoming] = []
    passing_ids: list[int] = []
    reasons: list[tuple[str, str | None, int]] = []
    for row in rows:
        topic = str(row["topic"])
        payload = bytes(row["payload"])
        letter_id = int(row["dead_letter_id"])
        if is_status_topic(topic):
            result.skipped_status += 1
            continue
        verdict = validator.verdict(topic, payload, tenant)  # a check that raises: refused
        assert verdict is not None  # status topics were skipped above
        if isinstance(verdict, Invalid):
            reason = verdict.reason[:2000]
            result.still_invalid += 1
            result.reasons[reason] += 1
            if (reason, verdict.path) != (row["reason"], row["error_path"]):
                reasons.append((reason, verdict.path, letter_id))
            continue
        passing.append(Incoming(topic, payload, row["received_at"], checked=verdict))
        passing_ids.append(letter_id)
    if reasons:
        with conn.transaction():
            conn.executemany(
                "UPDATE dead_letters SET reason = ?, error_path = ? WHERE dead_letter_id = ?",
                reasons,
            )
    if not passing:
        return
    applied = apply_batch(conn, passing, tenant, replacing=passing_ids)
    result.stored += applied.outcomes[Outcome.STORED]
    result.already_stored += applied.outcomes[Outcome.DUPLICATE]
    # A seq meanwhile taken by another event is refused again, as a new dead letter.
    taken = applied.outcomes[Outcome.SEQ_TAKEN]
    result.still_invalid += taken
    if taken:
        result.reasons["its seq is another event's"] += taken
