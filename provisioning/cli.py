"""Command line of `provision`: turn a blank Pi into an enrolled, self-tested till."""

from __future__ import annotations

import click

from protocol import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="provision")
def main() -> None:
    """Technician tools that turn a blank Pi into an enrolled, self-tested till."""


if __name__ == "__main__":
    main()
