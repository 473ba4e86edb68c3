"""Fixtures for the fleet tests: a real fleet database on SQLite and on PostgreSQL, HQ keys.

PostgreSQL is the server at 127.0.0.1:5432 (user ``postgres``, trust auth). Each test gets its own
database, created with a unique name and dropped afterwards; an unreachable server fails the test
with what is needed, it is never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from fleet.db import Connection, connect
from fleet.keys import Signer, generate_key

PG_ADMIN_URL = os.environ.get(
    "TILLFLEET_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; yields its URL and drops it afterwards."""
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is needed for the fleet database tests at {PG_ADMIN_URL} (user postgres, "
            f"trust auth on 127.0.0.1): apt-get install postgresql and start it. ({exc})"
        )
    name = f"tf_test_{uuid.uuid4().hex[:20]}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


# Children before parents, so plain DELETEs empty the database (TRUNCATE is far slower here).
_TABLES_CHILD_FIRST = (
    "sale_discounts", "sale_lines", "sale_taxes", "tenders", "sales", "refund_lines",
    "refund_taxes", "refunds", "voids", "loyalty_ledger", "stock_deltas", "shift_tenders",
    "shift_movements", "shifts", "members_enrolled", "feedback", "device_health",
    "documents_applied", "documents_rejected", "projection_queue", "events", "devices",
    "dead_letters", "document_versions",
    "member_cache_entries", "member_cache_marks", "member_coupons", "members", "phone_hash_keys",
    "price_book_entries", "price_book_versions", "store_prices", "item_gtins", "items",
    "tax_classes", "promotions", "till_settings", "published_documents", "stores",
)  # fmt: skip


def empty_database(conn: Connection) -> None:
    """Delete every row of a migrated fleet database, in one transaction."""
    with conn.transaction():
        for table in _TABLES_CHILD_FIRST:
            conn.execute(f"DELETE FROM {table}")


@pytest.fixture(scope="session")
def _pg_session_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the session (creating one per test is slow)."""
    with postgres_database() as url:
        connect(url).close()
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a brand-new, empty database (not even migrated), once on each dialect."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'fleet.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fleet_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a migrated fleet database with no rows, once on each dialect."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'fleet.db'}"
    url: str = request.getfixturevalue("_pg_session_url")
    with connect(url) as conn:
        empty_database(conn)
    return url


@pytest.fixture
def fleet_db(fleet_db_url: str) -> Iterator[Connection]:
    """A connection to an empty, migrated fleet database, once on each dialect."""
    conn = connect(fleet_db_url)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """An empty PostgreSQL database (for tests that only make sense at scale)."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    """A key directory holding HQ's active key ``hq-1``."""
    path = tmp_path / "keys"
    generate_key(path, "hq-1")
    return path


@pytest.fixture
def signer(key_dir: Path) -> Signer:
    return Signer.from_dir(key_dir, "hq-1")
