"""Command line of `fleet`: the HQ web app, ingest workers, dead letters and publishing."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import click

from fleet import broker
from fleet.clikit import config_option, load_config
from fleet.db import DatabaseError
from fleet.ingest import IngestWorker, gcpolicy, setup_logging
from fleet.ingest.cli import dead_letters
from fleet.ingest.worker import ReceiverLostError
from fleet.keys import KeyStoreError, Signer, generate_key
from fleet.publish.cli import catalog, publish
from protocol import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fleet")
def main() -> None:
    """The fleet manager at HQ: web app, ingest workers and publishing."""


@main.command()
@config_option()
@click.option("--client-id", help="MQTT client id (overrides [ingest] client_id).")
@click.option("--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING...")
def ingest(config_path: Path, client_id: str | None, log_level: str) -> None:
    """Ingest uplink events from the broker into the fleet database until SIGTERM/SIGINT."""
    setup_logging(log_level)
    cfg = load_config(config_path)
    try:
        signer = Signer.from_dir(cfg.keys.dir, cfg.keys.active)
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from None
    worker = IngestWorker(cfg, signer, client_id=client_id)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    gcpolicy.tune()
    try:
        worker.run()
    except (DatabaseError, ReceiverLostError) as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.argument("key_id")
@click.option(
    "--key-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where HQ's keys live (default: [keys] dir of --config).",
)
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False))
def keygen(key_id: str, key_dir: Path | None, config_path: Path | None) -> None:
    """Make a new HQ signing key KEY_ID and print its public half (for trusted_keys)."""
    if key_dir is None:
        if config_path is None:
            raise click.UsageError("give --key-dir or --config")
        key_dir = load_config(config_path).keys.dir
    try:
        path = generate_key(key_dir, key_id)
        signer = Signer.from_dir(key_dir, key_id)
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{key_id} {signer.public_key_text}")
    click.echo(f"private key written to {path}", err=True)


for _command in broker.COMMANDS:  # broker-config, register-device, broker-password
    main.add_command(_command)
main.add_command(publish)  # price-book, promotions, members, config, status
main.add_command(catalog)  # load, hash-key
main.add_command(dead_letters)  # list, replay


if __name__ == "__main__":
    main()
