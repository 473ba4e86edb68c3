"""The fleet's TOML config: which database, which broker, which tenant, which signing key.

::

    [fleet]
    tenant = "acme"
    db_url = "sqlite:////var/lib/tillfleet-hq/fleet.db"   # or postgresql://fleet@db:5432/fleet

    [broker]
    host = "mqtt.example.net"
    port = 8883
    username = "fleet-ingest"          # optional
    password = "..."                   # optional
    ca_file = "ca.pem"                 # optional; any of the three turns TLS on
    cert_file = "ingest.pem"           # optional client certificate...
    key_file = "ingest.key"            # ...and its key
    keepalive_s = 30
    connect_timeout_s = 15             # no CONNACK for this long: give the attempt up

    [keys]
    dir = "/etc/tillfleet/hq-keys"     # <key_id>.pem files, mode 0600
    active = "hq-2026-11"              # the one HQ signs with now

    [ingest]
    client_id = "ingest-1"             # unique per worker: the broker keeps its session by it
    share_group = "ingest"             # workers in one group split the uplink between them
    batch_max = 500                    # messages per database transaction, at most
    batch_wait_ms = 50                 # how long a batch may wait to fill up
    writers = 0                        # batches stored at once (0: 1 on SQLite, 2 on PostgreSQL)
    reorder_timeout_s = 30             # a seq gap older than this triggers a resend request
    max_inflight = 4000                # unacknowledged messages the broker may send us
    session_expiry_s = 86400           # how long the broker keeps our queue while we are away
    ack_ttl_s = 43200                  # validity of the signed ack documents
    metrics_interval_s = 60            # how often the metrics line is logged
    projection_batch = 100             # events projected per transaction when no batch waits
    projection_max_delay_s = 5         # projection waits this long at most for a pause in uplink

Relative paths are relative to the config file. Every error names the file, the table and the
key, and unknown keys are refused (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.db.engine import DatabaseError, Dialect, parse_url
from protocol.errors import TopicError
from protocol.topics import validate_id


class ConfigError(Exception):
    """The config file is missing, unreadable or wrong; the message says where."""


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = 30
    connect_timeout_s: int = 15

    @property
    def tls(self) -> bool:
        return any(p is not None for p in (self.ca_file, self.cert_file, self.key_file))


@dataclass(frozen=True, slots=True)
class KeysConfig:
    dir: Path
    active: str


@dataclass(frozen=True, slots=True)
class IngestConfig:
    client_id: str = "fleet-ingest"
    share_group: str = "ingest"
    batch_max: int = 500
    batch_wait_ms: int = 50
    writers: int = 0
    """Batches a worker stores at once, each on a connection of its own; 0: by database
    (:attr:`FleetConfig.writers`)."""
    reorder_timeout_s: float = 30.0
    max_inflight: int = 4000
    session_expiry_s: int = 86_400
    ack_ttl_s: int = 12 * 3600
    metrics_interval_s: float = 60.0
    projection_batch: int = 100
    projection_max_delay_s: int = 5


@dataclass(frozen=True, slots=True)
class FleetConfig:
    tenant: str
    db_url: str
    keys: KeysConfig
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)

    @property
    def writers(self) -> int:
        """How many batches an ingest worker stores at once: ``[ingest] writers``, or by
        database. On PostgreSQL two — one is built while the server stores the other (a third
        of the throughput more on two cores, measured). On SQLite one: its writers take turns
        on one lock anyway, and a second only adds the hand-overs."""
        if self.ingest.writers:
            return self.ingest.writers
        dialect, _ = parse_url(self.db_url)
        return 1 if dialect is Dialect.SQLITE else 2


def load(path: Path) -> FleetConfig:
    """Read and check the TOML file at ``path``."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return from_mapping(data, base=path.parent, source=str(path))


def from_mapping(data: Mapping[str, Any], *, base: Path, source: str = "config") -> FleetConfig:
    """Build a config from parsed TOML; relative paths resolve against ``base``."""
    unknown = set(data) - {"fleet", "broker", "keys", "ingest"}
    if unknown:
        raise ConfigError(f"{source}: unknown tables {', '.join(sorted(unknown))}")
    r = _Reader(source, base)
    fleet = r.table(data, "fleet")
    keys = r.table(data, "keys")
    broker = r.table(data, "broker", required=False)
    ingest = r.table(data, "ingest", required=False)
    r.only(fleet, "fleet", {"tenant", "db_url"})
    r.only(keys, "keys", {"dir", "active"})
    r.only(broker, "broker", set(BrokerConfig.__dataclass_fields__))
    r.only(ingest, "ingest", set(IngestConfig.__dataclass_fields__))

    db_url = r.text(fleet, "fleet", "db_url")
    try:
        parse_url(db_url)
    except DatabaseError as exc:
        raise ConfigError(f"{source}: [fleet] db_url: {exc}") from None
    d_broker, d_ingest = BrokerConfig(), IngestConfig()
    password = r.text(broker, "broker", "password", None)
    username = r.text(broker, "broker", "username", None)
    if password is not None and username is None:
        raise ConfigError(f"{source}: [broker] password needs a username")
    cfg = FleetConfig(
        tenant=r.ident(fleet, "fleet", "tenant"),
        db_url=db_url,
        keys=KeysConfig(dir=r.path(keys, "keys", "dir"), active=r.ident(keys, "keys", "active")),
        broker=BrokerConfig(
            host=r.text(broker, "broker", "host", d_broker.host),
            port=r.integer(broker, "broker", "port", d_broker.port, lo=1, hi=65535),
            username=username,
            password=password,
            ca_file=r.path(broker, "broker", "ca_file", None),
            cert_file=r.path(broker, "broker", "cert_file", None),
            key_file=r.path(broker, "broker", "key_file", None),
            keepalive_s=r.integer(
                broker, "broker", "keepalive_s", d_broker.keepalive_s, lo=5, hi=3600
            ),
            connect_timeout_s=r.integer(
                broker, "broker", "connect_timeout_s", d_broker.connect_timeout_s, lo=1, hi=600
            ),
        ),
        ingest=IngestConfig(
            client_id=r.ident(ingest, "ingest", "client_id", d_ingest.client_id),
            share_group=r.ident(ingest, "ingest", "share_group", d_ingest.share_group),
            batch_max=r.integer(ingest, "ingest", "batch_max", d_ingest.batch_max, lo=1, hi=10_000),
            batch_wait_ms=r.integer(
                ingest, "ingest", "batch_wait_ms", d_ingest.batch_wait_ms, lo=0, hi=60_000
            ),
            writers=r.integer(ingest, "ingest", "writers", d_ingest.writers, lo=0, hi=8),
            reorder_timeout_s=r.seconds(
                ingest, "ingest", "reorder_timeout_s", d_ingest.reorder_timeout_s
            ),
            max_inflight=r.integer(
                ingest, "ingest", "max_inflight", d_ingest.max_inflight, lo=1, hi=65_535
            ),
            session_expiry_s=r.integer(
                ingest, "ingest", "session_expiry_s", d_ingest.session_expiry_s, lo=0, hi=2**32 - 1
            ),
            ack_ttl_s=r.integer(
                ingest, "ingest", "ack_ttl_s", d_ingest.ack_ttl_s, lo=60, hi=30 * 86_400
            ),
            metrics_interval_s=r.seconds(
                ingest, "ingest", "metrics_interval_s", d_ingest.metrics_interval_s
            ),
            projection_batch=r.integer(
                ingest, "ingest", "projection_batch", d_ingest.projection_batch, lo=1, hi=10_000
            ),
            projection_max_delay_s=r.integer(
                ingest,
                "ingest",
                "projection_max_delay_s",
                d_ingest.projection_max_delay_s,
                lo=0,
                hi=3600,
            ),
        ),
    )
    if (cfg.broker.cert_file is None) != (cfg.broker.key_file is None):
        raise ConfigError(f"{source}: [broker] cert_file and key_file go together")
    if cfg.ingest.batch_max > cfg.ingest.max_inflight:
        raise ConfigError(
            f"{source}: [ingest] batch_max ({cfg.ingest.batch_max}) cannot exceed max_inflight "
            f"({cfg.ingest.max_inflight}): the broker would never send a full batch"
        )
    return cfg


_MISSING: Any = object()


class _Reader:
    """Typed look-ups that fail with the file, table and key in the message."""

    def __init__(self, source: str, base: Path) -> None:
        self.source = source
        self.base = base

    def fail(self, table: str, key: str, what: str, value: Any) -> ConfigError:
        return ConfigError(f"{self.source}: [{table}] {key} must be {what}, got {value!r}")

    def table(self, data: Mapping[str, Any], name: str, *, required: bool = True) -> dict[str, Any]:
        if name not in data:
            if required:
                raise ConfigError(f"{self.source}: needs a [{name}] table")
            return {}
        value = data[name]
        if not isinstance(value, dict):
            raise ConfigError(f"{self.source}: [{name}] must be a table")
        return value

    def only(self, table: Mapping[str, Any], name: str, allowed: set[str]) -> None:
        unknown = set(table) - allowed
        if unknown:
            raise ConfigError(
                f"{self.source}: unknown [{name}] keys: {', '.join(sorted(unknown))} "
                f"(known: {', '.join(sorted(allowed))})"
            )

    def _get(self, table: Mapping[str, Any], name: str, key: str, default: Any) -> Any:
        if key in table:
            return table[key]
        if default is _MISSING:
            raise ConfigError(f"{self.source}: [{name}] needs {key}")
        return default

    def text(self, t: Mapping[str, Any], name: str, key: str, default: Any = _MISSING) -> Any:
        value = self._get(t, name, key, default)
        if value is not None and (not isinstance(value, str) or not value):
            raise self.fail(name, key, "a non-empty string", value)
        return value

    def ident(self, t: Mapping[str, Any], name: str, key: str, default: Any = _MISSING) -> str:
        value = self.text(t, name, key, default)
        try:
            return validate_id(value, key)
        except TopicError as exc:
            raise ConfigError(f"{self.source}: [{name}] {exc}") from None

    def integer(
        self, t: Mapping[str, Any], name: str, key: str, default: int, *, lo: int, hi: int
    ) -> int:
        value = self._get(t, name, key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(name, key, f"an integer in {lo}..{hi}", value)
        return value

    def seconds(self, t: Mapping[str, Any], name: str, key: str, default: float) -> float:
        value = self._get(t, name, key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86_400:
            raise self.fail(name, key, "a number of seconds in (0, 86400]", value)
        return float(value)

    def path(self, t: Mapping[str, Any], name: str, key: str, default: Any = _MISSING) -> Any:
        value = self.text(t, name, key, default)
        return None if value is None else self.base / value
