"""The committed JSON Schemas in docs/schemas/ are exactly what the code exports."""

from __future__ import annotations

import json
from pathlib import Path

from protocol.messages import DOWNLINK, UPLINK
from protocol.schemas import export

DOCS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def test_committed_schemas_match_the_code() -> None:
    wanted = export()
    committed = {p.relative_to(DOCS).as_posix(): p.read_text("utf-8") for p in DOCS.rglob("*.json")}
    assert sorted(committed) == sorted(wanted), "run `make schemas` and commit docs/schemas/"
    stale = [path for path, text in wanted.items() if committed[path] != text]
    assert stale == [], f"stale schemas (run `make schemas`): {stale}"


def test_every_message_has_a_schema_with_its_constants() -> None:
    files = export()
    for name in UPLINK.names():
        doc = json.loads(files[f"up/{name}.v{UPLINK.current(name)}.json"])
        envelope = doc["$defs"][doc["$ref"].rsplit("/", 1)[-1]]
        assert envelope["properties"]["type"] == {"const": name}
        assert envelope["additionalProperties"] is False
    for kind in DOWNLINK.names():
        doc = json.loads(files[f"down/{kind}.v{DOWNLINK.current(kind)}.json"])
        assert doc["required"] == ["payload", "key_id", "sig"]
