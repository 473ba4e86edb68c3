"""Acknowledgements released in the order their messages arrived.

MQTT asks a receiver to send PUBACKs (and PUBRECs) in the order the PUBLISHes came
(MQTT 5.0 §4.6, [MQTT-4.6.0-2], [MQTT-4.6.0-3]). A worker with one writer stored its batches in
arrival order, so acknowledging each batch as it committed kept that order. With several
writers (``fleet.ingest.worker``) batches commit in whatever order their transactions finish:
one writer's batch may wait for a lock while another's, later, is stored. The writers say
what is stored; this keeps the acknowledgements of later messages back until every earlier
message is stored too. Mosquitto matches acknowledgements by packet id and would not mind; a
stricter broker could, and the order is what the protocol promises.

What is held back costs the broker's window (``ReceiveMaximum``, thousands), not the tills:
their application-level acks (``fleet.ingest.worker``) leave as soon as their batch commits.

A packet id means something only on the connection that delivered it; the receiver calls
:meth:`AckOrder.reset` for each new connection, and what was held is dropped with it (the broker
redelivers it, and the event ids make that harmless).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


class AckOrder:
    """Packet ids in arrival order, and the acknowledgements ready but not yet released."""

    __slots__ = ("_arrived", "_ready")

    def __init__(self) -> None:
        self._arrived: deque[int] = deque()
        self._ready: dict[int, int] = {}

    def arrived(self, mids: Iterable[int]) -> None:
        """QoS 1 and 2 messages were handed on, in this order (QoS 0 is never acknowledged)."""
        self._arrived.extend(mids)

    def stored(self, acks: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """``(packet id, qos)`` pairs now safe to acknowledge; returns those to send now, in
        arrival order: every ready one with no earlier message still outstanding."""
        ready = self._ready
        for mid, qos in acks:
            if qos:
                ready[mid] = qos
        arrived = self._arrived
        out: list[tuple[int, int]] = []
        while arrived and arrived[0] in ready:
            mid = arrived.popleft()
            out.append((mid, ready.pop(mid)))
        return out

    def reset(self) -> None:
        """A new connection: nothing held belongs to it."""
        self._arrived.clear()
        self._ready.clear()

    @property
    def held(self) -> int:
        """Acknowledgements ready but waiting for an earlier message."""
        return len(self._ready)
