"""What the ``fleet`` commands share: the ``--config`` option and loading the file it names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from fleet import config as fleet_config

F = TypeVar("F", bound=Callable[..., object])


def config_option(help_text: str = "The fleet TOML file.") -> Callable[[F], F]:
    """``--config PATH`` (required), passed to the command as ``config_path``."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        required=True,
        help=help_text,
    )


def load_config(path: Path) -> fleet_config.FleetConfig:
    """The fleet config, or a clear one-line error for the person at the terminal."""
    try:
        return fleet_config.load(path)
    except fleet_config.ConfigError as exc:
        raise click.ClickException(str(exc)) from None
