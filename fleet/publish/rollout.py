"""Rollout status: which version of each document HQ published to a till, which one it runs.

"Published" is the newest document of the kind the broker acknowledged for the till's store or
for the till itself (``published_documents``); "running" is what the till last reported
(``devices``, from ``price.applied`` and ``device.health``). The web pages will show this; the
CLI prints it (``fleet publish status``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fleet.db import Connection
from fleet.publish.documents import VERSION_COLUMNS


@dataclass(frozen=True, slots=True)
class Rollout:
    """One (till, kind): what HQ sent last and what the till reports running."""

    device: str
    kind: str
    published: int | None
    published_at: dt.datetime | None
    running: int | None
    reported_at: dt.datetime | None

    @property
    def state(self) -> str:
        """``current``, ``pending`` (not applied yet, or refused: see ``documents_rejected``),
        ``unpublished`` (HQ never sent one) or ``unknown`` (the till never reported)."""
        if self.published is None:
            return "unpublished"
        if self.running is None:
            return "unknown"
        return "current" if self.running == self.published else "pending"


def rollout_status(conn: Connection, tenant: str, store: str) -> list[Rollout]:
    """Every known till of ``store`` and every document kind, by device then kind."""
    published: dict[tuple[str | None, str], tuple[int, dt.datetime]] = {}
    for row in conn.execute(
        "SELECT device, kind, version, published_at FROM published_documents"
        " WHERE tenant = ? AND store = ? AND published_at IS NOT NULL",
        [tenant, store],
    ):
        key = (row["device"], row["kind"])
        if key not in published or row["published_at"] > published[key][1]:
            published[key] = (int(row["version"]), row["published_at"])
    out = []
    for dev in conn.execute(
        "SELECT * FROM devices WHERE tenant = ? AND store = ?", [tenant, store]
    ):
        device = dev["device"]
        for kind, column in VERSION_COLUMNS.items():
            candidates = [
                p for p in (published.get((device, kind)), published.get((None, kind))) if p
            ]
            latest = max(candidates, key=lambda p: p[1]) if candidates else None
            running = dev[column]
            out.append(
                Rollout(
                    device=device,
                    kind=kind,
                    published=latest[0] if latest else None,
                    published_at=latest[1] if latest else None,
                    running=None if running is None else int(running),
                    reported_at=dev["versions_reported_at"],
                )
            )
    return sorted(out, key=lambda r: (r.device, r.kind))
