"""The message machinery: field types, the uplink envelope, the downlink document, the registry.

Every message on the wire is JSON. Uplink events travel in an :class:`Event` envelope; downlink
documents are a :class:`Document` payload inside a signed wrapper (see ``protocol.signing``).
Both carry a ``type``/``kind`` and a ``schema`` version, and the body is looked up in a
:class:`Registry` by that pair — so decoding is two-phase: first the envelope, then the body with
the exact struct its (type, version) names. That gives precise errors ("unknown type",
"unknown schema version 3 of sale.completed") instead of a failed guess over a union.

Decoding is strict: no type coercion (``"5"`` is not 5, ``5.0`` is not 5), no unknown fields, no
missing fields (every field is required on the wire, nullable ones included, so a sender that
forgets a field is caught rather than defaulted), bounded strings, lists and integers, and a size
limit checked before any parsing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

import msgspec

from protocol.errors import MessageError
from protocol.ids import is_uuid7
from protocol.money import CURRENCIES, MAX_ABS_MINOR, MAX_BASIS_POINTS, MAX_RATE_PPM

# ---------------------------------------------------------------------------------------------
# Field types. Bounds are part of the contract: they keep a hostile or buggy sender from making
# HQ allocate without limit, and keep every amount exact in JavaScript consumers (< 2**53).


def exact(body: str) -> str:
    """A regex that matches ``body`` as the whole string, in Python and in JSON Schema readers.

    Python's ``$`` also matches before a trailing newline ("abc\\n" would pass ``^abc$``); the
    lookahead closes that hole while staying valid ECMA-262 syntax for the exported schemas.
    """
    return f"^(?:{body})$(?!\\n)"


Amount = Annotated[
    int,
    msgspec.Meta(
        ge=-MAX_ABS_MINOR, le=MAX_ABS_MINOR, description="Money in integer minor units (cents)."
    ),
]
NonNegAmount = Annotated[
    int, msgspec.Meta(ge=0, le=MAX_ABS_MINOR, description="Money in integer minor units, >= 0.")
]
Points = Annotated[
    int, msgspec.Meta(ge=-(10**12), le=10**12, description="Loyalty points (whole points).")
]
NonNegPoints = Annotated[int, msgspec.Meta(ge=0, le=10**12, description="Loyalty points, >= 0.")]
Quantity = Annotated[
    int,
    msgspec.Meta(
        ge=-(10**9), le=10**9, description="Quantity in the line's unit of measure (ea or g...)."
    ),
]
Count = Annotated[int, msgspec.Meta(ge=0, le=10**9)]
Seq = Annotated[int, msgspec.Meta(ge=1, le=2**53, description="Per-device uplink sequence.")]
Version = Annotated[
    int, msgspec.Meta(ge=0, le=2**53, description="Monotonic document version within its scope.")
]
SchemaVersion = Annotated[int, msgspec.Meta(ge=1, le=1000)]
RatePpm = Annotated[
    int,
    msgspec.Meta(ge=0, le=MAX_RATE_PPM, description="A rate in parts per million (19% = 190000)."),
]
BasisPoints = Annotated[
    int,
    msgspec.Meta(
        ge=0, le=MAX_BASIS_POINTS, description="A percentage in basis points (12.5% = 1250)."
    ),
]

ID_PATTERN = exact(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
Id = Annotated[
    str,
    msgspec.Meta(
        pattern=ID_PATTERN,
        description="An identifier: 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit.",
    ),
]
Sku = Annotated[
    str, msgspec.Meta(pattern=exact(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,39}"), description="Item code.")
]
Gtin = Annotated[
    str, msgspec.Meta(pattern=exact(r"[0-9]{14}"), description="GTIN-14, zero-padded.")
]
CurrencyCode = Annotated[
    str,
    msgspec.Meta(
        pattern=exact("|".join(sorted(CURRENCIES))),
        description="ISO 4217 code of a currency protocol.money knows.",
    ),
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=2000)]
Timestamp = Annotated[
    datetime, msgspec.Meta(tz=True, description="RFC 3339 date-time with a UTC offset.")
]
TypeName = Annotated[str, msgspec.Meta(pattern=exact(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*"))]
KeyId = Annotated[str, msgspec.Meta(pattern=ID_PATTERN, description="Signing key identifier.")]


class Wire(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Base of every struct on the wire: strict, immutable, keyword-constructed."""


class Body(Wire, frozen=True):
    """Base of an event body or document body; subclasses name their type and version."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]


B = TypeVar("B")


class Event(Wire, Generic[B], frozen=True):
    """The uplink envelope: identity and ordering of an event, around its typed body.

    ``event_id`` is a UUIDv7 and the idempotency key: HQ applies each id once, however often it
    arrives. ``seq`` increases by exactly one for every uplink event of a device, so HQ can see
    gaps and ask for a resend.
    """

    type: TypeName
    schema: SchemaVersion
    event_id: uuid.UUID
    tenant: Id
    store: Id
    device: Id
    seq: Seq
    occurred_at: Timestamp
    body: B

    def __post_init__(self) -> None:
        if not is_uuid7(self.event_id):
            raise ValueError("event_id must be a version-7 UUID")
        if self.occurred_at.tzinfo is not UTC:
            try:
                self.occurred_at.astimezone(UTC)
            except OverflowError:  # e.g. 0001-01-01T00:00:00+05:30: no such instant in UTC
                raise ValueError("occurred_at is out of range in UTC") from None


class DocScope(Wire, frozen=True):
    """Who a document is for: a whole tenant, one store of it, or one device of a store."""

    tenant: Id
    store: Id | None
    device: Id | None

    def __post_init__(self) -> None:
        if self.device is not None and self.store is None:
            raise ValueError("a device-scoped document must name its store")

    def covers(self, tenant: str, store: str, device: str) -> bool:
        """True if a till identified by (tenant, store, device) is inside this scope."""
        return (
            self.tenant == tenant
            and (self.store is None or self.store == store)
            and (self.device is None or self.device == device)
        )

    @property
    def level(self) -> str:
        """``fleet``, ``store`` or ``device``: versions are monotonic per (kind, scope)."""
        if self.device is not None:
            return "device"
        return "store" if self.store is not None else "fleet"


class Document(Wire, Generic[B], frozen=True):
    """A downlink document: the payload that HQ signs (see ``protocol.signing``).

    ``version`` is monotonic per (kind, scope): a till refuses anything older than what it runs,
    so neither a stale retained message nor a hostile broker can roll prices back.
    """

    kind: TypeName
    schema: SchemaVersion
    doc_id: uuid.UUID
    scope: DocScope
    version: Version
    issued_at: Timestamp
    expires_at: Timestamp
    body: B

    def __post_init__(self) -> None:
        if self.expires_at <= self.issued_at:
            raise ValueError("expires_at must be after issued_at")


def check_snapshot_or_delta(mode: str, base_version: int | None, removed: list[str]) -> None:
    """A delta names the version it applies on top of; a snapshot replaces everything."""
    if (mode == "delta") != (base_version is not None):
        raise ValueError("base_version is required for a delta and forbidden for a snapshot")
    if mode == "snapshot" and removed:
        raise ValueError("a snapshot lists nothing as removed")


# ---------------------------------------------------------------------------------------------
# The registry: which body struct a (type, version) names, and how an old version upgrades.


@dataclass(frozen=True, slots=True)
class MessageType:
    """One registered (type, version): its body struct and, unless current, its upgrade."""

    name: str
    version: int
    body: type[Body]
    upgrade: Callable[[Any], Body] | None
    """Turns a body of this version into one of ``version + 1``; ``None`` for the current one."""


class Registry:
    """The set of message types one side understands, with the versions it accepts.

    The contract between tills and HQ: a receiver accepts the current and the previous schema
    version of every type, upgrading the previous one on decode, so the two sides can upgrade
    separately.
    """

    def __init__(self, direction: str) -> None:
        self.direction = direction
        self._types: dict[tuple[str, int], MessageType] = {}
        self._current: dict[str, int] = {}
        self._event_decoders: dict[str, msgspec.json.Decoder[Event[Any]]] = {}

    def register(
        self, body: type[Body], upgrade_from_previous: Callable[[Any], Body] | None = None
    ) -> type[Body]:
        """Register ``body`` as the current version of its type.

        ``upgrade_from_previous`` turns the previously registered current version into this one;
        it is required when a previous version exists.
        """
        name, version = body.TYPE, body.VERSION
        prev = self._current.get(name)
        if (name, version) in self._types:
            raise ValueError(f"{name} v{version} is already registered")
        if prev is not None:
            if version != prev + 1:
                raise ValueError(f"{name}: v{version} must follow v{prev}")
            if upgrade_from_previous is None:
                raise ValueError(f"{name} v{version} needs an upgrade from v{prev}")
            old = self._types[(name, prev)]
            self._types[(name, prev)] = MessageType(name, prev, old.body, upgrade_from_previous)
        self._types[(name, version)] = MessageType(name, version, body, None)
        self._current[name] = version
        self._event_decoders.pop(name, None)
        return body

    def event_decoder(self, name: str) -> msgspec.json.Decoder[Event[Any]] | None:
        """A decoder of whole events of ``name`` at its current version, envelope and body in
        one pass (``None`` for a type not registered); built once per type."""
        decoder = self._event_decoders.get(name)
        if decoder is None and name in self._current:
            body = self._types[(name, self._current[name])].body
            decoder = self._event_decoders[name] = msgspec.json.Decoder(Event[body])  # type: ignore[valid-type]
        return decoder

    def names(self) -> list[str]:
        """Every registered type name, sorted."""
        return sorted(self._current)

    def current(self, name: str) -> int:
        """The current schema version of ``name``."""
        return self._current[name]

    def accepted(self, name: str) -> tuple[int, ...]:
        """The versions of ``name`` a receiver accepts: the current one and the previous one."""
        cur = self._current[name]
        return tuple(v for v in (cur - 1, cur) if (name, v) in self._types)

    def lookup(self, name: str, version: int) -> MessageType:
        """The registered (name, version), or :class:`MessageError` saying what is accepted."""
        if name not in self._current:
            raise MessageError(f"unknown {self.direction} type {name[:64]!r}", "$.type")
        if version not in self.accepted(name):
            raise MessageError(
                f"{name} schema version {version} is not accepted "
                f"(accepted: {', '.join(map(str, self.accepted(name)))})",
                "$.schema",
            )
        return self._types[(name, version)]

    def upgrade(self, name: str, version: int, body: Body) -> Body:
        """Upgrade ``body`` from ``version`` to the current version of ``name``."""
        while version < self._current[name]:
            step = self._types[(name, version)].upgrade
            assert step is not None  # register() guarantees every non-current version has one
            body = step(body)
            version += 1
        return body


# ---------------------------------------------------------------------------------------------
# Decoding helpers shared by events and documents.

_PATH_RE = re.compile(r" - at `(\$[^`]*)`$")


def validation_error(exc: Exception, prefix: str = "$") -> MessageError:
    """Turn a decoder error into a :class:`MessageError` whose path is rooted at ``prefix``.

    Besides its own errors, msgspec lets :class:`UnicodeDecodeError` through for invalid UTF-8
    inside a string; callers catch both and pass them here.
    """
    if isinstance(exc, UnicodeDecodeError):
        return MessageError(f"invalid UTF-8 at byte {exc.start}", prefix)
    text = str(exc)
    m = _PATH_RE.search(text)
    if m is None:
        return MessageError(text, prefix)
    path = prefix + m.group(1)[1:]
    return MessageError(text[: m.start()], path)


def check_size(data: bytes | bytearray, max_bytes: int) -> None:
    """Refuse a payload over ``max_bytes`` before anything parses it."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MessageError(f"payload must be bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise MessageError(f"payload is {len(data)} bytes, over the limit of {max_bytes}")
