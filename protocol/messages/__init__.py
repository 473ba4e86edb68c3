"""Wire messages: uplink events, downlink documents, and their strict codecs.

Use :func:`make_event` / :func:`encode_event` on the till and :func:`decode_event` at HQ. Downlink
documents are built with :func:`make_document` and signed, verified and decoded by
``protocol.signing``. Every decoder raises only :class:`~protocol.errors.MessageError`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeVar

import msgspec

from protocol.errors import MessageError
from protocol.messages.base import (
    Body,
    DocScope,
    Document,
    Event,
    MessageType,
    Registry,
    check_size,
    validation_error,
)
from protocol.messages.downlink import DOWNLINK, MAX_DOCUMENT_BYTES
from protocol.messages.uplink import UPLINK
from protocol.money import MAX_ABS_MINOR

UPLINK_MAX_BYTES = 256 * 1024
"""Largest uplink event accepted (a 2,000-line sale fits with room to spare)."""

DOWNLINK_MAX_BYTES = max(MAX_DOCUMENT_BYTES.values())
"""Largest downlink document of any kind; each kind has its own, smaller or equal, limit."""

BodyT = TypeVar("BodyT", bound=Body)

_encoder = msgspec.json.Encoder()
_raw_event_decoder = msgspec.json.Decoder(Event[msgspec.Raw])
_raw_document_decoder = msgspec.json.Decoder(Document[msgspec.Raw])


def make_event(
    body: BodyT,
    *,
    event_id: uuid.UUID,
    tenant: str,
    store: str,
    device: str,
    seq: int,
    occurred_at: datetime,
) -> Event[BodyT]:
    """Wrap ``body`` in the uplink envelope, naming its type and schema version."""
    try:
        return Event(
            type=body.TYPE,
            schema=body.VERSION,
            event_id=event_id,
            tenant=tenant,
            store=store,
            device=device,
            seq=seq,
            occurred_at=occurred_at,
            body=body,
        )
    except (ValueError, TypeError) as exc:  # __post_init__ checks
        raise MessageError(str(exc)) from exc


def encode_event(event: Event[Any], *, max_bytes: int = UPLINK_MAX_BYTES) -> bytes:
    """Encode an event for the wire, validating it first exactly as HQ will decode it.

    The till calls this before committing the event to its outbox, so an event HQ would refuse is
    caught on the till, with the offending field, instead of becoming a dead letter.
    """
    data = _encoder.encode(event)
    check_size(data, max_bytes)
    decode_event(data, max_bytes=max_bytes, expect=event.type)
    return data


def decode_event(
    data: bytes | bytearray,
    *,
    registry: Registry = UPLINK,
    max_bytes: int = UPLINK_MAX_BYTES,
    expect: str | None = None,
) -> Event[Body]:
    """Strictly decode an uplink event; a previous schema version is upgraded to the current one.

    Raises :class:`MessageError` with the path of the first bad field.

    ``expect``: the type the event should be, when the caller knows it (HQ from the topic, the
    till from the event it encoded). An event of that type at its current version — nearly all
    of them — is then decoded in one pass instead of two (the envelope with the body kept raw,
    then the body once its type is known): a fifth less CPU for a sale. Anything else (another
    type, an older version, an error) takes the two passes, so the result and any error are
    exactly those without ``expect``.
    """
    check_size(data, max_bytes)
    if expect is not None and (whole := registry.event_decoder(expect)) is not None:
        try:
            event: Event[Body] = whole.decode(data)
        except (msgspec.MsgspecError, UnicodeDecodeError):
            pass  # the two passes below say precisely what is wrong
        else:
            if event.type == expect and event.schema == registry.current(expect):
                return event
    try:
        raw = _raw_event_decoder.decode(data)
    except (msgspec.MsgspecError, UnicodeDecodeError) as exc:
        raise validation_error(exc) from None
    kind = registry.lookup(raw.type, raw.schema)
    body = _decode_body(raw.body, kind)
    return Event(
        type=raw.type,
        schema=registry.current(raw.type),
        event_id=raw.event_id,
        tenant=raw.tenant,
        store=raw.store,
        device=raw.device,
        seq=raw.seq,
        occurred_at=raw.occurred_at,
        body=registry.upgrade(raw.type, raw.schema, body),
    )


def make_document(
    body: BodyT,
    *,
    doc_id: uuid.UUID,
    scope: DocScope,
    version: int,
    issued_at: datetime,
    expires_at: datetime,
) -> Document[BodyT]:
    """Wrap ``body`` in a downlink document (still to be signed by ``protocol.signing``)."""
    try:
        return Document(
            kind=body.TYPE,
            schema=body.VERSION,
            doc_id=doc_id,
            scope=scope,
            version=version,
            issued_at=issued_at,
            expires_at=expires_at,
            body=body,
        )
    except (ValueError, TypeError) as exc:
        raise MessageError(str(exc)) from exc


def document_to_builtins(doc: Document[Any]) -> dict[str, Any]:
    """The document as plain JSON values: what gets canonicalised and signed."""
    out = msgspec.to_builtins(doc)
    assert isinstance(out, dict)
    return out


def decode_document_payload(
    data: bytes | bytearray, *, registry: Registry = DOWNLINK, prefix: str = "$"
) -> Document[Body]:
    """Strictly decode the (already authenticated) payload of a downlink document."""
    try:
        raw = _raw_document_decoder.decode(data)
    except (msgspec.MsgspecError, UnicodeDecodeError) as exc:
        raise validation_error(exc, prefix) from None
    kind = registry.lookup(raw.kind, raw.schema)
    body = _decode_body(raw.body, kind, prefix + ".body")
    return Document(
        kind=raw.kind,
        schema=registry.current(raw.kind),
        doc_id=raw.doc_id,
        scope=raw.scope,
        version=raw.version,
        issued_at=raw.issued_at,
        expires_at=raw.expires_at,
        body=registry.upgrade(raw.kind, raw.schema, body),
    )


def _decode_body(raw: msgspec.Raw, kind: MessageType, prefix: str = "$.body") -> Body:
    try:
        return msgspec.json.decode(raw, type=kind.body)
    except (msgspec.MsgspecError, UnicodeDecodeError) as exc:
        raise validation_error(exc, prefix) from None


__all__ = [
    "DOWNLINK",
    "DOWNLINK_MAX_BYTES",
    "MAX_ABS_MINOR",
    "MAX_DOCUMENT_BYTES",
    "UPLINK",
    "UPLINK_MAX_BYTES",
    "Body",
    "DocScope",
    "Document",
    "Event",
    "MessageType",
    "Registry",
    "decode_document_payload",
    "decode_event",
    "document_to_builtins",
    "encode_event",
    "make_document",
    "make_event",
]
