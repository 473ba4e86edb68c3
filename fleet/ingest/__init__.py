"""Ingest: uplink events from the broker into the fleet database, acknowledged with signed acks.

See ``fleet.ingest.worker`` for the threads and the delivery guarantees, ``fleet.ingest.batch``
for what one transaction does, and ``fleet.ingest.seqtrack`` for gap detection.
"""

from __future__ import annotations

from fleet.ingest.batch import BatchResult, Incoming, Invalid, apply_batch, check
from fleet.ingest.metrics import JsonFormatter, Metrics, setup_logging
from fleet.ingest.seqtrack import ResendPolicy, SeqRange, SeqTracker
from fleet.ingest.worker import IngestWorker

__all__ = [
    "BatchResult",
    "Incoming",
    "IngestWorker",
    "Invalid",
    "JsonFormatter",
    "Metrics",
    "ResendPolicy",
    "SeqRange",
    "SeqTracker",
    "apply_batch",
    "check",
    "setup_logging",
]
