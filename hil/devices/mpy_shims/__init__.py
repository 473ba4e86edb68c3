"""Run the I/O board's MicroPython firmware under CPython: shims and a loader.

The firmware (``edge/firmware``) imports its sibling modules by plain name (``import link``), as
MicroPython finds them in the board's flash, and imports ``machine``, ``micropython`` and
``utime``, which CPython does not have. :func:`install` registers this package's stand-ins under
those names and puts the firmware directory on ``sys.path``; :func:`firmware` then imports one
firmware module. The firmware is loaded from its files, as it is flashed onto a board — the
HIL rig never imports the till's code (``edge``), only the board's.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from hil.devices.mpy_shims import machine, micropython, utime

FIRMWARE_DIR = Path(__file__).resolve().parents[3] / "edge" / "firmware"
"""The firmware's source files in this checkout."""

_SHIMS: dict[str, ModuleType] = {"machine": machine, "micropython": micropython, "utime": utime}


def install(firmware_dir: Path = FIRMWARE_DIR) -> None:
    """Make the firmware importable here; idempotent, one firmware directory per process."""
    for name, shim in _SHIMS.items():
        present = sys.modules.setdefault(name, shim)
        if present is not shim:
            raise RuntimeError(f"a module {name!r} other than the MicroPython shim is loaded")
    path = str(firmware_dir.resolve())
    if path in sys.path:
        return
    if not (firmware_dir / "main.py").is_file():
        raise FileNotFoundError(f"no firmware (main.py) in {firmware_dir}")
    clashes = sorted(
        p.stem
        for p in firmware_dir.glob("*.py")
        if p.stem in sys.stdlib_module_names
        or (p.stem in sys.modules and p.stem != "__init__" and _origin(p.stem) != p)
    )
    if clashes:
        raise RuntimeError(f"firmware modules clash with modules already known: {clashes}")
    sys.path.insert(0, path)


def _origin(name: str) -> Path | None:
    file = getattr(sys.modules[name], "__file__", None)
    return Path(file).resolve() if file else None


def firmware(name: str) -> ModuleType:
    """Import firmware module ``name`` (``"board"``, ``"link"``, ...) from the firmware dir."""
    install()
    return importlib.import_module(name)
