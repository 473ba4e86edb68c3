"""``fleet dead-letters ...``: look at what ingest refused, and replay it after a fix.

Registered on ``fleet.cli.main``. Both commands only need the database: they run beside live
ingest workers (a replay takes the same device locks and writer lock a batch does).
"""

from __future__ import annotations

from pathlib import Path

import click

from fleet.clikit import config_option, load_config
from fleet.db import DatabaseError, connect
from fleet.ingest.replay import list_letters, replay


@click.group("dead-letters")
def dead_letters() -> None:
    """Messages ingest refused, kept with their reason and raw bytes."""


@dead_letters.command("list")
@config_option()
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--after", "after_id", type=click.IntRange(0), default=0, help="Ids above this.")
def list_command(config_path: Path, limit: int, after_id: int) -> None:
    """One line per dead letter: id, when, topic, bytes, reason (and where in the message)."""
    cfg = load_config(config_path)
    try:
        with connect(cfg.db_url) as conn:
            letters = list_letters(conn, limit=limit, after_id=after_id)
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    for d in letters:
        where = f" at {d.error_path}" if d.error_path else ""
        click.echo(
            f"{d.dead_letter_id}\t{d.received_at.isoformat()}\t{d.topic}\t{d.size} B"
            f"\t{d.reason}{where}"
        )
    if not letters:
        click.echo("no dead letters", err=True)


@dead_letters.command("replay")
@config_option()
@click.argument("ids", nargs=-1, type=click.IntRange(1))
@click.option("--all", "everything", is_flag=True, help="Every dead letter there is now.")
def replay_command(config_path: Path, ids: tuple[int, ...], everything: bool) -> None:
    """Check dead letters IDS (or --all) again with this version; store those that pass."""
    if bool(ids) == everything:
        raise click.UsageError("give dead letter ids, or --all")
    cfg = load_config(config_path)
    try:
        with connect(cfg.db_url) as conn:
            result = replay(conn, cfg.tenant, None if everything else list(ids))
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"stored {result.stored}, already stored {result.already_stored},"
        f" still refused {result.still_invalid}, status skipped {result.skipped_status}"
        + (f", not found {result.not_found}" if result.not_found else "")
    )
    if result.stored:
        click.echo(
            f"projected {result.projected}"
            + (
                f", projection failed {result.projection_failed}"
                if result.projection_failed
                else ""
            )
        )
    if result.projection_deferred is not None:
        click.echo(f"projection left to the ingest workers: {result.projection_deferred}", err=True)
    for reason, n in result.reasons.most_common():
        click.echo(f"  {n} × {reason}")
