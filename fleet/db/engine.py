"""One connection API over SQLite and PostgreSQL, so fleet code never asks which one it runs on.

SQL is written once, in the subset both dialects share: ``?`` placeholders (rewritten to
``%s`` for psycopg), ``INSERT ... ON CONFLICT DO NOTHING``, ``RETURNING``, ``SAVEPOINT``.
What differs is handled here, at the boundary, instead of in every query:

- **Values in.** An aware ``datetime`` becomes ``timestamptz`` on PostgreSQL and fixed-width
  ISO-8601 UTC text (``2026-11-22T12:00:00.000000Z``, which sorts chronologically) on SQLite;
  ``uuid.UUID`` becomes text and ``bool`` becomes 0/1 on both, so a column has one type
  everywhere. Refused on both, so that both behave alike: a naive datetime (HQ receives clocks
  from many time zones), a float (money is integers), text holding NUL (PostgreSQL cannot).
- **Values out.** Rows are plain dicts. Every column whose name ends in ``_at`` is a timestamp
  and comes back as an aware UTC ``datetime`` on both dialects; PostgreSQL's ``numeric`` results
  of ``SUM`` over integer money come back as ``int`` (money is never a float or a Decimal here).
- **Transactions.** :meth:`Connection.transaction` takes the write lock up front on SQLite
  (``BEGIN IMMEDIATE``: a transaction never fails half-way for want of it) and is a plain
  read-committed ``BEGIN`` on PostgreSQL, where callers that update shared rows lock them
  (:meth:`Connection.lock_clause`) in a fixed order.

A :class:`Connection` belongs to one thread; each thread or process opens its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import dict_row

from fleet.db.writelock import LockTimeoutError, WriterLock
from protocol import ids

APPLICATION_ID = 0x54464851  # "TFHQ": marks a SQLite file as a fleet database

Row = dict[str, Any]

MAX_PARAMS = 16000
"""Parameters per multi-row statement (SQLite allows 32,766, PostgreSQL 65,535)."""
Params = Sequence[Any] | Mapping[str, Any]


_BUSY_TIMEOUT_S = 30.0
"""SQLite: how long a writer waits for another before giving up (retryably)."""


class DatabaseError(Exception):
    """A database could not be opened, migrated or used; the message says why."""


class SchemaError(DatabaseError):
    """The database's schema is not one this code may use (newer, foreign, or damaged)."""


class Dialect(Enum):
    """Which SQL engine is underneath."""

    SQLITE = "sqlite"
    POSTGRES = "postgresql"


def parse_url(url: str) -> tuple[Dialect, str]:
    """Split a database URL into its dialect and what the driver connects to.

    ``sqlite:///abs/path.db`` (an absolute path) or ``postgresql://user@host:port/dbname``
    (``postgres://`` is accepted too, as libpq does).
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
            raise DatabaseError(f"a SQLite URL is sqlite:///absolute/path.db, got {url!r}")
        return Dialect.SQLITE, parts.path
    if parts.scheme in ("postgresql", "postgres"):
        if not parts.path.strip("/"):
            raise DatabaseError(f"a PostgreSQL URL must name a database, got {_redact(url)!r}")
        return Dialect.POSTGRES, url
    raise DatabaseError(
        f"unsupported database URL {_redact(url)!r}: use sqlite:///path or postgresql://..."
    )


def open_connection(url: str) -> Connection:
    """Open the database at ``url`` as it is (``fleet.db.connect`` also migrates it)."""
    dialect, target = parse_url(url)
    if dialect is Dialect.SQLITE:
        return _open_sqlite(Path(target))
    return _open_postgres(target)


def driver_errors() -> tuple[type[Exception], ...]:
    """Exception types a driver raises for a failed statement or a lost connection."""
    return (sqlite3.Error, psycopg.Error)


class Connection:
    """A connection with dialect-neutral statements, rows as dicts and explicit transactions."""

    def __init__(
        self,
        dialect: Dialect,
        raw: sqlite3.Connection | psycopg.Connection[Row],
        write_lock: WriterLock | None = None,
    ):
        self.dialect = dialect
        self._raw = raw
        self._write_lock = write_lock
        """SQLite: the ``-writer`` sidecar file that writers queue on (see transaction)."""
        self._in_transaction = False
        self._savepoints = 0
        self._column_types: dict[str, dict[str, str]] = {}

    # -- statements ------------------------------------------------------------------------

    def execute(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one statement and return its rows (empty for statements that return none)."""
        return self._run(sql, params, cache=True)

    def _run(
        self,
        sql: str,
        params: Params,
        *,
        cache: bool,
        pg_native: str | None = None,
        adapted: bool = False,
        scalar: bool = False,
    ) -> list[Any]:
        """Rows as dicts, or with ``scalar`` each row's first value as the driver returns it
        (for ids and integers: no dict, no timestamp parsing)."""
        try:
            if isinstance(self._raw, sqlite3.Connection):
                cur = self._raw.execute(sql, params if adapted else _sqlite_params(params))
                if cur.description is None:
                    return []
                if scalar:
                    return [values[0] for values in cur.fetchall()]
                names = [d[0] for d in cur.description]
                return [_sqlite_row(names, values) for values in cur.fetchall()]
            native = pg_native or (_pg_sql(sql) if cache else _pg_sql_uncached(sql))
            pcur = self._raw.execute(native, _pg_params(params))
            if pcur.description is None:
                return []
            if scalar:
                return [next(iter(row.values())) for row in pcur.fetchall()]
            return [_pg_row(row) for row in pcur.fetchall()]
        except driver_errors() as exc:
            raise _wrap(exc, sql) from exc

    def column(self, sql: str, params: Params = ()) -> list[Any]:
        """The first column of every row, as the driver returns it: for ids and integers in
        hot paths (text, integers and bytes come back alike on both dialects; timestamps and
        numerics are not converted here, so do not use it for them)."""
        return self._run(sql, params, cache=True, scalar=True)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for each parameter set (no rows returned)."""
        try:
            if isinstance(self._raw, sqlite3.Connection):
                self._raw.executemany(sql, [_sqlite_params(p) for p in rows])
            else:
                with self._raw.cursor() as cur:
                    cur.executemany(_pg_sql(sql), [_pg_params(p) for p in rows])
        except driver_errors() as exc:
            raise _wrap(exc, sql) from exc

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of the result, or ``None``."""
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or ``None`` when there is no row."""
        row = self.one(sql, params)
        return None if row is None else next(iter(row.values()))

    def insert(
        self, table: str, row: Mapping[str, Any], *, on_conflict_nothing: bool = False
    ) -> bool:
        """Insert ``row`` (column -> value) into ``table``; True if a row was inserted.

        Table and column names come from our own code, never from input.
        """
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        tail = " ON CONFLICT DO NOTHING" if on_conflict_nothing else ""
        first = next(iter(row))
        sql = f"INSERT INTO {table} ({cols}) VALUES ({marks}){tail} RETURNING {first}"
        return bool(self.execute(sql, list(row.values())))

    def insert_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        on_conflict_nothing: bool = False,
        returning: str | None = None,
        scalar: bool = False,
    ) -> list[Any]:
        """Insert many rows, in order, with as few statements as possible.

        SQLite: multi-row ``VALUES``, one statement per :data:`MAX_PARAMS` parameters.
        PostgreSQL: plain rows by ``COPY`` (:meth:`_copy_rows`); with ``on_conflict_nothing``
        or ``returning``, one statement whatever the count, ``INSERT ... SELECT * FROM
        unnest(?::t[], ...)`` with one array per column, so its text never changes (psycopg
        parses it once and the server prepares it) however many rows a batch has. Returns the
        ``RETURNING`` rows (those really inserted, with ``on_conflict_nothing``), in no
        particular order — as dicts, or with ``scalar`` as the bare values of the one
        ``returning`` column. Table and column names come from our own code, never from input.
        """
        if not rows:
            return []
        width = len(columns)
        for row in rows:
            if len(row) != width:
                raise DatabaseError(f"{table}: a row has {len(row)} values for {width} columns")
        tail = " ON CONFLICT DO NOTHING" if on_conflict_nothing else ""
        if returning is not None:
            tail += f" RETURNING {returning}"
        cols = ", ".join(columns)
        if self.dialect is Dialect.POSTGRES and not tail:
            self._copy_rows(table, cols, rows)
            return []
        if self.dialect is Dialect.POSTGRES:
            types = self._types_of(table)
            try:
                arrays = ", ".join(f"%b::{types[c]}[]" for c in columns)
            except KeyError as exc:
                raise DatabaseError(f"{table} has no column {exc}") from None
            # %b: the arrays travel in binary (no per-element quoting); values adapted here.
            native = f"INSERT INTO {table} ({cols}) SELECT * FROM unnest({arrays}){tail}"
            params = [_adapt_column(list(col), _pg_value) for col in zip(*rows, strict=True)]
            return self._run(native, params, cache=False, pg_native=native, scalar=scalar)
        per = max(1, MAX_PARAMS // width)
        head = f"INSERT INTO {table} ({cols}) VALUES "
        one = "(" + ", ".join("?" for _ in columns) + ")"
        out: list[Row] = []
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            adapted = [_adapt_column(list(c), _sqlite_value) for c in zip(*chunk, strict=True)]
            flat = [value for row in zip(*adapted, strict=True) for value in row]
            sql = head + ", ".join(one for _ in chunk) + tail
            out.extend(self._run(sql, flat, cache=False, adapted=True, scalar=scalar))
        return out

    def _copy_rows(self, table: str, cols: str, rows: Sequence[Sequence[Any]]) -> None:
        """PostgreSQL: plain rows (no conflict handling, nothing returned) by ``COPY FROM STDIN``.

        psycopg's C extension formats each row in C, where its array dumper for ``unnest``
        walks every element in Python: a fifth of the projector's CPU per sale. COPY also
        skips the planner and fires the same constraint triggers as INSERT.
        """
        adapted = [_adapt_column(list(col), _pg_value) for col in zip(*rows, strict=True)]
        assert isinstance(self._raw, psycopg.Connection)
        try:
            with (
                self._raw.cursor() as cur,
                cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy,
            ):
                for row in zip(*adapted, strict=True):
                    copy.write_row(row)
        except driver_errors() as exc:
            raise _wrap(exc, f"COPY {table} ({cols})") from exc

    def _types_of(self, table: str) -> dict[str, str]:
        """PostgreSQL: each column's SQL type (cached per connection: the schema is migrated
        before a connection is handed out)."""
        types = self._column_types.get(table)
        if types is None:
            types = {
                str(r["attname"]): str(r["t"])
                for r in self.execute(
                    "SELECT attname, format_type(atttypid, atttypmod) AS t FROM pg_attribute"
                    " WHERE attrelid = ?::regclass AND attnum > 0 AND NOT attisdropped",
                    [table],
                )
            }
            if not types:
                raise DatabaseError(f"no table {table}")
            self._column_types[table] = types
        return types

    def lock_clause(self) -> str:
        """``FOR UPDATE`` where rows must be locked explicitly (SQLite locks the whole file)."""
        return " FOR UPDATE" if self.dialect is Dialect.POSTGRES else ""

    # -- transactions ----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Everything inside commits together or not at all; nesting is a programming error.

        SQLite has one writer at a time, and a writer that finds the database busy polls for it
        with sleeps that grow to 100 ms — an ingest worker waiting behind a projection round
        would sleep long after the round ended. So writers (every write goes through here)
        first queue on an exclusive ``flock`` of a ``-writer`` sidecar file, handed over by the
        kernel the moment it is released, for at most SQLite's own busy timeout
        (``fleet.db.writelock``); SQLite's locking is unchanged beneath.
        """
        if self._in_transaction:
            raise DatabaseError("transactions do not nest; use savepoint() inside one")
        lock = self._write_lock
        if lock is not None:
            if lock.closed:
                raise TransientError("the connection is closed")
            _acquire(lock)
        try:
            yield from self._transaction()
        finally:
            if lock is not None:
                lock.release()

    def _transaction(self) -> Iterator[Connection]:
        self.execute("BEGIN IMMEDIATE" if self.dialect is Dialect.SQLITE else "BEGIN")
        self._in_transaction = True
        try:
            yield self
        except BaseException:
            self._in_transaction = False
            self._rollback_quietly()
            raise
        self._in_transaction = False
        try:
            self.execute("COMMIT")
        except DatabaseError:
            self._rollback_quietly()
            raise

    @contextmanager
    def savepoint(self) -> Iterator[Connection]:
        """A part of the current transaction that can fail alone (rolled back to its start)."""
        if not self._in_transaction:
            raise DatabaseError("a savepoint needs an open transaction")
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        self.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            self.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.execute(f"RELEASE SAVEPOINT {name}")
            raise
        finally:
            self._savepoints -= 1
        self.execute(f"RELEASE SAVEPOINT {name}")

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    def close(self) -> None:
        """Close the connection; an open transaction is rolled back."""
        try:
            self._raw.close()
        except driver_errors():
            pass
        if self._write_lock is not None:
            self._write_lock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rollback_quietly(self) -> None:
        with contextlib.suppress(DatabaseError):  # if the connection is gone, so is the work
            self.execute("ROLLBACK")


def _acquire(lock: WriterLock) -> None:
    try:
        lock.acquire(_BUSY_TIMEOUT_S)
    except LockTimeoutError as exc:
        raise TransientError(
            f"the database has been busy for {_BUSY_TIMEOUT_S:.0f} s: another process holds "
            "its write lock"
        ) from exc


# -- opening ---------------------------------------------------------------------------------


SQLITE_PAGE_SIZE = 16384
"""Page size of a new fleet database. An event row is its raw payload, about 2 KB for a sale:
on SQLite's default 4 KB pages one row fills a page and wastes the rest, and every page is
written twice (WAL, then checkpoint). Measured storing 15,000 sales in batches of 500, the
writer spent 37–45 µs of CPU per event with 4 KB pages and 29–33 µs with 16 KB (64 KB was
faster still, but makes the WAL before a checkpoint 64 MB). A database made before keeps its
pages: changing them takes a ``VACUUM`` outside WAL mode, for the operator to choose."""


def _open_sqlite(path: Path) -> Connection:
    """Open (creating if missing) a tillfleet SQLite database, refusing anyone else's file.

    The file itself is never opened from Python: closing any descriptor of a file drops every
    POSIX lock this process holds on it, SQLite's included, and another connection in the same
    process would then lose its locks silently. The header check is SQLite's own ("file is not
    a database") and the writers' queue is a ``flock`` on a sidecar ``-writer`` file.
    """
    try:
        raw = sqlite3.connect(
            path, isolation_level=None, timeout=_BUSY_TIMEOUT_S, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open {path}: {exc}") from exc
    conn = Connection(Dialect.SQLITE, raw)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
        # Who owns the file, before anything could write to it: SQLite reads the header itself
        # ("not a database"), and in one snapshot — read apart, a new file another of our
        # processes is setting up could look like (no id, some tables) — someone else's.
        try:
            raw.execute("BEGIN")
            try:
                app_id = int(raw.execute("PRAGMA application_id").fetchone()[0])
                tables = int(raw.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
            finally:
                raw.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):
                raise SchemaError(f"{path} is not a SQLite database; refusing to touch it") from exc
            raise _wrap(exc, "PRAGMA application_id") from exc
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables != 0):
            raise SchemaError(
                f"{path} belongs to another program (application_id {app_id:#x}); "
                "refusing to touch it"
            )
        try:
            conn._write_lock = lock = WriterLock(Path(f"{path}-writer"))
        except OSError as exc:
            raise DatabaseError(f"cannot open {path}-writer: {exc}") from exc
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
        _acquire(lock)  # first opens of a new file set it up one at a time
        try:
            if app_id == 0:
                # Only a new file takes it (before its first write, which the WAL switch is).
                conn.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")
            mode = _switch_to_wal(conn)
            if mode != "wal":
                raise DatabaseError(f"{path}: cannot switch to WAL journal mode (got {mode})")
            if app_id == 0:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        finally:
            lock.release()
    except BaseException:
        conn.close()
        raise
    return conn


def _switch_to_wal(conn: Connection) -> Any:
    """Switching a new file to WAL needs it to itself, and SQLite does not wait for that (no
    busy handler): another process merely reading it makes the switch fail at once. Retry."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_S
    pause = 0.0005
    while True:
        try:
            return conn.scalar("PRAGMA journal_mode = WAL")
        except TransientError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def _open_postgres(url: str) -> Connection:
    try:
        raw = psycopg.connect(
            url,
            autocommit=True,
            row_factory=dict_row,
            options="-c TimeZone=UTC",
            connect_timeout=10,
        )
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to PostgreSQL at {_redact(url)}: {exc}") from exc
    return Connection(Dialect.POSTGRES, raw)


# -- value adaptation ------------------------------------------------------------------------

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_timestamp(value: dt.datetime) -> str:
    """The SQLite text form of an aware datetime: fixed-width UTC, so text order is time order."""
    if value.tzinfo is not dt.UTC:
        if value.tzinfo is None or value.utcoffset() is None:
            raise DatabaseError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
        value = _in_utc(value)
    # isoformat pads the year to four digits (strftime's %Y does not on glibc) and is faster
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_timestamp(text: str) -> dt.datetime:
    """Inverse of :func:`format_timestamp`."""
    return dt.datetime.strptime(text, _TS_FORMAT).replace(tzinfo=dt.UTC)


def _common(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float):
        raise DatabaseError("floats are not stored: money and quantities are integers")
    if isinstance(value, str) and "\x00" in value:
        # PostgreSQL text cannot hold NUL; refusing it on SQLite too keeps the dialects alike.
        raise DatabaseError("text containing a NUL character cannot be stored")
    return value


def _sqlite_value(value: Any) -> Any:
    kind = type(value)
    if kind is int or kind is bytes or value is None:  # the common cases first (not bool)
        return value
    if kind is uuid.UUID:
        return ids.text(value)
    if kind is str:
        if "\x00" in value:
            return _common(value)  # refuses it
        return value
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    return _common(value)


def _pg_value(value: Any) -> Any:
    kind = type(value)
    if kind is int or kind is bytes or value is None:  # the common cases first (not bool)
        return value
    if kind is uuid.UUID:
        return ids.text(value)
    if kind is str:
        if "\x00" in value:
            return _common(value)  # refuses it
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is dt.UTC:
            return value
        if value.tzinfo is None or value.utcoffset() is None:
            format_timestamp(value)  # refuses a naive one
        # In UTC: COPY's text form spells the offset, and the server refuses one beyond ±15:59
        # that Python allows (up to ±23:59); the instant is the same.
        return _in_utc(value)
    return _common(value)


def _in_utc(value: dt.datetime) -> dt.datetime:
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:  # within a day of year 1 or 9999, in UTC it is not a datetime
        raise DatabaseError(f"{value.isoformat()} is out of range in UTC") from None


_PLAIN = frozenset({int, bytes, type(None)})
_TEXT = frozenset({str, int, bytes, type(None)})
_STR = frozenset({str})


def _adapt_column(values: list[Any], one: Callable[[Any], Any]) -> list[Any]:
    """``[one(v) for v in values]``, with the common cases cheap: a column that needs no change
    (ints, bytes, NULLs, text without NUL) is returned as it is after one pass over the types
    and one search of its joined text, and a value repeated in consecutive rows — a sale's id
    on each of its lines, its time on each stock row — is converted once."""
    kinds = set(map(type, values))
    if kinds <= _PLAIN:
        return values
    if kinds <= _TEXT:
        texts = values if kinds == _STR else [v for v in values if type(v) is str]
        if "\x00" not in "".join(texts):
            return values
    out: list[Any] = []
    last: Any = _NOTHING
    done: Any = None
    for value in values:
        if value is not last:
            done = one(value)
            last = value
        out.append(done)
    return out


_NOTHING = object()


def _sqlite_params(params: Params) -> Any:
    if isinstance(params, Mapping):
        return {k: _sqlite_value(v) for k, v in params.items()}
    return [_sqlite_value(v) for v in params]


def _pg_params(params: Params) -> Any:
    if isinstance(params, Mapping):
        return {k: _pg_value(v) for k, v in params.items()}
    return [_pg_value(v) for v in params]


@functools.lru_cache(maxsize=1024)
def _pg_sql(sql: str) -> str:
    return _pg_sql_uncached(sql)


def _pg_sql_uncached(sql: str) -> str:
    # Our SQL has no '?' or '%' inside literals, so the rewrite is exact.
    return sql.replace("%", "%%").replace("?", "%s")


def _sqlite_row(names: list[str], values: tuple[Any, ...]) -> Row:
    row: Row = {}
    for name, value in zip(names, values, strict=True):
        is_ts = isinstance(value, str) and name.endswith("_at")
        row[name] = parse_timestamp(value) if is_ts else value
    return row


def _pg_row(row: Row) -> Row:
    for name, value in row.items():
        if isinstance(value, Decimal):
            if value != value.to_integral_value():
                raise DatabaseError(f"column {name} returned a fractional number {value}")
            row[name] = int(value)
        elif isinstance(value, dt.datetime) and value.tzinfo is not None:
            row[name] = value.astimezone(dt.UTC)
    return row


class IntegrityError(DatabaseError):
    """A constraint (unique, foreign key, check, not null) refused a write."""


class TransientError(DatabaseError):
    """A failure that may pass (lost connection, deadlock, busy file): run the transaction again."""


def _wrap(exc: Exception, sql: str) -> DatabaseError:
    text = f"{exc} [in: {' '.join(sql.split())[:200]}]"
    if isinstance(exc, sqlite3.IntegrityError | psycopg.errors.IntegrityError):
        return IntegrityError(text)
    if isinstance(exc, psycopg.OperationalError) or (
        isinstance(exc, psycopg.Error) and getattr(exc, "sqlstate", None) in _PG_TRANSIENT
    ):
        return TransientError(text)
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return TransientError(text)
    return DatabaseError(text)


# serialization_failure, deadlock_detected: the transaction may simply be run again
_PG_TRANSIENT = {"40001", "40P01"}


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
