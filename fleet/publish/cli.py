"""``fleet publish ...`` and ``fleet catalog ...``: registered on ``fleet.cli.main``.

Each ``publish`` command connects to the broker first (so an unreachable broker costs no
version), prepares the document in one database transaction, publishes it retained at QoS 1,
waits for the PUBACK and prints one line saying what went where.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fleet import config as fleet_config
from fleet.clikit import config_option
from fleet.db import Connection, DatabaseError, connect
from fleet.keys import KeyStoreError, Signer
from fleet.publish.catalog import CatalogError, add_phone_hash_key, load_catalog, read_catalog
from fleet.publish.device_config import prepare_device_config
from fleet.publish.documents import DEFAULT_TTL, Prepared, PublishError, deliver, utcnow
from fleet.publish.members import prepare_member_cache
from fleet.publish.mqtt import MqttPublisher
from fleet.publish.price_book import prepare_price_book
from fleet.publish.promotions import prepare_promotion_set
from fleet.publish.rollout import rollout_status

Prepare = Callable[[Connection, Signer, fleet_config.FleetConfig, dt.timedelta], Prepared]
_ERRORS = (PublishError, CatalogError, KeyStoreError, DatabaseError, fleet_config.ConfigError)

_config_option = config_option()


def _publish_options(func: Callable[..., None]) -> Callable[..., None]:
    @_config_option
    @click.option("--store", required=True, help="The store whose tills get the document.")
    @click.option(
        "--ttl-days",
        type=click.IntRange(1, 365),
        default=DEFAULT_TTL.days,
        show_default=True,
        help="Days the document stays valid (republish well before).",
    )
    @click.option(
        "--timeout",
        type=click.FloatRange(0.1, 600),
        default=30.0,
        show_default=True,
        help="Seconds to wait for the broker.",
    )
    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> None:
        func(**kwargs)

    return wrapper


@click.group("publish")
def publish() -> None:
    """Build, sign and publish documents for a store's tills (retained, QoS 1)."""


def _run(config_path: Path, timeout: float, ttl_days: int, prepare: Prepare) -> None:
    try:
        cfg = fleet_config.load(config_path)
        signer = Signer.from_dir(cfg.keys.dir, cfg.keys.active)
        with MqttPublisher(cfg.broker, timeout_s=timeout) as sender, connect(cfg.db_url) as conn:
            prepared = prepare(conn, signer, cfg, dt.timedelta(days=ttl_days))
            deliver(conn, prepared, sender)
    except _ERRORS as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"published {prepared.summary()}")


@publish.command("price-book")
@_publish_options
@click.option("--full", is_flag=True, help="A snapshot even where a delta would do.")
def price_book(config_path: Path, store: str, ttl_days: int, timeout: float, full: bool) -> None:
    """The store's price book: a delta from the version its tills run, else a snapshot."""
    _run(
        config_path,
        timeout,
        ttl_days,
        lambda conn, signer, cfg, ttl: prepare_price_book(
            conn, signer, tenant=cfg.tenant, store=store, full=full, ttl=ttl
        ),
    )


@publish.command("promotions")
@_publish_options
def promotions(config_path: Path, store: str, ttl_days: int, timeout: float) -> None:
    """The store's promotion set (a snapshot)."""
    _run(
        config_path,
        timeout,
        ttl_days,
        lambda conn, signer, cfg, ttl: prepare_promotion_set(
            conn, signer, tenant=cfg.tenant, store=store, ttl=ttl
        ),
    )


@publish.command("members")
@_publish_options
@click.option("--full", is_flag=True, help="A snapshot even where a delta would do.")
def members(config_path: Path, store: str, ttl_days: int, timeout: float, full: bool) -> None:
    """The store's member cache: a delta since the last one, else a snapshot."""
    _run(
        config_path,
        timeout,
        ttl_days,
        lambda conn, signer, cfg, ttl: prepare_member_cache(
            conn, signer, tenant=cfg.tenant, store=store, full=full, ttl=ttl
        ),
    )


@publish.command("config")
@_publish_options
@click.option("--device", help="Only this till (its own settings if it has any).")
def config(
    config_path: Path, store: str, ttl_days: int, timeout: float, device: str | None
) -> None:
    """The device config of the store's tills, trusting every key in the key directory."""
    _run(
        config_path,
        timeout,
        ttl_days,
        lambda conn, signer, cfg, ttl: prepare_device_config(
            conn, signer, cfg.keys.dir, tenant=cfg.tenant, store=store, device=device, ttl=ttl
        ),
    )


@publish.command("status")
@_config_option
@click.option("--store", required=True)
def status(config_path: Path, store: str) -> None:
    """Per till and document kind: the version published, the version running."""
    try:
        cfg = fleet_config.load(config_path)
        with connect(cfg.db_url) as conn:
            rows = rollout_status(conn, cfg.tenant, store)
    except _ERRORS as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'device':<20} {'kind':<14} {'published':>9} {'running':>9}  state")
    for r in rows:
        published = "-" if r.published is None else str(r.published)
        running = "-" if r.running is None else str(r.running)
        click.echo(f"{r.device:<20} {r.kind:<14} {published:>9} {running:>9}  {r.state}")


@click.group("catalog")
def catalog() -> None:
    """Put HQ's catalog in (until the web UI and CSV import arrive)."""


@catalog.command("load")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@_config_option
def load(file: Path, config_path: Path) -> None:
    """Load a catalog JSON FILE (all of it or nothing; loading again changes nothing)."""
    try:
        cfg = fleet_config.load(config_path)
        data = read_catalog(file)
        with connect(cfg.db_url) as conn:
            counts = load_catalog(conn, cfg.tenant, data, now=utcnow())
    except _ERRORS as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("loaded " + (", ".join(f"{n} {k}" for k, n in counts.items()) or "nothing"))


@catalog.command("hash-key")
@click.argument("key_id")
@_config_option
def hash_key(key_id: str, config_path: Path) -> None:
    """Make a new phone hash key KEY_ID; it becomes the active one (publish config, then a
    full member cache, so tills and caches agree)."""
    try:
        cfg = fleet_config.load(config_path)
        with connect(cfg.db_url) as conn:
            add_phone_hash_key(conn, cfg.tenant, key_id, os.urandom(32), now=utcnow())
    except _ERRORS as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"phone hash key {key_id} added")
