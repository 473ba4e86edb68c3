"""How an ingest process uses Python's cyclic garbage collector: rarely, and never on start-up's
objects.

Each process of a worker imports tens of thousands of objects that live as long as it does
(modules, classes, paho, psycopg, msgspec's types), then allocates a few dozen per message that
die young or are held for one batch. CPython's collector runs every 700 net allocations and
walks every young object still alive each time — a batch in hand is walked again and again —
and every so often walks everything, start-up's objects included, though none of them can ever
be garbage. The bench measured 8–10 % of the writer's and the receiver's CPU in it.

So once a process has imported and set up, :func:`tune` moves what exists into the permanent
generation (``gc.freeze``: never walked again) and lets the youngest generation grow to
:data:`YOUNG_THRESHOLD` allocations between collections. Reference counting still frees almost
everything the moment it is dropped; what only the collector frees — a cycle, such as an
exception kept with its traceback — is still collected automatically, a few thousand
allocations later (a test holds this). The projector goes further and pauses the collector for
each round (:func:`paused`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000
"""Net allocations between two collections of the youngest generation (CPython's default: 700)."""


def tune() -> None:
    """Apply the policy to this process: call it after start-up, before the first message."""
    gc.collect()  # start-up's garbage first: freezing it would keep it forever
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)


@contextmanager
def paused() -> Iterator[None]:
    """Run a block of work without the cyclic garbage collector (a projection round).

    A round decodes hundreds of events into tens of thousands of objects and holds them until
    it commits; the collector, triggered every so many allocations, walks them again and again
    — a fifth to a quarter of the projector's CPU per sale, measured. None of them is part of a
    cycle (decoded structs, lists, rows), so reference counting frees them all when the round
    ends; what little cyclic garbage a round leaves (an exception's traceback) is collected at
    the next collection after it. The collector's state before the block is restored after it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
