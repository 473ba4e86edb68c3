"""Write protocol.schemas.export() under a directory, removing schema files that no longer exist."""

from __future__ import annotations

import sys
from pathlib import Path

from protocol.schemas import export


def main(target: str) -> int:
    root = Path(target)
    wanted = export()
    for path in root.rglob("*.json"):
        if path.relative_to(root).as_posix() not in wanted:
            path.unlink()
    for rel, text in wanted.items():
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text, encoding="utf-8")
    print(f"wrote {len(wanted)} schemas under {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas"))
