"""The fleet DB layer on both dialects: migrations, value adaptation, transactions, versions."""

from __future__ import annotations

import datetime as dt
import fcntl
import functools
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.db import (
    MIGRATIONS,
    Connection,
    DatabaseError,
    Dialect,
    IntegrityError,
    SchemaError,
    connect,
    current_version,
    delete_dead_letters,
    engine,
    migrate,
    next_version,
    open_connection,
    parse_url,
    record_dead_letter,
    schema_version,
)
from fleet.db.engine import TransientError, format_timestamp, parse_timestamp
from protocol.messages import DocScope
from tests.concurrently import errors_running_together

TABLES = {
    "devices", "events", "sales", "sale_lines", "sale_discounts", "sale_taxes", "tenders",
    "refunds", "refund_lines", "refund_taxes", "voids", "loyalty_ledger", "stock_deltas",
    "shifts", "shift_tenders", "shift_movements", "members_enrolled", "feedback", "device_health",
    "documents_applied", "documents_rejected", "dead_letters", "document_versions",
    "schema_migrations",
    # V2: what HQ publishes (catalog, price-book history, members, till settings, rollout)
    "stores", "tax_classes", "items", "item_gtins", "store_prices", "price_book_versions",
    "price_book_entries", "promotions", "members", "member_coupons", "phone_hash_keys",
    "till_settings", "member_cache_entries", "member_cache_marks", "published_documents",
    # V3: events stored and waiting for their projection
    "projection_queue",
}  # fmt: skip


def _tables(conn: Connection) -> set[str]:
    if conn.dialect is Dialect.SQLITE:  # sqlite_sequence: SQLite's own (AUTOINCREMENT, V5)
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        return {r["name"] for r in rows}
    rows = conn.execute("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")
    return {r["name"] for r in rows}


def test_migrations_create_every_table_and_running_them_again_changes_nothing(
    empty_db_url: str,
) -> None:
    with connect(empty_db_url) as conn:
        assert schema_version(conn) == len(MIGRATIONS) == 5
        assert _tables(conn) == TABLES
        if conn.dialect is Dialect.POSTGRES:  # V4: payloads compressed with lz4, not pglz
            method = conn.scalar(
                "SELECT attcompression AS m FROM pg_attribute"
                " WHERE attrelid = 'events'::regclass AND attname = 'payload'"
            )
            assert method == "l"
    with connect(empty_db_url) as again:
        assert schema_version(again) == len(MIGRATIONS)
        assert again.scalar("SELECT count(*) AS n FROM schema_migrations") == len(MIGRATIONS)


NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


def _letters(conn: Connection) -> list[dict[str, object]]:
    return conn.execute("SELECT * FROM dead_letters ORDER BY dead_letter_id")


def _add_letter(conn: Connection, n: int) -> int:
    with conn.transaction():
        record_dead_letter(
            conn, received_at=NOW, topic=f"t/{n}", reason="r", error_path=None, payload=b"\x00"
        )
    return int(conn.scalar("SELECT max(dead_letter_id) AS i FROM dead_letters"))


def test_a_dead_letters_id_is_never_handed_out_again(fleet_db: Connection) -> None:
    """Ids are how an operator names letters between ``list`` and ``replay``; SQLite reused
    the highest one once its row was deleted, until V5."""
    ids = [_add_letter(fleet_db, n) for n in range(3)]
    with fleet_db.transaction():
        delete_dead_letters(fleet_db, [ids[-1]])
    assert _add_letter(fleet_db, 3) > ids[-1]


def test_version_5_keeps_every_dead_letter_under_its_id(empty_db_url: str) -> None:
    with open_connection(empty_db_url) as conn:
        assert migrate(conn, 4) == 4
        ids = [_add_letter(conn, n) for n in range(4)]
        with conn.transaction():
            delete_dead_letters(conn, [ids[1]])
        before = _letters(conn)
        assert migrate(conn) == len(MIGRATIONS)
        assert _letters(conn) == before
        newest = _add_letter(conn, 9)
        with conn.transaction():
            delete_dead_letters(conn, [newest])
        assert _add_letter(conn, 10) > newest
        with pytest.raises(SchemaError, match="no schema version 6"):
            migrate(conn, len(MIGRATIONS) + 1)


def test_a_database_newer_than_the_code_is_refused(empty_db_url: str) -> None:
    with connect(empty_db_url) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
            [len(MIGRATIONS) + 1, dt.datetime.now(dt.UTC)],
        )
    with pytest.raises(SchemaError, match="newer than this software"):
        connect(empty_db_url)


def test_concurrent_first_starts_migrate_once(empty_db_url: str) -> None:
    assert errors_running_together(lambda: connect(empty_db_url).close(), 3) == []
    with connect(empty_db_url) as conn:
        assert conn.scalar("SELECT count(*) AS n FROM schema_migrations") == len(MIGRATIONS)


def test_first_opens_of_a_new_sqlite_file_never_trip_over_each_other(tmp_path: Path) -> None:
    """Switching a new file to WAL fails at once (no busy wait) if another connection so much
    as reads it; six processes' worth of first opens, twenty times, must all succeed."""
    for round_ in range(20):
        url = f"sqlite://{tmp_path / f'fleet-{round_}.db'}"
        assert errors_running_together(functools.partial(_open_and_close, url), 6) == [], round_


def test_values_round_trip_identically_on_both_dialects(fleet_db: Connection) -> None:
    at = dt.datetime(2026, 11, 22, 13, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with fleet_db.transaction():
        fleet_db.execute(
            "INSERT INTO dead_letters (received_at, topic, reason, error_path, payload)"
            " VALUES (?, ?, ?, ?, ?)",
            [at, "tf/v1/x", "why", None, b"\x00\xff raw"],
        )
    row = fleet_db.one("SELECT received_at, error_path, payload FROM dead_letters")
    assert row == {"received_at": at, "error_path": None, "payload": b"\x00\xff raw"}
    assert row["received_at"].tzinfo == dt.UTC
    total = fleet_db.scalar(
        "SELECT SUM(x) AS s FROM (SELECT 10000000000000 AS x UNION ALL SELECT 1 AS x) t"
    )
    assert total == 10_000_000_000_001
    assert type(total) is int


_ANY_TEXT = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=30
)
_ZONES = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone.min, dt.timezone.max]
)
_TIMES = st.datetimes(dt.datetime(1970, 1, 1), dt.datetime(2200, 1, 1), timezones=_ZONES)
_ROW = st.tuples(
    st.integers(-(2**63), 2**63 - 1),
    _ANY_TEXT | st.sampled_from(["\\N", "a\tb\nc\\d\re", "\\x00", ""]),
    st.none() | _ANY_TEXT,
    st.binary(max_size=30),
    _TIMES,
    st.booleans(),
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_ROW, max_size=25))
def test_many_rows_store_exactly_what_one_row_at_a_time_stores(
    fleet_db: Connection, rows: list[tuple[int, str, str | None, bytes, dt.datetime, bool]]
) -> None:
    """``insert_rows`` (on PostgreSQL a COPY, whose text format escapes tabs, newlines and
    backslashes, and spells NULL ``\\N``) against one ``INSERT`` per row."""
    pg = fleet_db.dialect is Dialect.POSTGRES
    blob, stamp = ("BYTEA", "TIMESTAMPTZ") if pg else ("BLOB", "TEXT")
    columns = ("n", "word", "maybe", "raw", "seen_at", "flag")
    for table in ("many_rows", "one_row"):
        fleet_db.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {table} (pos INTEGER, n BIGINT, word TEXT,"
            f" maybe TEXT, raw {blob}, seen_at {stamp}, flag INTEGER)"
        )
    with fleet_db.transaction():
        for table in ("many_rows", "one_row"):
            fleet_db.execute(f"DELETE FROM {table}")
        fleet_db.insert_rows("many_rows", ("pos", *columns), [(i, *r) for i, r in enumerate(rows)])
        for i, row in enumerate(rows):
            fleet_db.execute(
                f"INSERT INTO one_row (pos, {', '.join(columns)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [i, *row],
            )
    many, one = (
        fleet_db.execute(f"SELECT {', '.join(columns)} FROM {t} ORDER BY pos")
        for t in ("many_rows", "one_row")
    )
    assert many == one
    assert [tuple(r.values()) for r in many] == [(*r[:5], int(r[5])) for r in rows]


@given(
    picks=st.lists(st.integers(0, 5), max_size=40),
    pool=st.lists(
        st.none() | st.integers() | _ANY_TEXT | st.binary(max_size=5) | st.uuids() | _TIMES
        | st.booleans(),
        min_size=6, max_size=6,
    ),
)  # fmt: skip
def test_column_adaptation_is_exactly_one_conversion_per_value(
    picks: list[int], pool: list[object]
) -> None:
    """Runs of one object (a sale's id on each line) are converted once; the result is as if
    each value had been converted on its own."""
    values = [pool[i] for i in picks]
    for one in (engine._sqlite_value, engine._pg_value):
        assert engine._adapt_column(list(values), one) == [one(v) for v in values]


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+05:30", "9999-12-31T23:30:00-01:00"], ids=["min", "max"]
)
def test_a_time_with_no_instant_in_utc_is_a_database_error(
    fleet_db: Connection, value: str
) -> None:
    """Not an OverflowError, which the ingest's retry loop would not expect (the protocol
    refuses such an ``occurred_at`` before it gets here)."""
    with pytest.raises(DatabaseError, match="out of range in UTC"):
        fleet_db.execute("SELECT ? AS x", [dt.datetime.fromisoformat(value)])


def test_naive_datetimes_and_floats_are_refused(fleet_db: Connection) -> None:
    with pytest.raises(DatabaseError, match="naive"):
        fleet_db.execute("SELECT ? AS x", [dt.datetime(2026, 1, 1)])
    with pytest.raises(DatabaseError, match="floats"):
        fleet_db.execute("SELECT ? AS x", [12.5])


def test_a_failed_transaction_leaves_nothing_and_a_savepoint_fails_alone(
    fleet_db: Connection,
) -> None:
    now = dt.datetime.now(dt.UTC)
    scope = DocScope(tenant="acme", store=None, device=None)

    def bump_then_fail() -> None:
        with fleet_db.transaction():
            next_version(fleet_db, "price_book", scope, now=now)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        bump_then_fail()
    assert current_version(fleet_db, "price_book", scope) is None

    def clash() -> None:
        with fleet_db.savepoint():
            next_version(fleet_db, "ack", scope, now=now)
            fleet_db.execute(
                "INSERT INTO document_versions (kind, scope, version, updated_at)"
                " VALUES (?, ?, ?, ?)",
                ["price_book", "acme", 5, now],
            )

    with fleet_db.transaction():
        next_version(fleet_db, "price_book", scope, now=now)
        with pytest.raises(IntegrityError):
            clash()
    assert current_version(fleet_db, "price_book", scope) == 1
    assert current_version(fleet_db, "ack", scope) is None


def test_document_versions_only_grow_per_kind_and_scope(fleet_db: Connection) -> None:
    now = dt.datetime.now(dt.UTC)
    dev = DocScope(tenant="acme", store="s-001", device="till-1")
    store = DocScope(tenant="acme", store="s-001", device=None)
    with fleet_db.transaction():
        got = [next_version(fleet_db, "command", dev, now=now) for _ in range(3)]
        other = next_version(fleet_db, "command", store, now=now)
        jumped = next_version(fleet_db, "command", dev, now=now, at_least=100)
        after = next_version(fleet_db, "command", dev, now=now, at_least=5)
    assert got == [1, 2, 3]
    assert other == 1
    assert (jumped, after) == (100, 101)


def test_foreign_sqlite_files_are_refused_and_left_alone(tmp_path: Path) -> None:
    notes = tmp_path / "notes.db"
    notes.write_bytes(b"not a database at all\n" * 10)
    with pytest.raises(SchemaError, match="not a SQLite database"):
        connect(f"sqlite://{notes}")
    assert notes.read_bytes() == b"not a database at all\n" * 10

    other = tmp_path / "other.db"
    import sqlite3

    raw = sqlite3.connect(other)
    raw.execute("CREATE TABLE recipes (name TEXT)")
    raw.commit()
    raw.close()
    before = other.read_bytes()
    with pytest.raises(SchemaError, match="another program"):
        connect(f"sqlite://{other}")
    assert other.read_bytes() == before  # not even switched to WAL mode
    assert not Path(f"{other}-wal").exists()
    assert not Path(f"{other}-writer").exists()


def test_a_new_sqlite_file_gets_large_pages_and_an_older_one_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = tmp_path / "new.db"
    with connect(f"sqlite://{new}") as db:
        assert db.scalar("PRAGMA page_size") == engine.SQLITE_PAGE_SIZE == 16384
        assert db.scalar("PRAGMA journal_mode") == "wal"

    def letter(db: Connection, payload: bytes) -> None:
        now = dt.datetime.now(dt.UTC)
        record_dead_letter(
            db, received_at=now, topic="t", reason="why", error_path=None, payload=payload
        )

    old = tmp_path / "old.db"
    monkeypatch.setattr(engine, "SQLITE_PAGE_SIZE", 4096)  # as files were made before
    with connect(f"sqlite://{old}") as db:
        letter(db, b"kept")
    monkeypatch.undo()
    with connect(f"sqlite://{old}") as db:
        assert db.scalar("PRAGMA page_size") == 4096
        assert db.column("SELECT payload FROM dead_letters") == [b"kept"]
        letter(db, b"more")
        assert db.scalar("SELECT count(*) FROM dead_letters") == 2


def test_a_connection_keeps_its_locks_when_another_opens_the_same_file(tmp_path: Path) -> None:
    """Closing any descriptor of a file drops all of this process's POSIX locks on it. Were a
    second open to read the file from Python, the first connection would lose its locks, and
    another process closing the database would think itself the last user and delete the WAL
    (and the committed rows in it) from under the first."""
    db = tmp_path / "fleet.db"
    with connect(f"sqlite://{db}") as first:
        with first.transaction():
            first.execute("CREATE TABLE kept (x INTEGER)")
            first.execute("INSERT INTO kept VALUES (1)")
        connect(f"sqlite://{db}").close()
        visit = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT 1'); "
        visit += "c.execute('SELECT count(*) FROM kept').fetchone(); c.close()"
        subprocess.run([sys.executable, "-c", visit, str(db)], check=True)
        assert Path(f"{db}-wal").exists(), "the other process took this one for gone"
        with first.transaction():
            first.execute("INSERT INTO kept VALUES (2)")
        assert first.column("SELECT x FROM kept ORDER BY x") == [1, 2]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://relative.db", "absolute"),
        ("sqlite:///", "absolute"),
        ("mysql://u@h/db", "unsupported"),
        ("postgresql://u:secret@h:5432/", "must name a database"),
    ],
)
def test_bad_urls_say_what_is_wrong_without_leaking_passwords(url: str, message: str) -> None:
    with pytest.raises(DatabaseError, match=message) as err:
        parse_url(url)
    assert "secret" not in str(err.value)


def test_urls_pick_the_dialect() -> None:
    assert parse_url("sqlite:///var/lib/fleet.db") == (Dialect.SQLITE, "/var/lib/fleet.db")
    assert parse_url("postgresql://fleet@127.0.0.1:5432/fleet")[0] is Dialect.POSTGRES


@pytest.mark.postgres
def test_an_unreachable_postgres_is_a_clear_error() -> None:
    port = 1  # nothing listens on a privileged port below 1024 on loopback here
    with pytest.raises(DatabaseError, match="cannot connect to PostgreSQL"):
        connect(f"postgresql://postgres@127.0.0.1:{port}/x{uuid.uuid4().hex[:6]}")


@given(
    st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-5, minutes=-30))]),
    )
)
def test_timestamps_take_one_fixed_width_form_whichever_route_formats_them(
    value: dt.datetime,
) -> None:
    """Fixed width whatever the year or zone, or text order is not time order."""
    text = format_timestamp(value)
    u = value.astimezone(dt.UTC)
    assert text == (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f".{u.microsecond:06d}Z"
    )
    assert len(text) == len("2026-12-03T06:09:41.000000Z")
    assert parse_timestamp(text) == value


def test_a_closed_connection_fails_retryably_not_with_an_os_error(tmp_path: Path) -> None:
    """The ingest retries a batch on DatabaseError; anything else would end the worker."""
    conn = connect(f"sqlite://{tmp_path / 'fleet.db'}")
    conn.close()
    with pytest.raises(TransientError, match="closed"), conn.transaction():
        pass


def test_a_writer_stuck_elsewhere_costs_a_retryable_error_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "fleet.db"
    monkeypatch.setattr(engine, "_BUSY_TIMEOUT_S", 0.2)
    with connect(f"sqlite://{db}") as conn, Path(f"{db}-writer").open("ab") as other:
        fcntl.flock(other, fcntl.LOCK_EX)  # a writer that never lets go (a stopped process)
        with pytest.raises(TransientError, match="busy"), conn.transaction():
            pass
        fcntl.flock(other, fcntl.LOCK_UN)
        with conn.transaction():  # and once it has, writing goes on
            conn.execute("CREATE TABLE t (x INTEGER)")


def _open_and_close(url: str) -> None:
    connect(url).close()
