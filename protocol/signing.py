"""Signed downlink documents: HQ signs with Ed25519, a till verifies before applying anything.

Wire form of a signed document::

    {"payload": {...the Document...}, "key_id": "hq-2026-11", "sig": "<base64url, 64 bytes>"}

The signature covers ``DOMAIN + key_id + "\\n" + canonical_json(payload)``. Binding the key id
into the signed bytes means a signature made under one key id cannot be presented under another;
the domain prefix means a signature over something else we might sign one day (a certificate
request, a log) can never be replayed as a document. Signing canonical bytes means the document
verifies whatever whitespace or key order the transport gave it.

A till verifies in a fixed order and reports the first failure as a distinct
:class:`Reason`: size and shape (``MALFORMED``), key id (``UNKNOWN_KEY``), signature
(``BAD_SIGNATURE``), and only then the authenticated content — schema (``MALFORMED``,
``UNSUPPORTED``), scope (``WRONG_SCOPE``), validity window (``NOT_YET_VALID``, ``EXPIRED``),
and version against what it runs (``ROLLBACK``, ``DUPLICATE``). Nothing the payload claims is
trusted before the signature checks out.

Keys rotate without downtime: a till holds a :class:`Keyring` of every key HQ currently signs
with (pushed in its device config); HQ adds the new key everywhere, then signs with it, then
retires the old one.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.canonical import canonical_json
from protocol.errors import MessageError, ProtocolError
from protocol.messages import (
    DOWNLINK,
    DOWNLINK_MAX_BYTES,
    MAX_DOCUMENT_BYTES,
    Body,
    DocScope,
    Document,
    Registry,
    decode_document_payload,
    document_to_builtins,
)
from protocol.messages.base import ID_PATTERN, Wire, check_size, validation_error

DOMAIN = b"tillfleet/v1/signed-document\n"
_KEY_ID = re.compile(ID_PATTERN)
_B64URL = re.compile(r"[A-Za-z0-9_-]*")

DEFAULT_CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future ``issued_at`` may lie before a document counts as not yet valid."""


class Reason(Enum):
    """Why a document was rejected; the values are what ``document.rejected`` events carry."""

    MALFORMED = "malformed"
    UNSUPPORTED = "unsupported"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    WRONG_SCOPE = "wrong_scope"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    ROLLBACK = "rollback"
    DUPLICATE = "duplicate"


class DocumentRejectedError(ProtocolError):
    """A downlink document that must not be applied, with the :class:`Reason` and details."""

    def __init__(self, reason: Reason, detail: str, *, kind: str | None = None) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.kind = kind


class _SignedWire(Wire, frozen=True):
    payload: msgspec.Raw
    key_id: str
    sig: str


def public_key_to_text(key: Ed25519PublicKey) -> str:
    """The base64url (unpadded) text form of a public key, as device configs carry it."""
    raw = key.public_bytes_raw()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """Parse :func:`public_key_to_text` output; raises :class:`ProtocolError` if malformed."""
    raw = _b64url_decode(text)
    if raw is None or len(raw) != 32:
        raise ProtocolError("an Ed25519 public key is 32 bytes in unpadded base64url")
    return Ed25519PublicKey.from_public_bytes(raw)


class Keyring:
    """The HQ public keys a till trusts, by key id."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey] | None = None) -> None:
        self._keys: dict[str, Ed25519PublicKey] = dict(keys or {})

    @classmethod
    def from_text(cls, pairs: Iterable[tuple[str, str]]) -> Keyring:
        """Build a keyring from (key_id, base64url public key) pairs."""
        return cls({kid: public_key_from_text(text) for kid, text in pairs})

    def get(self, key_id: str) -> Ed25519PublicKey | None:
        """The key with ``key_id``, or ``None`` if it is not (or no longer) trusted."""
        return self._keys.get(key_id)

    def ids(self) -> list[str]:
        """Ids of the trusted keys, sorted."""
        return sorted(self._keys)


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """Who is verifying: a document must be scoped to include this device."""

    tenant: str
    store: str
    device: str


RunningVersion = Callable[[str, DocScope], int | None]
"""Given (kind, scope), the version the till runs now, or ``None`` if it runs none."""


def signed_bytes(key_id: str, payload: Mapping[str, Any]) -> bytes:
    """The exact bytes the signature covers."""
    return _signed(key_id, canonical_json(payload))


def _signed(key_id: str, canonical_payload: bytes) -> bytes:
    return DOMAIN + key_id.encode("ascii") + b"\n" + canonical_payload


def sign_document(doc: Document[Any], private_key: Ed25519PrivateKey, key_id: str) -> bytes:
    """Sign ``doc`` and return its wire form (the payload is sent in canonical form)."""
    if not _valid_key_id(key_id):
        raise ProtocolError(f"key id must match {ID_PATTERN}, got {key_id!r}")
    canonical = canonical_json(document_to_builtins(doc))
    decode_document_payload(canonical)  # refuse to sign what a till would refuse
    sig = private_key.sign(_signed(key_id, canonical))
    return b"".join(
        (
            b'{"payload":',
            canonical,
            b',"key_id":',
            canonical_json(key_id),
            b',"sig":"',
            base64.urlsafe_b64encode(sig).rstrip(b"="),
            b'"}',
        )
    )


def verify_document(
    data: bytes | bytearray,
    *,
    keyring: Keyring,
    identity: DeviceIdentity,
    now: datetime,
    running_version: RunningVersion,
    registry: Registry = DOWNLINK,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    max_bytes: int = DOWNLINK_MAX_BYTES,
) -> Document[Body]:
    """Verify a signed document and return it decoded, or raise :class:`DocumentRejectedError`.

    ``now`` is the till's clock (aware datetime). A document whose version equals the running
    one is a ``DUPLICATE`` (retained messages are redelivered on every reconnect: the caller
    normally just ignores those); an older one is a ``ROLLBACK``.
    """
    try:
        check_size(data, max_bytes)
        wire = msgspec.json.decode(data, type=_SignedWire)
        payload = msgspec.json.decode(wire.payload)
        if not isinstance(payload, dict):
            raise MessageError("payload must be a JSON object", "$.payload")
        canonical = canonical_json(payload)
    except MessageError as exc:
        raise DocumentRejectedError(Reason.MALFORMED, str(exc)) from None
    except (msgspec.MsgspecError, UnicodeDecodeError) as exc:
        raise DocumentRejectedError(Reason.MALFORMED, str(validation_error(exc))) from None

    kind = payload.get("kind")
    kind_name = kind if isinstance(kind, str) else None
    key = keyring.get(wire.key_id) if _valid_key_id(wire.key_id) else None
    if key is None:
        raise DocumentRejectedError(
            Reason.UNKNOWN_KEY,
            f"key id {wire.key_id[:64]!r} is not trusted (trusted: {', '.join(keyring.ids())})",
            kind=kind_name,
        )
    sig = _b64url_decode(wire.sig)
    if sig is None or len(sig) != 64:
        raise DocumentRejectedError(Reason.BAD_SIGNATURE, "signature is not 64 bytes of base64url")
    try:
        key.verify(sig, _signed(wire.key_id, canonical))
    except InvalidSignature:
        raise DocumentRejectedError(
            Reason.BAD_SIGNATURE, f"signature does not verify under key {wire.key_id!r}"
        ) from None

    # Authenticated from here on.
    if kind_name is not None and len(data) > MAX_DOCUMENT_BYTES.get(kind_name, max_bytes):
        raise DocumentRejectedError(
            Reason.MALFORMED,
            f"{kind_name} of {len(data)} bytes is over its limit of "
            f"{MAX_DOCUMENT_BYTES[kind_name]}",
            kind=kind_name,
        )
    try:
        doc = decode_document_payload(canonical, registry=registry, prefix="$.payload")
    except MessageError as exc:
        unsupported = exc.path in ("$.type", "$.schema", "$.payload.kind", "$.payload.schema")
        reason = Reason.UNSUPPORTED if unsupported else Reason.MALFORMED
        raise DocumentRejectedError(reason, str(exc), kind=kind_name) from None

    if not doc.scope.covers(identity.tenant, identity.store, identity.device):
        raise DocumentRejectedError(
            Reason.WRONG_SCOPE,
            f"scope {_scope_text(doc.scope)} does not include "
            f"{identity.tenant}/{identity.store}/{identity.device}",
            kind=doc.kind,
        )
    if doc.issued_at > now + clock_skew:
        raise DocumentRejectedError(
            Reason.NOT_YET_VALID,
            f"issued at {doc.issued_at.isoformat()}, after now ({now.isoformat()})",
            kind=doc.kind,
        )
    if doc.expires_at <= now:
        raise DocumentRejectedError(
            Reason.EXPIRED, f"expired at {doc.expires_at.isoformat()}", kind=doc.kind
        )
    running = running_version(doc.kind, doc.scope)
    if running is not None and doc.version < running:
        raise DocumentRejectedError(
            Reason.ROLLBACK,
            f"{doc.kind} version {doc.version} is older than the running {running}",
            kind=doc.kind,
        )
    if running is not None and doc.version == running:
        raise DocumentRejectedError(
            Reason.DUPLICATE, f"{doc.kind} version {doc.version} already runs", kind=doc.kind
        )
    return doc


def _scope_text(scope: DocScope) -> str:
    return "/".join(p for p in (scope.tenant, scope.store, scope.device) if p is not None)


def _valid_key_id(key_id: str) -> bool:
    return _KEY_ID.fullmatch(key_id) is not None


def _b64url_decode(text: str) -> bytes | None:
    """Strict unpadded base64url: exactly one text for every byte string, or ``None``.

    The standard decoder skips characters outside the alphabet and ignores the unused low bits
    of the last character, so several texts decode to the same signature; refusing all but the
    canonical one means any change to the text of a signature is a rejected signature.
    """
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != text:
        return None
    return raw
