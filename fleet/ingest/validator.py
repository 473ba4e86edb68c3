"""The ingest worker's validator: the strict decode of uplink, in a process of its own.

Checking a message (``fleet.ingest.batch.check``: its topic, the exact schema its type names,
tenant, store and device) is the costliest step of ingesting it — a full typed decode of a
sale with its lines, tenders and taxes — and needs nothing but the message. So it runs between
the receiver and the worker: the receiver forwards each batch of PUBLISHes here, and this
process forwards them to the worker with the verdict attached — the event's envelope
(:class:`~fleet.ingest.batch.Checked`), or why it is refused
(:class:`~fleet.ingest.batch.Invalid`), or ``None`` for a status message, which the worker
checks itself. The three processes then run
side by side, and the worker's transaction only stores.

Started by ``fleet.ingest.child`` with a link from the receiver; it stops when the receiver
does (end of file on the link), and the worker reads end of file from it in turn.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from fleet.ingest import child
from fleet.ingest.batch import Checked, Invalid, check
from fleet.ingest.status import is_status_topic


@dataclass(frozen=True, slots=True)
class ValidatorSettings:
    tenant: str


def verdict(topic: str, payload: bytes, tenant: str) -> Checked | Invalid | None:
    """What the worker is told of one message: ``None`` for a status message."""
    if is_status_topic(topic):
        return None
    try:
        checked = check(topic, payload, tenant)
    except Exception as exc:  # a bug in checking: one dead letter (raw bytes kept), not a
        # validator that dies on every redelivery of the message and stops the share group
        return Invalid(f"internal error while checking: {type(exc).__name__}: {exc}"[:500])
    return checked if isinstance(checked, Invalid) else Checked.of(checked)


Packed = tuple[Any, ...] | Invalid | None
"""A verdict as it crosses the pipe: a :class:`Checked` travels as a plain tuple."""


def pack(checked: Checked | Invalid | None) -> Packed:
    """Pickling a ``NamedTuple`` calls back into Python for each one (``__getnewargs__``); a
    plain tuple does not — a third of the validator's pickling per message."""
    return tuple(checked) if type(checked) is Checked else checked


def unpack(packed: Packed) -> Checked | Invalid | None:
    """:func:`pack` undone, in the worker."""
    if type(packed) is tuple:
        return tuple.__new__(Checked, packed)
    return packed  # type: ignore[return-value]  # Invalid or None: a tuple was handled above


def main() -> None:
    pipe, settings = child.attach()
    assert isinstance(settings, ValidatorSettings)
    source = child.linked()
    tenant = settings.tenant
    child.ready(pipe)
    while True:
        try:
            news = source.recv()
        except (EOFError, OSError):
            os._exit(0)  # the receiver stopped; the worker sees this pipe close after it
        out = [
            (topic, payload, ns, mid, qos, generation, pack(verdict(topic, payload, tenant)))
            for topic, payload, ns, mid, qos, generation in news[1]
        ]
        try:
            pipe.send(("msgs", out))
        except OSError:
            os._exit(0)  # the worker is gone
