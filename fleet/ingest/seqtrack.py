"""Per-device sequence tracking: the contiguous high-water mark, the gaps, when to ask for a resend.

Pure (no clock, no I/O): the caller passes ``now`` as monotonic seconds. Two pieces:

- :class:`SeqTracker` folds seqs in any order and with any duplication into the mark (every seq
  up to it seen) and the runs seen above it, kept as merged intervals so a till that comes back
  after a week offline costs a few intervals, not a set of a million ints.
- :class:`ResendPolicy` decides when a gap has lasted long enough to ask the till for the
  missing range: MQTT QoS 1 does not keep order across reconnects and a shared subscription
  spreads one till's events over several workers, so a gap is normal for a moment and only
  suspicious when it outlives the reorder timeout. It asks again no sooner than one timeout
  later, and a gap whose start moved (the mark advanced) starts a new wait.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class SeqRange:
    """Seqs ``first`` through ``last``, both included."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if not 1 <= self.first <= self.last:
            raise ValueError(f"bad seq range {self.first}..{self.last}")


class SeqTracker:
    """The high-water mark and the gaps of one device's seqs."""

    def __init__(self, hwm: int = 0, seen: Iterable[int] = ()) -> None:
        if hwm < 0:
            raise ValueError("hwm cannot be negative")
        self._hwm = hwm
        self._starts: list[int] = []  # sorted starts of disjoint, non-adjacent runs above hwm+1
        self._ends: list[int] = []
        for seq in seen:
            self.observe(seq)

    @property
    def hwm(self) -> int:
        """Every seq from 1 to this was seen."""
        return self._hwm

    @property
    def max_seen(self) -> int:
        """The highest seq seen (the mark when nothing above it was)."""
        return self._ends[-1] if self._ends else self._hwm

    def runs(self) -> list[SeqRange]:
        """The runs seen above the mark, lowest first."""
        return [SeqRange(s, e) for s, e in zip(self._starts, self._ends, strict=True)]

    def gaps(self) -> list[SeqRange]:
        """Every missing range below the highest seq seen, lowest first."""
        out: list[SeqRange] = []
        prev = self._hwm
        for start, end in zip(self._starts, self._ends, strict=True):
            out.append(SeqRange(prev + 1, start - 1))
            prev = end
        return out

    def first_gap(self) -> SeqRange | None:
        """The range a resend should ask for: from the mark up to the first seq seen above it."""
        return SeqRange(self._hwm + 1, self._starts[0] - 1) if self._starts else None

    def observe(self, seq: int) -> bool:
        """Record ``seq``; True if it was new (not at or below the mark, not seen before)."""
        if seq < 1:
            raise ValueError(f"seq must be >= 1, got {seq}")
        if seq <= self._hwm:
            return False
        i = bisect.bisect_right(self._starts, seq) - 1  # the run starting at or before seq
        if i >= 0 and seq <= self._ends[i]:
            return False
        joins_left = i >= 0 and self._ends[i] == seq - 1
        joins_right = i + 1 < len(self._starts) and self._starts[i + 1] == seq + 1
        if joins_left and joins_right:
            self._ends[i] = self._ends[i + 1]
            del self._starts[i + 1], self._ends[i + 1]
        elif joins_left:
            self._ends[i] = seq
        elif joins_right:
            self._starts[i + 1] = seq
        else:
            self._starts.insert(i + 1, seq)
            self._ends.insert(i + 1, seq)
        self._absorb()
        return True

    def advance_to(self, hwm: int) -> None:
        """Raise the mark to ``hwm`` (the database says everything up to it is stored)."""
        if hwm <= self._hwm:
            return
        self._hwm = hwm
        while self._starts and self._ends[0] <= hwm:
            del self._starts[0], self._ends[0]
        if self._starts and self._starts[0] <= hwm:
            self._starts[0] = hwm + 1
        self._absorb()

    def _absorb(self) -> None:
        if self._starts and self._starts[0] == self._hwm + 1:
            self._hwm = self._ends[0]
            del self._starts[0], self._ends[0]


class ResendPolicy:
    """When to ask a device to resend the first gap (timeouts in monotonic seconds)."""

    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError("the reorder timeout must be positive")
        self.timeout = timeout
        self._since: float | None = None  # when the current gap (at the current mark) appeared
        self._gap_hwm: int | None = None
        self._last_request: float | None = None

    def update(self, hwm: int, gap: SeqRange | None, now: float) -> bool:
        """Tell the policy where the device stands; True if this is a newly detected gap."""
        if gap is None:
            self._since = self._gap_hwm = self._last_request = None
            return False
        if self._gap_hwm != hwm:
            self._since, self._gap_hwm, self._last_request = now, hwm, None
            return True
        return False

    def due(self, now: float) -> bool:
        """True if the gap has outlived the timeout and was not asked for within one timeout."""
        if self._since is None or now - self._since < self.timeout:
            return False
        return self._last_request is None or now - self._last_request >= self.timeout

    def requested(self, now: float) -> None:
        """A resend was asked for at ``now``."""
        self._last_request = now

    @property
    def waiting(self) -> bool:
        """A gap is open."""
        return self._since is not None
