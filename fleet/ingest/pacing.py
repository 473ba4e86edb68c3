"""When the ingest worker projects: in the pauses of the uplink, and never too far behind.

On a small machine the projector's CPU is taken from receiving, checking and storing, which is
what frees the tills' outboxes. So a projection round waits until the uplink has been quiet for
a moment (``quiet_s``, the batch wait: a longer pause than batching itself makes) — unless
stored events have waited ``max_delay_s``; from then on rounds follow back to back until the
queue is empty, so a sustained load can delay the reporting tables but never starve them.

Quiet means neither arriving nor being written. A worker whose writer waits for the database
(another worker's transaction on SQLite's one write lock) gets nothing new meanwhile: its
in-flight window is full of what it has not yet acknowledged. Counted from the last arrival
alone, that wait looked like a pause; a round then started as the batch ended, took the write
lock itself, and the workers queued behind it — two workers on one SQLite file stored a quarter
less than one, and counting the written batch as activity gave the quarter back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class ProjectionPacer:
    """The timing half of the decision; times are ``time.monotonic()`` seconds."""

    quiet_s: float
    max_delay_s: float
    last_busy: float = -math.inf
    """When messages last arrived or a batch was last written."""
    behind_since: float | None = None
    """When the oldest stored event no round has been started for was stored."""

    def busy(self, now: float) -> None:
        """Messages arrived, or a batch of them has been written."""
        self.last_busy = now

    def stored(self, now: float) -> None:
        if self.behind_since is None:
            self.behind_since = now

    def overdue(self, now: float) -> bool:
        return self.behind_since is not None and now - self.behind_since >= self.max_delay_s

    def hold(self, now: float) -> float:
        """How long to hold a due round back: 0 means start it now."""
        if self.overdue(now):
            return 0.0
        quiet_in = self.last_busy + self.quiet_s - now
        if quiet_in <= 0:
            return 0.0
        if self.behind_since is None:
            return quiet_in
        return min(quiet_in, self.behind_since + self.max_delay_s - now)

    def started(self, now: float) -> None:
        """A round starts. Stores from now on wait afresh — unless overdue, when the clock
        keeps running until :meth:`caught_up`, so rounds follow back to back."""
        if not self.overdue(now):
            self.behind_since = None

    def caught_up(self) -> None:
        self.behind_since = None
