"""The MQTT topic scheme shared by tills, the broker's ACL and HQ.

::

    tf/v1/{store}/{device}/up/{event-type}   uplink events (till -> HQ), QoS 1
    tf/v1/{store}/{device}/status            retained online/offline with a Last Will
    tf/v1/{store}/{device}/down/{kind}       documents for one device (retained)
    tf/v1/{store}/down/{kind}                documents for every device of a store (retained)
    tf/v1/all/down/{kind}                    documents for the whole fleet (retained)

Identifiers (store and device ids) are deliberately narrower than MQTT allows: ASCII letters,
digits, ``-``, ``_`` and ``.``, 1 to 64 characters, starting with a letter or digit. That keeps
them safe inside Mosquitto ACL patterns (no ``+``, ``#``, ``/``, NUL), in file names and in log
lines. A few words are reserved because the scheme would become ambiguous with them: a store may
not be called ``all`` (the fleet-wide scope) and neither id may be ``up``, ``down`` or
``status`` (``tf/v1/s1/down/status`` must only ever mean "the store's ``status`` document").

Parsing is strict and total: :func:`parse` accepts exactly the topics that the builders produce
and raises :class:`~protocol.errors.TopicError` for anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from protocol.errors import TopicError

PREFIX = "tf/v1"
"""The scheme's root and major version; a breaking change to the scheme moves to ``tf/v2``."""

FLEET_SCOPE = "all"
MAX_ID_LENGTH = 64
MAX_NAME_LENGTH = 64

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Event types and document kinds: lowercase words joined by '.' or '_' ("sale.completed").
_NAME_RE = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")
_RESERVED_IDS = frozenset({"up", "down", "status"})


class Direction(Enum):
    """Which way a message travels."""

    UP = "up"
    DOWN = "down"
    STATUS = "status"


class Scope(Enum):
    """Who a downlink topic addresses; uplink and status topics are always ``DEVICE``."""

    DEVICE = "device"
    STORE = "store"
    FLEET = "fleet"


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic. ``store``/``device`` are ``None`` where the scope has none."""

    direction: Direction
    scope: Scope
    store: str | None
    device: str | None
    name: str | None
    """The event type (uplink) or document kind (downlink); ``None`` for status."""

    def __str__(self) -> str:
        return _render(self)


def validate_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it is a valid store or device id, else raise :class:`TopicError`."""
    if not isinstance(value, str):
        raise TopicError(f"{what} must be a string, got {type(value).__name__}")
    if not _ID_RE.fullmatch(value):
        raise TopicError(
            f"{what} must be 1-{MAX_ID_LENGTH} characters of A-Z a-z 0-9 . _ - starting with a "
            f"letter or digit, got {value[:80]!r}"
        )
    if value in _RESERVED_IDS:
        raise TopicError(f"{what} {value!r} is reserved by the topic scheme")
    return value


def validate_store(store: str) -> str:
    """Like :func:`validate_id`, and ``all`` is refused (it names the fleet-wide scope)."""
    validate_id(store, "store id")
    if store == FLEET_SCOPE:
        raise TopicError(f"store id {FLEET_SCOPE!r} is reserved for fleet-wide documents")
    return store


def validate_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a valid event type or document kind (``sale.completed``)."""
    if not isinstance(name, str):
        raise TopicError(f"{what} must be a string, got {type(name).__name__}")
    if len(name) > MAX_NAME_LENGTH or not _NAME_RE.fullmatch(name):
        raise TopicError(
            f"{what} must be lowercase words joined by '.' (at most {MAX_NAME_LENGTH} "
            f"characters), got {name[:80]!r}"
        )
    return name


def uplink(store: str, device: str, event_type: str) -> str:
    """Topic a till publishes an uplink event of ``event_type`` on."""
    return f"{PREFIX}/{validate_store(store)}/{validate_id(device, 'device id')}/up/" + (
        validate_name(event_type, "event type")
    )


def status(store: str, device: str) -> str:
    """The till's retained status topic (also the topic of its Last Will)."""
    return f"{PREFIX}/{validate_store(store)}/{validate_id(device, 'device id')}/status"


def device_downlink(store: str, device: str, kind: str) -> str:
    """Topic of documents addressed to one device."""
    return f"{PREFIX}/{validate_store(store)}/{validate_id(device, 'device id')}/down/" + (
        validate_name(kind, "document kind")
    )


def store_downlink(store: str, kind: str) -> str:
    """Topic of documents addressed to every device of a store."""
    return f"{PREFIX}/{validate_store(store)}/down/{validate_name(kind, 'document kind')}"


def fleet_downlink(kind: str) -> str:
    """Topic of documents addressed to the whole fleet."""
    return f"{PREFIX}/{FLEET_SCOPE}/down/{validate_name(kind, 'document kind')}"


def device_subscriptions(store: str, device: str) -> tuple[str, str, str]:
    """The three filters a till subscribes to: its own, its store's and the fleet's downlink."""
    validate_store(store)
    validate_id(device, "device id")
    return (
        f"{PREFIX}/{store}/{device}/down/#",
        f"{PREFIX}/{store}/down/#",
        f"{PREFIX}/{FLEET_SCOPE}/down/#",
    )


def uplink_filter(share_group: str | None = None) -> str:
    """Filter for every uplink event of every till; with a group, an MQTT 5 shared subscription.

    Several ingest workers subscribing with the same ``share_group`` split the messages between
    them instead of each receiving all of them.
    """
    flt = f"{PREFIX}/+/+/up/+"
    if share_group is None:
        return flt
    return f"$share/{validate_id(share_group, 'share group')}/{flt}"


def status_filter() -> str:
    """Filter for every till's status topic (HQ's view of who is online)."""
    return f"{PREFIX}/+/+/status"


def parse(topic: str) -> Topic:
    """Parse a concrete topic (no wildcards) of the scheme, or raise :class:`TopicError`."""
    if not isinstance(topic, str):
        raise TopicError(f"topic must be a string, got {type(topic).__name__}")
    if len(topic) > 4 * MAX_ID_LENGTH:
        raise TopicError(f"topic is {len(topic)} characters long, longer than any of the scheme")
    parts = topic.split("/")
    if len(parts) < 4 or f"{parts[0]}/{parts[1]}" != PREFIX:
        raise TopicError(f"topic must start with {PREFIX}/ and have at least 4 levels: {topic!r}")
    rest = parts[2:]
    if len(rest) == 3 and rest[1] == "down":
        name = validate_name(rest[2], "document kind")
        if rest[0] == FLEET_SCOPE:
            return Topic(Direction.DOWN, Scope.FLEET, None, None, name)
        return Topic(Direction.DOWN, Scope.STORE, validate_store(rest[0]), None, name)
    if len(rest) == 3 and rest[2] == "status":
        store, device = validate_store(rest[0]), validate_id(rest[1], "device id")
        return Topic(Direction.STATUS, Scope.DEVICE, store, device, None)
    if len(rest) == 4 and rest[2] in ("up", "down"):
        store, device = validate_store(rest[0]), validate_id(rest[1], "device id")
        direction = Direction(rest[2])
        what = "event type" if direction is Direction.UP else "document kind"
        return Topic(direction, Scope.DEVICE, store, device, validate_name(rest[3], what))
    raise TopicError(f"topic does not follow the tillfleet scheme: {topic[:200]!r}")


def _render(t: Topic) -> str:
    if t.direction is Direction.STATUS:
        return status(_need(t.store), _need(t.device))
    name = _need(t.name)
    if t.direction is Direction.UP:
        return uplink(_need(t.store), _need(t.device), name)
    if t.scope is Scope.FLEET:
        return fleet_downlink(name)
    if t.scope is Scope.STORE:
        return store_downlink(_need(t.store), name)
    return device_downlink(_need(t.store), _need(t.device), name)


def _need(value: str | None) -> str:
    if value is None:
        raise TopicError("topic is missing a store, device or name for its scope")
    return value
