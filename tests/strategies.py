"""Hypothesis strategies derived from the wire schemas themselves.

Instead of a hand-written strategy per message (which drifts from the schema), this walks
``msgspec.inspect`` type information — bounds, patterns, lengths, literals, tagged unions — and
generates *builtins* (the JSON-shaped values a sender would put on the wire). Every message type
added later gets round-trip and fuzz coverage for free.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from protocol.ids import uuid7

MAX_LIST = 3
MAX_TEXT = 24
_EXACT = re.compile(r"^\^\(\?:(.*)\)\$\(\?!\\n\)$")

_utc = dt.UTC
datetimes = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(_utc)
)


def uuid7s() -> st.SearchStrategy[uuid.UUID]:
    """Version-7 UUIDs over the whole time range."""
    return st.builds(uuid7, st.integers(0, 2**48 - 1), st.binary(min_size=10, max_size=10))


def builtins_for(tp: Any) -> st.SearchStrategy[Any]:
    """A strategy of JSON-shaped values that decode into ``tp`` (mostly: see post-init checks)."""
    return _for(mi.type_info(tp), "")


def _regex_body(pattern: str) -> str:
    m = _EXACT.match(pattern)
    if m is None:
        raise AssertionError(f"schema pattern {pattern!r} is not built with exact()")
    return m.group(1)


def _for(t: mi.Type, name: str) -> st.SearchStrategy[Any]:
    if isinstance(t, mi.Metadata):
        return _for(t.type, name)
    if isinstance(t, mi.IntType):
        lo = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else -(2**63))
        hi = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else 2**63 - 1)
        return st.one_of(st.sampled_from(sorted({lo, hi})), st.integers(lo, hi))
    if isinstance(t, mi.StrType):
        if t.pattern is not None:
            return st.from_regex(_regex_body(t.pattern), fullmatch=True).filter(
                lambda s: (
                    (t.max_length is None or len(s) <= t.max_length)
                    and len(s) >= (t.min_length or 0)
                )
            )
        hi = min(t.max_length if t.max_length is not None else MAX_TEXT, MAX_TEXT)
        return st.text(min_size=t.min_length or 0, max_size=max(hi, t.min_length or 0))
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(list(t.values))
    if isinstance(t, mi.DateTimeType):
        return datetimes.map(lambda d: d.isoformat().replace("+00:00", "Z"))
    if isinstance(t, mi.UUIDType):
        ids = uuid7s() if name in ("event_id", "doc_id") else st.uuids()
        return ids.map(str)
    if isinstance(t, mi.ListType):
        lo = t.min_length or 0
        return st.lists(_for(t.item_type, name), min_size=lo, max_size=max(lo, MAX_LIST))
    if isinstance(t, mi.DictType):
        return st.dictionaries(_for(t.key_type, name), _for(t.value_type, name), max_size=MAX_LIST)
    if isinstance(t, mi.UnionType):
        return st.one_of([_for(x, name) for x in t.types])
    if isinstance(t, mi.StructType):
        fields = {f.encode_name: _for(f.type, f.name) for f in t.fields}
        strat = st.fixed_dictionaries(fields)
        if t.tag_field is not None:
            tag_field, tag = t.tag_field, t.tag
            return strat.map(lambda d: {tag_field: tag, **d})
        return strat
    raise NotImplementedError(f"no strategy for {t!r}")


def instances_of(tp: type[msgspec.Struct]) -> st.SearchStrategy[Any]:
    """Valid instances of a wire struct (values its own ``__post_init__`` refuses are skipped)."""

    def convert(value: Any) -> Any:
        try:
            return msgspec.convert(value, tp)
        except msgspec.ValidationError:
            return None

    return builtins_for(tp).map(convert).filter(lambda v: v is not None)


def random_bytes10() -> bytes:
    """10 random bytes for a UUIDv7 made outside hypothesis (fixtures)."""
    return os.urandom(10)
