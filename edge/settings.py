"""The appliance's TOML file: who this till is and where its data lives.

``/etc/tillfleet/till.toml`` on the appliance, any path in tests and the demo::

    [till]
    tenant = "acme"
    store = "s-001"
    device = "till-1"
    data_dir = "/var/lib/tillfleet"      # the store file lives here
    socket = "/run/tillfleet/till.sock"  # the command interface

    [checkout]                           # defaults until HQ's device_config arrives
    currency = "EUR"
    timezone = "Europe/Berlin"
    cash_coin = 1
    feedback_enabled = false

    [sync]                               # optional: see edge.sync.settings
    broker = "127.0.0.1:1883"

    [devices.scanner]                    # optional: see edge.peripherals
    backend = "simulated"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from edge.checkout.config import TillConfig
from edge.sync import settings as sync_settings
from edge.sync.settings import SyncSettings
from protocol.barcodes import LAYOUT_SETS
from protocol.money import Rounding


class SettingsError(Exception):
    """The TOML file is missing, unreadable or wrong; the message says where."""


@dataclass(frozen=True, slots=True)
class Settings:
    config: TillConfig
    data_dir: Path
    socket: Path
    sync: SyncSettings | None = None
    devices: dict[str, dict[str, Any]] | None = None

    @property
    def store_path(self) -> Path:
        return self.data_dir / "till.db"


_CHECKOUT_KEYS = {f.name for f in fields(TillConfig)} - {"tenant", "store", "device", "loyalty"}


def load(path: Path) -> Settings:
    """Read and validate the till's TOML file."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    till = _table(data, "till", path)
    checkout = dict(_table(data, "checkout", path, required=False))
    unknown = set(checkout) - _CHECKOUT_KEYS
    if unknown:
        raise SettingsError(f"{path}: unknown [checkout] keys: {', '.join(sorted(unknown))}")
    if "cash_rounding" in checkout:
        try:
            checkout["cash_rounding"] = Rounding[str(checkout["cash_rounding"]).upper()]
        except KeyError:
            raise SettingsError(
                f"{path}: cash_rounding must be half_up, down, up or half_even"
            ) from None
    if "barcode_layouts" in checkout:
        names = tuple(str(n) for n in checkout["barcode_layouts"])
        unknown_sets = [n for n in names if n not in LAYOUT_SETS]
        if unknown_sets:
            raise SettingsError(
                f"{path}: unknown barcode_layouts {unknown_sets}; known: {sorted(LAYOUT_SETS)}"
            )
        checkout["barcode_layouts"] = names
    if "phone_hash_key" in checkout:
        checkout["phone_hash_key"] = bytes.fromhex(str(checkout["phone_hash_key"]))
    try:
        config = TillConfig(
            tenant=str(till["tenant"]),
            store=str(till["store"]),
            device=str(till["device"]),
            **checkout,
        )
    except KeyError as exc:
        raise SettingsError(f"{path}: [till] needs {exc.args[0]}") from None
    except TypeError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    base = path.parent
    data_dir = base / str(till.get("data_dir", "/var/lib/tillfleet"))
    sock = base / str(till.get("socket", "/run/tillfleet/till.sock"))
    sync = None
    if "sync" in data:
        try:
            sync = sync_settings.from_table(_table(data, "sync", path), base)
        except sync_settings.SyncSettingsError as exc:
            raise SettingsError(f"{path}: {exc}") from None
    devices = _table(data, "devices", path, required=False)
    for name, section in devices.items():
        if not isinstance(section, dict):
            raise SettingsError(f"{path}: [devices.{name}] must be a table")
    return Settings(config=config, data_dir=data_dir, socket=sock, sync=sync, devices=devices)


def _table(data: dict[str, Any], name: str, path: Path, *, required: bool = True) -> dict[str, Any]:
    table = data.get(name, {} if not required else None)
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: needs a [{name}] table")
    return table
