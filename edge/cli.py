"""Command line of `till`: the checkout daemon and the tools that talk to it."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

import click

from edge.checkout.auth import hash_pin
from edge.command_socket import CommandClient
from edge.settings import Settings, SettingsError, load
from edge.station.app import Station
from edge.station.devices import DevicesError
from edge.store.db import StoreError, open_store
from edge.store.documents import add_cashier
from protocol import __version__

DEFAULT_CONFIG = Path("/etc/tillfleet/till.toml")
config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=DEFAULT_CONFIG,
    envvar="TILL_CONFIG",
    show_default=True,
    help="the till's TOML file",
)


def _settings(path: Path) -> Settings:
    try:
        return load(path)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="till")
def main() -> None:
    """The till: checkout loop, local store, sync client and cashier tools."""


@main.command()
@config_option
def run(config_path: Path) -> None:
    """Run the checkout loop and serve its command socket until stopped."""
    settings = _settings(config_path)
    try:
        station = Station(settings)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    except DevicesError as exc:
        raise click.ClickException(f"{config_path}: {exc}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    station.start()
    click.echo(f"till {settings.config.store}/{settings.config.device} ready on {settings.socket}")
    stop.wait()
    station.stop()


@main.command("cashier-add")
@config_option
@click.option("--id", "cashier_id", required=True, help="the id the cashier logs in with")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["cashier", "manager"]), default="cashier")
@click.password_option("--pin", envvar="TILL_CASHIER_PIN", help="4-12 digits (asked if omitted)")
def cashier_add(config_path: Path, cashier_id: str, name: str, role: str, pin: str) -> None:
    """Add or update a cashier in the till's store (the PIN is stored only as a scrypt hash).

    Run it on the appliance while `till run` is stopped or running: it is one short transaction.
    """
    settings = _settings(config_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        pin_hash = hash_pin(pin, os.urandom(16))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--pin") from None
    try:
        conn = open_store(settings.store_path)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        add_cashier(conn, cashier_id, name, role, pin_hash)
    finally:
        conn.close()
    click.echo(f"{role} {cashier_id} ({name}) can log in")


@main.command()
@config_option
@click.argument("command_json")
def send(config_path: Path, command_json: str) -> None:
    """Send one JSON command and print the reply (e.g. '{"cmd": "status"}')."""
    _print(_settings(config_path), json.loads(command_json))


@main.command()
@config_option
def status(config_path: Path) -> None:
    """Show what the operator screen shows."""
    _print(_settings(config_path), {"cmd": "status"})


@main.command("x-report")
@config_option
def x_report(config_path: Path) -> None:
    """Take an X report of the open shift."""
    _print(_settings(config_path), {"cmd": "x_report"})


def _print(settings: Settings, command: dict[str, object]) -> None:
    try:
        with CommandClient(settings.socket) as client:
            reply = client.send(command)
    except OSError as exc:
        raise click.ClickException(f"the till is not running at {settings.socket}: {exc}") from None
    click.echo(json.dumps(reply, indent=2, ensure_ascii=False))
    if not reply.get("ok"):
        sys.exit(1)


if __name__ == "__main__":
    main()
