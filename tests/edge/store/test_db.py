"""Opening the store: our file only, intact, migrated, durable settings."""

from __future__ import annotations

import functools
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edge.store.db import APPLICATION_ID, StoreError, open_store, schema_version, transaction
from edge.store.migrations import MIGRATIONS
from tests.concurrently import errors_running_together


def test_a_new_store_is_created_migrated_and_durable(tmp_path: Path) -> None:
    conn = open_store(tmp_path / "till.db")
    assert schema_version(conn) == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()
    again = open_store(tmp_path / "till.db")
    assert schema_version(again) == len(MIGRATIONS)


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "till.db"
    path.write_bytes(b"this is a shopping list, not a database\n" * 10)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a SQLite database"):
        open_store(path)
    assert path.read_bytes() == before


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE recipes (name TEXT)")
    other.commit()
    other.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="another program"):
        open_store(path)
    assert path.read_bytes() == before  # not even switched to WAL mode
    assert sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall() == [
        ("recipes",)
    ]


def test_a_connection_keeps_its_locks_when_another_opens_the_store(tmp_path: Path) -> None:
    """Closing any descriptor of a file drops all of this process's POSIX locks on it: were
    open_store to read the header from Python, the till's first connection would lose its
    locks, and a process closing the store (a technician's `till` command) would take itself
    for the last user and delete the WAL, with the committed sales in it."""
    path = tmp_path / "till.db"
    first = open_store(path)
    with transaction(first):
        first.execute("INSERT INTO settings (key, value) VALUES ('kept', '1')")
    open_store(path).close()
    visit = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
    visit += "c.execute('SELECT count(*) FROM settings').fetchone(); c.close()"
    subprocess.run([sys.executable, "-c", visit, str(path)], check=True)
    assert Path(f"{path}-wal").exists(), "the other process took this one for gone"
    with transaction(first):
        first.execute("INSERT INTO settings (key, value) VALUES ('kept2', '2')")
    assert first.execute("SELECT count(*) FROM settings WHERE key LIKE 'kept%'").fetchone() == (2,)
    first.close()


def test_a_store_from_newer_software_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "till.db"
    open_store(path).execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer than this till software"):
        open_store(path)


def test_a_damaged_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "till.db"
    conn = open_store(path)
    with transaction(conn):
        conn.executemany(
            "INSERT INTO settings (key, value) VALUES (?, ?)",
            [(f"k{i}", "x" * 500) for i in range(400)],
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(page * 3, len(data) - page, page * 2):
        data[offset + 100 : offset + 400] = b"\xff" * 300
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError):
        open_store(path)


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    conn = open_store(tmp_path / "till.db")

    def twice() -> None:
        with transaction(conn):
            conn.execute("INSERT INTO settings (key, value) VALUES ('a', '1')")
            conn.execute("INSERT INTO settings (key, value) VALUES ('a', '2')")

    with pytest.raises(sqlite3.IntegrityError):
        twice()
    assert conn.execute("SELECT count(*) FROM settings").fetchone()[0] == 0


def test_strict_tables_refuse_money_as_text_or_real(tmp_path: Path) -> None:
    conn = open_store(tmp_path / "till.db")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO stock (sku, qty) VALUES ('A', 1.5)")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO stock (sku, qty) VALUES ('A', 'ten')")


def test_till_cashier_add_stores_only_a_pin_hash(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from edge.checkout.auth import check_pin
    from edge.cli import main

    toml = tmp_path / "till.toml"
    toml.write_text('[till]\ntenant = "acme"\nstore = "s1"\ndevice = "t1"\ndata_dir = "data"\n')
    runner = CliRunner()
    ok = runner.invoke(
        main,
        [
            "cashier-add",
            "--config",
            str(toml),
            "--id",
            "c9",
            "--name",
            "Ann",
            "--role",
            "manager",
            "--pin",
            "4321",
        ],
    )
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(
        main, ["cashier-add", "--config", str(toml), "--id", "c8", "--name", "Bo", "--pin", "12"]
    )
    assert bad.exit_code == 2
    assert "4 to 12 digits" in bad.output
    conn = open_store(tmp_path / "data" / "till.db")
    rows = conn.execute("SELECT cashier_id, role, pin_hash FROM cashiers").fetchall()
    conn.close()
    assert [(r[0], r[1]) for r in rows] == [("c9", "manager")]
    assert "4321" not in rows[0][2]
    assert check_pin("4321", rows[0][2])


def test_first_opens_of_a_new_store_never_trip_over_each_other(tmp_path: Path) -> None:
    """The station's components open a new store together; switching it to WAL must not fail
    because another of them is reading it at that moment."""
    for round_ in range(20):
        path = tmp_path / f"till-{round_}.db"
        assert errors_running_together(functools.partial(_open_and_close, path), 6) == [], round_


def _open_and_close(path: Path) -> None:
    open_store(path).close()
