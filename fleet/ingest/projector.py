"""The ingest worker's projector: queued events into the reporting tables, in a process of its own.

Projection (``fleet.db.projection_queue``) is most of the database work of an event, so it runs
beside the receiver and the writer threads instead of in the ingest transaction, and only when
the worker asks: one round per ``("go",)``, which the worker sends when the uplink pauses, or
once stored events have waited too long (``fleet.ingest.pacing``). Storing and acknowledging
uplink thus comes first — on SQLite, whose single writer lock the two share, a batch waits at
most one round — and the reporting tables catch up whenever the uplink pauses. (Not at a lower
CPU priority: a niced projector holding SQLite's write lock kept the writer waiting behind it.)

Started by ``fleet.ingest.child``. From the worker: ``("go",)`` and ``("stop",)``. To it, after
each round: ``("round", projected, failed, backlog)`` — ``backlog`` only when the round found
nothing to take (else ``None``) — or ``("failed", error)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe

from fleet.db import Connection, backlog, connect, project_pending
from fleet.ingest import child, gcpolicy


@dataclass(frozen=True, slots=True)
class ProjectorSettings:
    db_url: str
    batch: int


def main() -> None:
    pipe, settings = child.attach()
    assert isinstance(settings, ProjectorSettings)
    child.ready(pipe)
    run(pipe, settings)


def run(pipe: Pipe, settings: ProjectorSettings) -> None:
    conn: Connection | None = None
    try:
        while True:
            try:
                order = pipe.recv()
            except (EOFError, OSError):
                return  # the worker is gone; an open round's transaction rolls back
            if order[0] == "stop":
                return
            try:
                if conn is None:
                    conn = connect(settings.db_url)
                with gcpolicy.paused():
                    done = project_pending(conn, settings.batch)
                left = backlog(conn) if done.taken == 0 else None
            except Exception as exc:  # a bug must cost a retry, never the acks
                # The worker retries after a pause; a fresh connection drops whatever state
                # the failure left (DatabaseError or not).
                if conn is not None:
                    conn.close()
                    conn = None
                reply: tuple[object, ...] = ("failed", f"{type(exc).__name__}: {exc}"[:500])
            else:
                reply = ("round", done.projected, done.failed, left)
            try:
                pipe.send(reply)
            except OSError:
                return
    finally:
        if conn is not None:
            conn.close()
