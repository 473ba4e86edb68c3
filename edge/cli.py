"""Command line of `till`: the checkout loop, local store, sync client and cashier tools."""

from __future__ import annotations

import click

from protocol import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="till")
def main() -> None:
    """The till appliance: checkout loop, local store, sync client and cashier tools."""


if __name__ == "__main__":
    main()
