"""Command handlers, one module per topic; each maps a command to a :class:`Batch` or refuses.

A handler reads state and the store but never writes: every change it wants goes into the
batch, which the till commits atomically. That is what makes "refused" mean "nothing changed".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from edge.checkout.handlers import payment, refunds, selling, session, stock

if TYPE_CHECKING:
    from edge.checkout.batch import Batch

Handler = Callable[..., "Batch"]

HANDLERS: dict[type, Handler] = {
    **session.HANDLERS,
    **selling.HANDLERS,
    **payment.HANDLERS,
    **refunds.HANDLERS,
    **stock.HANDLERS,
}
