"""Command line of `fleet`: the HQ web app, ingest workers and publishing."""

from __future__ import annotations

import click

from protocol import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fleet")
def main() -> None:
    """The fleet manager at HQ: web app, ingest workers and publishing."""


if __name__ == "__main__":
    main()
