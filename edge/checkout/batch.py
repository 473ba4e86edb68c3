"""What a handler returns (a :class:`Batch` of changes) or raises (:class:`Refused`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.checkout import events as ev
from protocol.messages import Body


class Refused(Exception):  # noqa: N818 - a refusal is an outcome, not an error
    """A command the till will not carry out; ``reason`` is shown to the cashier.

    ``needs`` names, for machines, what would make the command acceptable (``"weight"``: a
    stable reading from the scale), so the device layer can supply it without parsing text.
    """

    def __init__(self, reason: str, *, needs: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.needs = needs


@dataclass
class Batch:
    """Everything one accepted command changes, committed together."""

    events: list[tuple[str, ev.DomainEvent]] = field(default_factory=list)
    writes: list[Callable[[sqlite3.Connection], object]] = field(default_factory=list)
    uplink: list[Body] = field(default_factory=list)
    effects: list[tuple[str, str]] = field(default_factory=list)
    data: dict[str, Any] | None = None

    def add(self, stream: str, event: ev.DomainEvent) -> None:
        self.events.append((stream, event))

    def write(self, fn: Callable[[sqlite3.Connection], object]) -> None:
        self.writes.append(fn)
