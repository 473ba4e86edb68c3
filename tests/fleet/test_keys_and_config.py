"""HQ's signing keys on disk, and the fleet TOML config."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleet.cli import main
from fleet.config import ConfigError, load
from fleet.keys import KeyStoreError, Signer, generate_key, load_key, public_keys
from protocol.ids import uuid7
from protocol.messages import DocScope, make_document
from protocol.messages.downlink import Ack
from protocol.signing import DeviceIdentity, Keyring, verify_document
from tests.factories import NOW

TILL = DeviceIdentity(tenant="acme", store="s-001", device="till-1")


def _ack(up_to: int) -> object:
    return make_document(
        Ack(up_to_seq=up_to),
        doc_id=uuid7(1_763_812_800_000, b"\x01" * 10),
        scope=DocScope(tenant="acme", store="s-001", device="till-1"),
        version=up_to,
        issued_at=NOW,
        expires_at=NOW + dt.timedelta(hours=12),
    )


def test_a_generated_key_is_private_and_signs_what_a_till_verifies(tmp_path: Path) -> None:
    path = generate_key(tmp_path / "keys", "hq-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    signer = Signer.from_dir(tmp_path / "keys", "hq-1")
    signed = signer.sign(_ack(5))  # type: ignore[arg-type]
    keyring = Keyring.from_text([("hq-1", signer.public_key_text)])
    doc = verify_document(
        signed, keyring=keyring, identity=TILL, now=NOW, running_version=lambda _k, _s: None
    )
    assert doc.body == Ack(up_to_seq=5)


def test_rotation_keeps_old_keys_and_signs_with_the_configured_one(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    generate_key(keys, "hq-1")
    generate_key(keys, "hq-2")
    trusted = public_keys(keys)
    assert sorted(trusted) == ["hq-1", "hq-2"]
    signed = Signer.from_dir(keys, "hq-2").sign(_ack(9))  # type: ignore[arg-type]
    assert b'"key_id":"hq-2"' in signed
    verify_document(
        signed, keyring=Keyring(trusted), identity=TILL, now=NOW,
        running_version=lambda _k, _s: None,
    )  # fmt: skip


def test_keys_are_never_overwritten_nor_read_when_others_can(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    path = generate_key(keys, "hq-1")
    before = path.read_bytes()
    with pytest.raises(KeyStoreError, match="never overwritten"):
        generate_key(keys, "hq-1")
    assert path.read_bytes() == before
    path.chmod(0o644)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        load_key(keys, "hq-1")
    with pytest.raises(KeyStoreError, match="no key 'hq-9'"):
        load_key(keys, "hq-9")
    with pytest.raises(KeyStoreError, match="key id must match"):
        generate_key(keys, "../escape")


def test_keygen_prints_the_public_key(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["keygen", "hq-7", "--key-dir", str(tmp_path / "k")])
    assert result.exit_code == 0, result.output
    key_id, public = result.stdout.split()
    assert key_id == "hq-7"
    assert public == Signer.from_dir(tmp_path / "k", "hq-7").public_key_text


GOOD = """
[fleet]
tenant = "acme"
db_url = "sqlite:///var/lib/fleet.db"

[broker]
host = "mqtt.local"
port = 8883
username = "ingest"
password = "pw"
ca_file = "ca.pem"

[keys]
dir = "keys"
active = "hq-1"

[ingest]
client_id = "ingest-2"
batch_max = 50
writers = 3
reorder_timeout_s = 2.5
projection_batch = 40
projection_max_delay_s = 2
"""


def test_a_good_config_loads_with_defaults_and_relative_paths(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(GOOD)
    cfg = load(path)
    assert cfg.tenant == "acme"
    assert cfg.keys.dir == tmp_path / "keys"
    assert cfg.broker.tls
    assert cfg.broker.ca_file == tmp_path / "ca.pem"
    assert (cfg.ingest.client_id, cfg.ingest.batch_max, cfg.ingest.reorder_timeout_s) == (
        "ingest-2", 50, 2.5,
    )  # fmt: skip
    assert cfg.ingest.share_group == "ingest"
    assert cfg.ingest.batch_wait_ms == 50
    assert cfg.ingest.writers == 3
    assert (cfg.ingest.projection_batch, cfg.ingest.projection_max_delay_s) == (40, 2)


@pytest.mark.parametrize(
    ("db_url", "writers", "expected"),
    [
        ("sqlite:///var/lib/fleet.db", "", 1),
        ("postgresql://fleet@127.0.0.1/fleet", "", 2),
        ("postgresql://fleet@127.0.0.1/fleet", "writers = 0", 2),
        ("sqlite:///var/lib/fleet.db", "writers = 2", 2),
        ("postgresql://fleet@127.0.0.1/fleet", "writers = 1", 1),
    ],
)
def test_a_worker_stores_two_batches_at_once_on_postgresql_and_one_on_sqlite_unless_told(
    tmp_path: Path, db_url: str, writers: str, expected: int
) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(
        GOOD.replace("sqlite:///var/lib/fleet.db", db_url).replace("writers = 3", writers)
    )
    assert load(path).writers == expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[ingest]", "[ingest]\nbatch_size = 5"), r"unknown \[ingest\] keys: batch_size"),
        (("batch_max = 50", 'batch_max = "50"'), r"\[ingest\] batch_max must be an integer"),
        (("batch_max = 50", "batch_max = 0"), "batch_max must be an integer in 1..10000"),
        (("port = 8883", "port = true"), "port must be an integer"),
        (('tenant = "acme"', 'tenant = "a/b"'), r"\[fleet\] tenant must be"),
        (('tenant = "acme"\n', ""), r"\[fleet\] needs tenant"),
        (("sqlite:///var/lib/fleet.db", "mysql://x/y"), "db_url: unsupported"),
        (("reorder_timeout_s = 2.5", "reorder_timeout_s = -1"), "reorder_timeout_s must be"),
        (('username = "ingest"\n', ""), "password needs a username"),
        (("[keys]", "[key]"), "unknown tables key"),
        (("batch_max = 50", "batch_max = 5000"), "cannot exceed max_inflight"),
        (("writers = 3", "writers = 9"), "writers must be an integer in 0..8"),
        (("[fleet]", "[fleet"), "not valid TOML"),
        (
            ("projection_max_delay_s = 2", "projection_max_delay_s = -1"),
            "projection_max_delay_s must be an integer in 0..3600",
        ),
    ],
)
def test_bad_configs_say_where_and_what(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(ConfigError, match=message) as err:
        load(path)
    assert str(path) in str(err.value)


def test_a_missing_config_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "nope.toml")
