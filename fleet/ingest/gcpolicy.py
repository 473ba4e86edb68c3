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
a round (``fleet.ingest.projector``).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Net allocations between two collections of the youngest generation (CPython's default: 700)."""


def tune() -> None:
    """Apply the policy to this process: call it after start-up, before the first message."""
    gc.collect()  # start-up's garbage first: freezing it would keep it forever
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
