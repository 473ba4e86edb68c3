"""JSON Schema (draft 2020-12) of every wire message, for people and tools outside Python.

HQ's integrators, a broker-side validator or a test written in another language read these from
``docs/schemas/`` (exported by ``make schemas``); a test keeps the committed files equal to what
this module produces, so the documents can never drift from the code that enforces them.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from protocol.messages import DOWNLINK, UPLINK, Body, Document, Event, Registry
from protocol.messages.base import ID_PATTERN

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _message_schema(envelope: type, body: type[Body], tag_field: str) -> dict[str, Any]:
    schema = msgspec.json.schema(envelope[body])  # type: ignore[index]
    ref = schema["$ref"].rsplit("/", 1)[-1]
    props = schema["$defs"][ref]["properties"]
    props[tag_field] = {"const": body.TYPE}
    props["schema"] = {"const": body.VERSION}
    return schema


def _uplink(body: type[Body]) -> dict[str, Any]:
    schema = _message_schema(Event, body, "type")
    return {
        "$schema": DIALECT,
        "$id": f"tillfleet:up/{body.TYPE}.v{body.VERSION}",
        "title": f"{body.TYPE} (schema {body.VERSION})",
        "description": (body.__doc__ or "").strip(),
        **schema,
    }


def _downlink(body: type[Body]) -> dict[str, Any]:
    payload = _message_schema(Document, body, "kind")
    return {
        "$schema": DIALECT,
        "$id": f"tillfleet:down/{body.TYPE}.v{body.VERSION}",
        "title": f"signed {body.TYPE} (schema {body.VERSION})",
        "description": (body.__doc__ or "").strip(),
        "type": "object",
        "properties": {
            "payload": {"$ref": payload["$ref"]},
            "key_id": {"type": "string", "pattern": ID_PATTERN},
            "sig": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_-]{86}$",
                "description": "Ed25519 signature, unpadded base64url (see protocol.signing).",
            },
        },
        "required": ["payload", "key_id", "sig"],
        "additionalProperties": False,
        "$defs": payload["$defs"],
    }


def _bodies(registry: Registry) -> list[type[Body]]:
    return [
        registry.lookup(name, version).body
        for name in registry.names()
        for version in registry.accepted(name)
    ]


def export() -> dict[str, str]:
    """Every schema document as ``{relative path: JSON text}``, stable byte for byte."""
    files: dict[str, dict[str, Any]] = {}
    for body in _bodies(UPLINK):
        files[f"up/{body.TYPE}.v{body.VERSION}.json"] = _uplink(body)
    for body in _bodies(DOWNLINK):
        files[f"down/{body.TYPE}.v{body.VERSION}.json"] = _downlink(body)
    return {
        path: json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for path, doc in sorted(files.items())
    }
