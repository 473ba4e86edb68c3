"""Command line of `hil`: hardware-in-the-loop rigs, virtual or real devices, fault injection."""

from __future__ import annotations

import click

from hil.demo import demo_command
from protocol import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hil")
def main() -> None:
    """Hardware-in-the-loop rigs: virtual or real devices, fault injection, scenarios."""


main.add_command(demo_command)


if __name__ == "__main__":
    main()
