"""Input patterns shared by handlers (kept equal to the wire schema's)."""

from __future__ import annotations

import re

MASKED_PAN = re.compile(r"[0-9]{0,6}[*]{4,13}[0-9]{0,4}")
