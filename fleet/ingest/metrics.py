"""The ingest worker's counters, and logging as one JSON object per line.

Counters are read by tests and operators through :meth:`Metrics.snapshot` and logged
periodically; :meth:`Metrics.wait_until` lets a caller wait for a condition on them without
polling. ``applied`` counts events stored (and acknowledged) for the first time, ``projected``
those then written into the reporting tables. Lag is ``received_at - occurred_at`` of applied
events: how far behind the tills HQ is (a till offline for a day shows as a day of lag when it
comes back, which is the point).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

COUNTERS = (
    "messages",
    "applied",
    "duplicates",
    "dead_letters",
    "projected",
    "projection_errors",
    "batches",
    "acks_published",
    "gaps_detected",
    "resends_requested",
    "db_errors",
)
_LAG_WINDOW = 10_000


class Metrics:
    """Thread-safe counters plus a window of recent lags."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._lags: deque[int] = deque(maxlen=_LAG_WINDOW)
        self._lag_max = 0

    def add(self, **deltas: int) -> None:
        """Add to counters by name (unknown names are a programming error)."""
        with self._cond:
            for name, delta in deltas.items():
                if name not in self._counts:
                    raise KeyError(name)
                self._counts[name] += delta
            self._cond.notify_all()

    def record_lags(self, lags_ms: Iterable[int]) -> None:
        with self._cond:
            for lag in lags_ms:
                self._lags.append(lag)
                self._lag_max = max(self._lag_max, lag)

    def snapshot(self) -> dict[str, int]:
        """Every counter, plus ``lag_ms_p50`` (recent window) and ``lag_ms_max`` (lifetime)."""
        with self._cond:
            return self._snapshot()

    def wait_until(self, predicate: Callable[[dict[str, int]], bool], timeout: float) -> bool:
        """Block until ``predicate(snapshot)`` holds; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self._snapshot()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _snapshot(self) -> dict[str, int]:
        out = dict(self._counts)
        out["lag_ms_p50"] = statistics.median_low(self._lags) if self._lags else 0
        out["lag_ms_max"] = self._lag_max
        return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg`` and any ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(level: str = "INFO") -> None:
    """Send the root logger's records to stderr as JSON lines (the CLI's only log setup)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
