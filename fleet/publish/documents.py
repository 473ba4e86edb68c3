"""What every published document goes through: version, signature, size check, record, send.

A document is *prepared* inside one database transaction — its version allocated from
``document_versions`` (the row lock serialises two publishers of the same kind and scope), the
publishing state it implies written, the signed bytes checked against the kind's size limit and
a ``published_documents`` row inserted — and only after COMMIT *delivered*: published QoS 1,
retained, and the row stamped with the time the broker acknowledged it. A failed delivery leaves
a row without ``published_at`` and a version nobody runs; the next publication of that kind is
built from what the tills report running, so nothing is lost, only a version number skipped.

Versions never fall below what a till already runs (``at_least`` = the highest version the
store's devices report + 1): after HQ's database is restored from a backup, a counter that went
back would otherwise make every till refuse every new document as a rollback.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from fleet.db import Connection, scope_key
from fleet.keys import Signer
from protocol import topics
from protocol.errors import ProtocolError
from protocol.ids import uuid7
from protocol.messages import MAX_DOCUMENT_BYTES, DocScope, Document

log = logging.getLogger("fleet.publish")

DEFAULT_TTL = dt.timedelta(days=30)
"""How long a published document stays valid. A till refuses an expired document, and a
retained one past its expiry is refused (and reported) on every reconnect, so documents are
republished well within this (see ``docs/architecture.md``, "Publishing")."""

VERSION_COLUMNS = {
    "price_book": "price_book_version",
    "promotion_set": "promotion_set_version",
    "member_cache": "member_cache_version",
    "device_config": "device_config_version",
}
"""The ``devices`` column holding the version of each kind a till last reported running."""


class PublishError(Exception):
    """A document cannot be built, signed or delivered; the message says which and why."""


class Sender(Protocol):
    """Where prepared documents go: :class:`fleet.publish.mqtt.MqttPublisher` in production."""

    def send(self, topic: str, payload: bytes) -> None:
        """Publish ``payload`` retained at QoS 1 and return once the broker acknowledged it."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A signed document, recorded in ``published_documents``, ready to be delivered."""

    kind: str
    scope: DocScope
    topic: str
    version: int
    doc_id: uuid.UUID
    mode: str | None
    """``snapshot`` or ``delta`` for price books and member caches, else ``None``."""
    base_version: int | None
    entries: int
    """Items, promotions or members the document carries; trusted keys for a device config."""
    removed: int
    payload: bytes
    key_id: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    note: str = ""
    """Why a snapshot went out where a delta was asked for (empty otherwise)."""

    def summary(self) -> str:
        """One line for the operator: what went where."""
        what = f"{self.kind} v{self.version}"
        if self.mode == "delta":
            what += f" (delta from v{self.base_version}: {self.entries} changed"
            what += f", {self.removed} removed)"
        elif self.mode == "snapshot":
            what += f" (snapshot: {self.entries}{'; ' + self.note if self.note else ''})"
        return (
            f"{what} to {self.topic}, {len(self.payload)} bytes, signed by {self.key_id}, "
            f"doc {self.doc_id}"
        )


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_doc_id(now: dt.datetime) -> uuid.UUID:
    """A UUIDv7, so document ids sort by when HQ made them."""
    return uuid7(int(now.timestamp() * 1000), os.urandom(10))


def store_scope(tenant: str, store: str) -> DocScope:
    topics.validate_store(store)
    return DocScope(tenant=tenant, store=store, device=None)


def topic_for(scope: DocScope, kind: str) -> str:
    """The retained topic a document of ``scope`` goes to."""
    if scope.store is None:
        return topics.fleet_downlink(kind)
    if scope.device is None:
        return topics.store_downlink(scope.store, kind)
    return topics.device_downlink(scope.store, scope.device, kind)


def version_floor(conn: Connection, kind: str, scope: DocScope) -> int:
    """One above the highest version of ``kind`` any device inside ``scope`` reports running."""
    column = VERSION_COLUMNS[kind]
    sql = f"SELECT MAX({column}) AS v FROM devices WHERE tenant = ?"
    params: list[Any] = [scope.tenant]
    if scope.store is not None:
        sql += " AND store = ?"
        params.append(scope.store)
    if scope.device is not None:
        sql += " AND device = ?"
        params.append(scope.device)
    top = conn.scalar(sql, params)
    return 1 if top is None else int(top) + 1


def sign_and_record(
    conn: Connection,
    signer: Signer,
    doc: Document[Any],
    *,
    mode: str | None = None,
    base_version: int | None = None,
    entries: int = 0,
    removed: int = 0,
    note: str = "",
) -> Prepared:
    """Sign ``doc``, check it against its kind's size limit and record it (caller's transaction).

    Signing decodes the payload as a till would, so a document breaking any bound of the schema
    (too many items, a bad field) fails here with its JSONPath instead of at every till.
    """
    try:
        payload = signer.sign(doc)
    except ProtocolError as exc:
        raise PublishError(f"{doc.kind} v{doc.version} would be refused by tills: {exc}") from None
    limit = MAX_DOCUMENT_BYTES[doc.kind]
    if len(payload) > limit:
        raise PublishError(
            f"{doc.kind} for {scope_key(doc.scope)} is {len(payload)} bytes signed, over the "
            f"limit of {limit} a till accepts"
        )
    topic = topic_for(doc.scope, doc.kind)
    conn.insert(
        "published_documents",
        {
            "doc_id": doc.doc_id,
            "tenant": doc.scope.tenant,
            "kind": doc.kind,
            "scope": scope_key(doc.scope),
            "store": doc.scope.store,
            "device": doc.scope.device,
            "version": doc.version,
            "mode": mode,
            "base_version": base_version,
            "entries": entries,
            "removed": removed,
            "key_id": signer.key_id,
            "topic": topic,
            "size_bytes": len(payload),
            "issued_at": doc.issued_at,
            "expires_at": doc.expires_at,
            "published_at": None,
        },
    )
    return Prepared(
        kind=doc.kind,
        scope=doc.scope,
        topic=topic,
        version=doc.version,
        doc_id=doc.doc_id,
        mode=mode,
        base_version=base_version,
        entries=entries,
        removed=removed,
        payload=payload,
        key_id=signer.key_id,
        issued_at=doc.issued_at,
        expires_at=doc.expires_at,
        note=note,
    )


def deliver(
    conn: Connection, prepared: Prepared, sender: Sender, *, now: dt.datetime | None = None
) -> Prepared:
    """Publish a prepared document and stamp its record with the broker's acknowledgement."""
    sender.send(prepared.topic, prepared.payload)
    conn.execute(
        "UPDATE published_documents SET published_at = ? WHERE doc_id = ?",
        [now or utcnow(), prepared.doc_id],
    )
    log.info(
        "published",
        extra={
            "fields": {
                "kind": prepared.kind,
                "scope": scope_key(prepared.scope),
                "version": prepared.version,
                "mode": prepared.mode,
                "base_version": prepared.base_version,
                "entries": prepared.entries,
                "removed": prepared.removed,
                "bytes": len(prepared.payload),
                "key_id": prepared.key_id,
                "doc_id": str(prepared.doc_id),
            }
        },
    )
    return prepared
