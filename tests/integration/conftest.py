"""The fleet's database and key fixtures, for tests that run a till against the real HQ."""

from tests.fleet.conftest import _pg_session_url, fleet_db_url, key_dir, signer

__all__ = ["_pg_session_url", "fleet_db_url", "key_dir", "signer"]
