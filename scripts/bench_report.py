"""Render pytest-benchmark JSON as docs/benchmarks.md, with the machine the numbers came from.

Benchmarks are never pass/fail: a number means something only next to the hardware, Python and
date it was measured on, so the report leads with those.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    """The CPU's name: x86 says "model name", a Raspberry Pi "Model" (the board) and "Hardware"."""
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    for key in ("model name", "model", "hardware"):
        if fields.get(key) and not fields[key].isdigit():
            return fields[key]
    return str(platform.processor() or "unknown")


def _mem_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                return f"{kib / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def render(data: dict[str, Any]) -> str:
    info = data.get("machine_info", {})
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench`; numbers are medians of calibrated rounds (pytest-benchmark).",
        "They are goals to watch, never pass/fail tests.",
        "",
        f"- Date: {data.get('datetime', 'unknown')}",
        f"- CPU: {_cpu_model()} ({os.cpu_count()} logical cores, {platform.machine()})",
        f"- Memory: {_mem_total()}",
        f"- OS: {platform.platform()}",
        f"- Python: {info.get('python_implementation', '')} {info.get('python_version', '')}",
        "",
        "| benchmark | median | max | ops/s | notes |",
        "|---|---|---|---|---|",
    ]
    for bench in sorted(data.get("benchmarks", []), key=lambda b: b["fullname"]):
        stats = bench["stats"]
        extra = bench.get("extra_info") or {}
        notes = ", ".join(f"{k}: {v}" for k, v in sorted(extra.items()))
        lines.append(
            f"| `{bench['fullname'].removeprefix('bench/')}` | {_fmt_time(stats['median'])} "
            f"| {_fmt_time(stats['max'])} | {stats['ops']:,.0f} | {notes} |"
        )
    return "\n".join(lines) + "\n"


def main(src: str, dest: str) -> int:
    data = json.loads(Path(src).read_text())
    Path(dest).write_text(render(data), encoding="utf-8")
    print(f"wrote {dest} ({len(data.get('benchmarks', []))} benchmarks)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
