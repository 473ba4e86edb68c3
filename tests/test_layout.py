"""Who may import whom (docs/architecture.md, "Layout"), checked on every run.

``protocol`` is pure and shared; ``edge`` and ``fleet`` never import each other; ``hil`` treats
the till as a black box; the I/O board firmware imports only what MicroPython has.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"protocol", "edge", "fleet", "provisioning", "hil"}
STDLIB = set(sys.stdlib_module_names)

# Third-party packages each top-level package may use. protocol stays tiny on purpose: it runs on
# the till and at HQ, and everything it imports is part of the contract.
ALLOWED_THIRD_PARTY: dict[str, set[str]] = {
    "protocol": {"msgspec", "cryptography"},
    "edge": {"msgspec", "cryptography", "click", "paho", "serial", "gpiozero", "evdev"},
    "fleet": {"msgspec", "cryptography", "click", "paho", "flask", "psycopg", "jinja2", "werkzeug"},
    "provisioning": {"msgspec", "cryptography", "click"},
    "hil": {"msgspec", "cryptography", "click", "paho", "serial", "pytest"},
}
ALLOWED_OURS: dict[str, set[str]] = {
    "protocol": {"protocol"},
    "edge": {"protocol", "edge"},
    "fleet": {"protocol", "fleet"},
    "provisioning": {"protocol", "provisioning"},
    "hil": {"protocol", "hil"},
}
# Pure protocol code must not do I/O; these stdlib modules would let it.
PROTOCOL_FORBIDDEN_STDLIB = {"os", "socket", "subprocess", "threading", "time", "random", "sqlite3"}
MICROPYTHON_MODULES = {
    "machine", "micropython", "time", "struct", "sys", "gc", "select", "uasyncio", "asyncio",
    "binascii", "collections", "errno", "io", "json", "array", "rp2", "utime", "ustruct",
}  # fmt: skip


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module.split(".")[0])
    return found


def _python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(OURS))
def test_imports_respect_the_layout(package: str) -> None:
    problems = []
    for path in _python_files(package):
        rel = path.relative_to(ROOT)
        if rel.parts[:2] == ("edge", "firmware"):
            continue
        for mod in _imports(path):
            if mod == "__future__" or (mod in STDLIB and mod not in OURS):
                if package == "protocol" and mod in PROTOCOL_FORBIDDEN_STDLIB:
                    problems.append(f"{rel}: protocol must stay pure, imports {mod}")
                continue
            if mod in OURS:
                if mod not in ALLOWED_OURS[package]:
                    problems.append(f"{rel}: {package} may not import {mod}")
            elif mod not in ALLOWED_THIRD_PARTY[package]:
                problems.append(f"{rel}: {package} imports unlisted third-party {mod}")
    assert problems == []


def test_firmware_imports_only_micropython_modules() -> None:
    problems = []
    firmware = ROOT / "edge" / "firmware"
    local = {p.stem for p in firmware.rglob("*.py")}
    for path in sorted(firmware.rglob("*.py")):
        for mod in _imports(path):
            if mod not in MICROPYTHON_MODULES | local:
                problems.append(f"{path.relative_to(ROOT)} imports {mod}")
    assert problems == []
