"""`make demo` works: a store and its HQ come up on this machine and the shopper's sales reach
HQ — the README's first command, run here as `hil demo --sales 2`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.hil, pytest.mark.mqtt, pytest.mark.slow]


def test_the_demo_sells_and_hq_stores_every_sale(tmp_path: Path) -> None:
    hil = Path(sys.executable).parent / "hil"
    result = subprocess.run(
        [str(hil), "demo", "--sales", "2", "--workdir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HQ has 2 of 2 sales" in result.stdout, result.stdout
    # Each sale line is printed only after the printer emulator received its receipt.
    assert "sale 2: receipt" in result.stdout
    log = (tmp_path / "demo" / "till" / "till.log").read_text()
    assert "ready on" in log
