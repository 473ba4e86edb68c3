"""The two documents ingest sends to a till: the signed ack and the resend command.

The ack's version is its ``up_to_seq`` (``docs/architecture.md``, "Signing"): the mark only
grows, so the version is monotonic without a counter, two workers acking the same till can only
differ in how far they ack, and a stale retained ack is refused by the till as a rollback. A
command executes once per version, so its version comes from ``document_versions``.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid

from fleet.db import Connection, DeviceKey, next_version
from protocol import topics
from protocol.ids import uuid7
from protocol.messages import DocScope, Document, make_document
from protocol.messages.downlink import Ack, Command, ResendFrom


def device_scope(key: DeviceKey) -> DocScope:
    return DocScope(tenant=key.tenant, store=key.store, device=key.device)


def ack_document(
    key: DeviceKey, up_to_seq: int, *, now: dt.datetime, ttl: dt.timedelta
) -> Document[Ack]:
    """HQ has stored every event of ``key`` up to ``up_to_seq``."""
    return make_document(
        Ack(up_to_seq=up_to_seq),
        doc_id=_doc_id(now),
        scope=device_scope(key),
        version=up_to_seq,
        issued_at=now,
        expires_at=now + ttl,
    )


def resend_document(
    conn: Connection,
    key: DeviceKey,
    first: int,
    last: int | None,
    *,
    now: dt.datetime,
    ttl: dt.timedelta,
) -> Document[Command]:
    """Ask ``key`` to publish seqs ``first`` to ``last`` again (allocates a command version)."""
    scope = device_scope(key)
    with conn.transaction():
        version = next_version(conn, Command.TYPE, scope, now=now)
    return make_document(
        Command(command=ResendFrom(from_seq=first, to_seq=last)),
        doc_id=_doc_id(now),
        scope=scope,
        version=version,
        issued_at=now,
        expires_at=now + ttl,
    )


def topic_for(key: DeviceKey, kind: str) -> str:
    return topics.device_downlink(key.store, key.device, kind)


def _doc_id(now: dt.datetime) -> uuid.UUID:
    return uuid7(int(now.timestamp() * 1000), os.urandom(10))
