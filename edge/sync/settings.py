"""The ``[sync]`` table of the till's TOML file: how to reach the broker and whom to trust.

::

    [sync]
    broker = "127.0.0.1:1883"            # host:port (tests and the demo: loopback only)
    username = "till-1"                  # the device's broker user (the ACL keys on it)
    password_file = "broker.password"    # optional, relative to the TOML file
    ca_file = "ca.pem"                   # optional TLS: all three, or none
    cert_file = "till.pem"
    key_file = "till.key"
    max_inflight = 50                    # uplink events published but not yet PUBACKed
    ack_timeout_s = 15                   # no ack from HQ for this long: publish again
    keepalive_s = 30
    connect_timeout_s = 15               # no CONNACK for this long: drop the attempt, retry
    health_interval_s = 60               # device.health (HQ's device_config overrides it)
    trusted_keys = [{ key_id = "hq-1", public_key = "…" }]  # until HQ's device_config arrives
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SyncSettingsError(ValueError):
    """A wrong ``[sync]`` table; the message names the key."""


@dataclass(frozen=True, slots=True)
class SyncSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    max_inflight: int = 50
    ack_timeout_s: float = 15.0
    keepalive_s: int = 30
    connect_timeout_s: float = 15.0
    health_interval_s: float = 60.0
    session_expiry_s: int = 7 * 24 * 3600
    trusted_keys: tuple[tuple[str, str], ...] = ()


_KEYS = {
    "broker",
    "username",
    "password_file",
    "ca_file",
    "cert_file",
    "key_file",
    "max_inflight",
    "ack_timeout_s",
    "keepalive_s",
    "connect_timeout_s",
    "health_interval_s",
    "session_expiry_s",
    "trusted_keys",
}


def from_table(table: dict[str, Any], base: Path) -> SyncSettings:
    """Validate ``[sync]``; paths are relative to ``base`` (the TOML file's folder)."""
    unknown = set(table) - _KEYS
    if unknown:
        raise SyncSettingsError(f"unknown [sync] keys: {', '.join(sorted(unknown))}")
    broker = table.get("broker")
    if not isinstance(broker, str) or ":" not in broker:
        raise SyncSettingsError('[sync] broker must be "host:port"')
    host, _, port_text = broker.rpartition(":")
    host = host.strip("[]")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SyncSettingsError(f"[sync] broker {broker!r} is not host:port")
    password = None
    if "password_file" in table:
        pw_path = base / str(table["password_file"])
        try:
            password = pw_path.read_text("utf-8").strip()
        except OSError as exc:
            raise SyncSettingsError(f"[sync] password_file {pw_path}: {exc.strerror}") from None
    tls = [table.get(k) for k in ("ca_file", "cert_file", "key_file")]
    if any(tls) and not all(tls):
        raise SyncSettingsError("[sync] TLS needs ca_file, cert_file and key_file together")
    keys: list[tuple[str, str]] = []
    for i, entry in enumerate(table.get("trusted_keys", [])):
        if not isinstance(entry, dict) or set(entry) != {"key_id", "public_key"}:
            raise SyncSettingsError(f"[sync] trusted_keys[{i}] needs key_id and public_key")
        keys.append((str(entry["key_id"]), str(entry["public_key"])))

    def number(key: str, default: float, low: float, high: float) -> float:
        value = table.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise SyncSettingsError(f"[sync] {key} must be a number in {low}..{high}")
        return float(value)

    return SyncSettings(
        host=host,
        port=int(port_text),
        username=str(table["username"]) if "username" in table else None,
        password=password,
        ca_file=base / str(tls[0]) if tls[0] else None,
        cert_file=base / str(tls[1]) if tls[1] else None,
        key_file=base / str(tls[2]) if tls[2] else None,
        max_inflight=int(number("max_inflight", 50, 1, 1000)),
        ack_timeout_s=number("ack_timeout_s", 15, 0.1, 3600),
        keepalive_s=int(number("keepalive_s", 30, 5, 3600)),
        connect_timeout_s=number("connect_timeout_s", 15, 1, 600),
        health_interval_s=number("health_interval_s", 60, 0.1, 86400),
        session_expiry_s=int(number("session_expiry_s", 7 * 24 * 3600, 0, 2**31)),
        trusted_keys=tuple(keys),
    )
