"""Canonical JSON: the exact bytes HQ signs and a till verifies.

The encoding is RFC 8785 (JSON Canonicalization Scheme) restricted to the values our documents
may hold — objects with string keys, arrays, strings, integers, booleans and null. Floats are
refused outright: money is integer minor units, and refusing floats removes the one part of JCS
(number serialisation) where implementations disagree. For this domain JCS reduces to: keys
sorted by their UTF-16 code units, no insignificant whitespace, strings escaped minimally
(``"``, ``\\``, and control characters below U+0020, the latter as ``\\b \\f \\n \\r \\t`` or
``\\u00xx``), UTF-8 output.

Signing canonical bytes rather than "the bytes we happened to send" means a document survives
re-serialisation by a broker bridge, a debugging tool or a future encoder unchanged in meaning
and still verifies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from protocol.errors import MessageError

MAX_DEPTH = 32
_INT_BOUND = 2**63


def canonical_json(value: object) -> bytes:
    """Return the canonical UTF-8 JSON encoding of ``value``.

    Raises :class:`~protocol.errors.MessageError` for values outside the domain — floats, integers
    beyond 64 bits, non-string keys, strings that are not valid Unicode (lone surrogates), or
    nesting deeper than :data:`MAX_DEPTH`.
    """
    out: list[str] = []
    _emit(value, out, "$", 0)
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MessageError("string is not valid Unicode (lone surrogate)") from exc


def _emit(value: object, out: list[str], path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise MessageError(f"nesting deeper than {MAX_DEPTH} levels", path)
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if not -_INT_BOUND < value < _INT_BOUND:
            raise MessageError("integer does not fit in 64 bits", path)
        out.append(str(int(value)))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Mapping):
        keys = list(value.keys())
        for k in keys:
            if not isinstance(k, str):
                raise MessageError(f"object key {k!r} is not a string", path)
        out.append("{")
        for i, k in enumerate(sorted(keys, key=_utf16_key)):
            if i:
                out.append(",")
            out.append(json.dumps(k, ensure_ascii=False))
            out.append(":")
            _emit(value[k], out, f"{path}.{k}", depth + 1)
        out.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _emit(item, out, f"{path}[{i}]", depth + 1)
        out.append("]")
    elif isinstance(value, float):
        raise MessageError("floats are not allowed in signed documents", path)
    else:
        raise MessageError(f"{type(value).__name__} cannot be canonically encoded", path)


def _utf16_key(key: str) -> bytes:
    # JCS sorts by UTF-16 code units; Python compares code points. They differ only for characters
    # above U+FFFF versus U+E000..U+FFFF, which this key handles. surrogatepass keeps lone
    # surrogates sortable so the error about them is raised at encoding, with a clear message.
    return key.encode("utf-16-be", "surrogatepass")
