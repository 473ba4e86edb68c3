"""``python -m fleet.ingest ROLE NAME FD [FD]``: a helper process of an ingest worker (see
``fleet.ingest.child``); not for people to run."""

from __future__ import annotations

import sys

from fleet.ingest import projector, receiver, validator

if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role == "receiver":
        receiver.main()
    elif role == "validator":
        validator.main()
    elif role == "projector":
        projector.main()
    else:
        sys.exit(f"usage: python -m fleet.ingest receiver|validator|projector ... (got {role!r})")
