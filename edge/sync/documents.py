"""What the till does with a document from HQ: verify it, then apply it in one transaction.

Every document is verified (``protocol.signing``: signature by a trusted key, scope covering
this till, not expired, not older than what runs) before anything is written. A good one lands
in one transaction together with its ``price.applied`` report; a bad one is logged and reported
as ``document.rejected`` (once per document and reason), and the till keeps what it had. A
retained document redelivered on every reconnect is a *duplicate*, ignored without a word.

The keys the till trusts come from HQ's ``device_config`` once one is applied (so HQ can rotate
its signing key without touching tills); until then from the ``[sync]`` table's bootstrap keys.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from edge.store import documents, outbox
from edge.store.db import transaction
from edge.store.journal import add_effect
from edge.sync.settings import SyncSettings
from protocol import topics
from protocol.errors import ProtocolError
from protocol.ids import uuid7
from protocol.messages.base import Body, DocScope, Document
from protocol.messages.downlink import (
    Ack,
    Command,
    DeviceConfig,
    MemberCache,
    PriceBook,
    PrintTestPage,
    ResendFrom,
)
from protocol.messages.promotions import PromotionSet
from protocol.messages.uplink import DocumentRejected, PriceApplied
from protocol.signing import (
    DeviceIdentity,
    DocumentRejectedError,
    Keyring,
    Reason,
    verify_document,
)

log = logging.getLogger(__name__)


def new_event_id(now: datetime) -> uuid.UUID:
    return uuid7(int(now.timestamp() * 1000), os.urandom(10))


ScopeLevel = Literal["fleet", "store", "device"]


def scope_level(scope: DocScope) -> ScopeLevel:
    if scope.device is not None:
        return "device"
    return "store" if scope.store is not None else "fleet"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one message (the client moves its cursor and counters by it)."""

    kind: str | None
    applied: bool = False
    rejected: bool = False
    reason: str | None = None
    ack_up_to: int | None = None
    ack_rows: int | None = None
    resend_from: int | None = None


class DocumentApplier:
    """Verify and apply downlink documents on the sync client's own store connection."""

    MAX_REPORTS = 200
    """Rejections reported per run: a hostile broker must not fill the outbox with them."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        origin: outbox.Origin,
        settings: SyncSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self.conn = conn
        self.origin = origin
        self.settings = settings
        self.clock = clock
        self.identity = DeviceIdentity(origin.tenant, origin.store, origin.device)
        self._reported: set[tuple[str, str]] = set()

    # -- what the client asks --------------------------------------------------------------

    def keyring(self) -> Keyring:
        config = documents.device_config(self.conn)
        if config is not None:
            return Keyring.from_text((k.key_id, k.public_key) for k in config.trusted_keys)
        return Keyring.from_text(self.settings.trusted_keys)

    def health_interval(self) -> float | None:
        config = documents.device_config(self.conn)
        return float(config.status_interval_s) if config is not None else None

    # -- one message -----------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes) -> Outcome:
        now = self.clock()
        try:
            parsed = topics.parse(topic)
        except ProtocolError as exc:
            log.warning("ignored a message on %r: %s", topic[:200], exc)
            return Outcome(None)
        if parsed.direction is not topics.Direction.DOWN or parsed.name is None:
            return Outcome(None)
        try:
            doc = verify_document(
                payload,
                keyring=self.keyring(),
                identity=self.identity,
                now=now,
                running_version=self._running,
            )
        except DocumentRejectedError as exc:
            if exc.reason is Reason.DUPLICATE:
                return Outcome(exc.kind or parsed.name)
            return self._reject(parsed.name, None, exc.reason.value, str(exc), now)
        if doc.kind != parsed.name:
            return self._reject(
                parsed.name, doc, "malformed", f"a {doc.kind} published as {parsed.name}", now
            )
        try:
            return self._apply(doc, now)
        except documents.DocumentError as exc:
            return self._reject(doc.kind, doc, "unsupported", str(exc), now)

    def _running(self, kind: str, scope: DocScope) -> int | None:
        return documents.running_version(self.conn, kind, scope_level(scope))

    def _apply(self, doc: Document[Body], now: datetime) -> Outcome:
        body, level = doc.body, scope_level(doc.scope)
        version, doc_id = doc.version, str(doc.doc_id)

        def report(conn: sqlite3.Connection) -> None:
            outbox.queue(
                conn,
                self.origin,
                PriceApplied(
                    kind=doc.kind,
                    scope_level=level,
                    version=doc.version,
                    doc_id=doc.doc_id,
                    applied_at=now,
                ),
                event_id=new_event_id(now),
                at=now,
            )

        if isinstance(body, PriceBook):
            documents.apply_price_book(
                self.conn,
                body,
                scope_level=level,
                then=report,
                version=version,
                doc_id=doc_id,
                at=now,
            )
        elif isinstance(body, PromotionSet):
            documents.apply_promotion_set(
                self.conn,
                body,
                scope_level=level,
                then=report,
                version=version,
                doc_id=doc_id,
                at=now,
            )
        elif isinstance(body, MemberCache):
            refreshed = None if body.mode == "snapshot" else [m.member_id for m in body.members]

            def report_and_clear(conn: sqlite3.Connection) -> None:
                outbox.clear_confirmed_loyalty(conn, refreshed, doc.issued_at)
                report(conn)

            documents.apply_member_cache(
                self.conn,
                body,
                scope_level=level,
                then=report_and_clear,
                version=version,
                doc_id=doc_id,
                at=now,
            )
        elif isinstance(body, DeviceConfig):
            documents.apply_device_config(
                self.conn,
                body,
                scope_level=level,
                then=report,
                version=version,
                doc_id=doc_id,
                at=now,
            )
        elif isinstance(body, Ack):
            with transaction(self.conn):
                rows = outbox.acknowledge(self.conn, body.up_to_seq, doc.issued_at)
                documents.record_version(
                    self.conn, "ack", level, version=version, doc_id=doc_id, at=now
                )
            return Outcome("ack", applied=True, ack_up_to=body.up_to_seq, ack_rows=rows)
        elif isinstance(body, Command):
            return self._command(doc, body, level, now)
        else:  # pragma: no cover - the registry decodes only the kinds above
            return Outcome(doc.kind)
        log.info("applied %s version %d (%s)", doc.kind, doc.version, level)
        return Outcome(doc.kind, applied=True)

    def _command(self, doc: Document[Body], body: Command, level: str, now: datetime) -> Outcome:
        command = body.command
        resend = None
        with transaction(self.conn):
            documents.record_version(
                self.conn, "command", level, version=doc.version, doc_id=str(doc.doc_id), at=now
            )
            if isinstance(command, ResendFrom):
                resend = command.from_seq
                log.info("HQ asks for events again from seq %d", command.from_seq)
            elif isinstance(command, PrintTestPage):
                add_effect(self.conn, "test_page", str(doc.doc_id), now)
            else:
                log.warning("command %s is not supported by this till yet", type(command).__name__)
        return Outcome("command", applied=True, resend_from=resend)

    def _reject(
        self, kind: str | None, doc: Document[Body] | None, reason: str, detail: str, now: datetime
    ) -> Outcome:
        log.warning("rejected a %s document: %s: %s", kind or "?", reason, detail)
        doc_id = str(doc.doc_id) if doc is not None else "-"
        key = (doc_id, reason)
        if key not in self._reported and len(self._reported) < self.MAX_REPORTS:
            self._reported.add(key)
            event = DocumentRejected(
                kind=kind if kind is not None and _is_type_name(kind) else None,
                version=doc.version if doc is not None else None,
                doc_id=doc.doc_id if doc is not None else None,
                reason=reason,  # type: ignore[arg-type]
                detail=detail[:500],
                at=now,
            )
            with transaction(self.conn):
                outbox.queue(self.conn, self.origin, event, event_id=new_event_id(now), at=now)
        return Outcome(kind, rejected=True, reason=reason)


_TYPE_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")


def _is_type_name(kind: str) -> bool:
    return len(kind) <= 64 and _TYPE_NAME.fullmatch(kind) is not None
