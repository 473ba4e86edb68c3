"""The broker's access list and passwords, generated from the fleet DB, on a real Mosquitto.

Negative results are proven, not waited out: after the forbidden publish or delivery, an allowed
sentinel is sent on the same path; when the sentinel arrives, anything the broker had accepted
before it would have arrived first, so its absence is a fact, not a timeout.
"""

from __future__ import annotations

import base64
import datetime as dt
import grp
import os
import queue
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec
import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.checkout import commands as cmd
from edge.store import outbox
from edge.store.db import open_store
from edge.sync.client import SyncClient
from edge.sync.settings import SyncSettings
from fleet import broker as fb
from fleet.cli import main
from fleet.config import BrokerConfig, FleetConfig, IngestConfig, KeysConfig
from fleet.db import Connection, DeviceKey, connect
from fleet.ingest import IngestWorker
from fleet.keys import Signer
from fleet.publish import MqttPublisher, PublishError
from hil.services.mosquitto import BrokerError, Mosquitto
from protocol import topics
from protocol.messages import DocScope, make_document
from protocol.messages.downlink import PriceBook, TaxClass
from protocol.messages.promotions import PromotionSet
from tests import mqttclients
from tests.edge.tillkit import CATALOG, PROMOTIONS, ok, open_till, ready
from tests.fleet import samples

WAIT = 30.0
NOT_AUTHORIZED = 0x87
ACCEPTED = (0x00, 0x10)
"""PUBACK reason codes of an accepted message: success, and "no matching subscribers"."""
TENANT = "acme"
TILL_1 = DeviceKey(TENANT, "s-001", "till-1")
TILL_2 = DeviceKey(TENANT, "s-001", "till-2")
TILL_9 = DeviceKey(TENANT, "s-002", "till-9")
DEVICES = (TILL_1, TILL_2, TILL_9)
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


# -- helpers shared with test_status.py -------------------------------------------------------


class Peer:
    """One MQTT 5 client with broker credentials; keeps deliveries and PUBACK reason codes."""

    def __init__(
        self,
        broker: Mosquitto,
        user: str | None,
        password: str | None,
        *,
        client_id: str,
        subscribe: Sequence[str] = (),
        tls: tuple[Path, Path, Path] | None = None,
    ) -> None:
        """``tls``: CA file, client certificate and key, to connect with a certificate."""
        self.messages: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        self._cond = threading.Condition()
        self._pubacks: dict[int, ReasonCode] = {}
        self._connack: ReasonCode | None = None
        self._subscribed = threading.Event()
        self._filters = list(subscribe)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        if tls is not None:
            ca, cert, key = tls
            self.client.tls_set(ca_certs=str(ca), certfile=str(cert), keyfile=str(key))
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = lambda _c, _u, m: self.messages.put(
            (m.topic, bytes(m.payload), bool(m.retain))
        )
        self.client.on_publish = self._on_publish
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: Properties | None
    ) -> None:
        with self._cond:
            if self._connack is None:
                self._connack = rc
            self._cond.notify_all()
        if not rc.is_failure and self._filters:
            client.subscribe([(f, 1) for f in self._filters])

    def _on_publish(
        self, _c: mqtt.Client, _u: object, mid: int, rc: ReasonCode, _p: Properties | None
    ) -> None:
        with self._cond:
            self._pubacks[mid] = rc
            self._cond.notify_all()

    def connack(self) -> ReasonCode:
        with self._cond:
            assert self._cond.wait_for(lambda: self._connack is not None, WAIT), "no CONNACK"
            assert self._connack is not None
            return self._connack

    def ready(self) -> Peer:
        rc = self.connack()
        assert not rc.is_failure, f"connection refused: {rc}"
        if self._filters:
            assert self._subscribed.wait(WAIT), "no SUBACK"
        return self

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """Publish with QoS 1 and return the PUBACK's reason code (see ``ACCEPTED``)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        with self._cond:
            assert self._cond.wait_for(lambda: info.mid in self._pubacks, WAIT), "no PUBACK"
            return int(self._pubacks.pop(info.mid).value)

    def until(self, sentinel: str, timeout: float = WAIT) -> list[tuple[str, bytes, bool]]:
        """Everything delivered before the first message on topic ``sentinel``."""
        before: list[tuple[str, bytes, bool]] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no message on {sentinel}; got {[m[0] for m in before]}"
            try:
                message = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if message[0] == sentinel:
                return before
            before.append(message)

    def close(self) -> None:
        mqttclients.stop(self.client)


@dataclass
class AclBroker:
    """A running Mosquitto that enforces the files ``fleet broker-config`` writes."""

    broker: Mosquitto
    files: fb.BrokerFiles
    secret: bytes
    peers: list[Peer]

    def password(self, user: str) -> str:
        return fb.derive_password(self.secret, user)

    def peer(
        self,
        user: str | None,
        *,
        client_id: str | None = None,
        subscribe: Sequence[str] = (),
        password: str | None = None,
    ) -> Peer:
        if password is None and user is not None:
            password = self.password(user)
        made = Peer(
            self.broker,
            user,
            password,
            client_id=client_id or f"test-{user}-{len(self.peers)}",
            subscribe=subscribe,
        )
        self.peers.append(made)
        return made

    def close(self) -> None:
        for peer in self.peers:
            peer.close()
        self.broker.stop()


def broker_with_files(workdir: Path, files: fb.BrokerFiles) -> Mosquitto:
    """A broker that includes the generated snippet (allow_anonymous false, both files).

    ``user root``: started as root (as in CI containers), Mosquitto drops to the ``mosquitto``
    user *before* it reads the password and ACL files, which then cannot reach pytest's 0700
    temporary directories. In production ``fleet broker-config --group mosquitto`` makes them
    readable; for a non-root test run the line is ignored.
    """
    broker = Mosquitto(workdir, extra_config="user root\n" + files.conf_file.read_text())
    try:
        broker.start()
    except BrokerError as exc:
        pytest.fail(str(exc))
    return broker


def start_acl_broker(workdir: Path, conn: Connection, devices: Sequence[DeviceKey]) -> AclBroker:
    """Register ``devices`` in the fleet DB, write the broker files from it, start a broker."""
    for key in devices:
        fb.register_device(conn, key.tenant, key.store, key.device, now=NOW)
    secret = fb.create_secret(workdir / "keys" / fb.SECRET_FILE)
    files = fb.write_broker_files(
        workdir / "broker-files",
        fb.registered_devices(conn, TENANT),
        secret,
        tenant=TENANT,
    )
    return AclBroker(broker_with_files(workdir / "mosquitto", files), files, secret, [])


def ingest_config(acl: AclBroker, db_url: str, key_dir: Path, client_id: str) -> FleetConfig:
    """An ingest worker's config that logs in as HQ's ingest user."""
    return FleetConfig(
        tenant=TENANT,
        db_url=db_url,
        keys=KeysConfig(dir=key_dir, active="hq-1"),
        broker=BrokerConfig(
            host=acl.broker.host,
            port=acl.broker.port,
            username=fb.INGEST_USER,
            password=acl.password(fb.INGEST_USER),
        ),
        ingest=IngestConfig(
            client_id=client_id,
            batch_max=50,
            batch_wait_ms=10,
            reorder_timeout_s=5.0,
            max_inflight=200,
            metrics_interval_s=60.0,
        ),
    )


@pytest.fixture
def acl(tmp_path: Path) -> Iterator[AclBroker]:
    """An ACL'd broker for tests of the broker alone (tills registered in a SQLite fleet DB)."""
    with connect(f"sqlite://{tmp_path / 'registry.db'}") as conn:
        made = start_acl_broker(tmp_path, conn, DEVICES)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def acl_fleet(tmp_path: Path, fleet_db: Connection) -> Iterator[AclBroker]:
    """An ACL'd broker whose tills are registered in the fleet DB of each dialect."""
    made = start_acl_broker(tmp_path, fleet_db, DEVICES)
    try:
        yield made
    finally:
        made.close()


def _mosquitto_passwd() -> str:
    found = shutil.which("mosquitto_passwd")
    if found is None:
        pytest.fail("mosquitto_passwd is missing: apt-get install mosquitto")
    return found


# -- passwords -------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["secret", "pässwörd ✓", "a" * 200, "x:y$z"])
def test_our_hash_is_mosquitto_passwds_format_byte_for_byte(tmp_path: Path, password: str) -> None:
    path = tmp_path / "passwd"
    subprocess.run(
        [_mosquitto_passwd(), "-c", "-b", str(path), "alice", password],
        check=True,
        capture_output=True,
    )
    line = path.read_text().strip()
    user, _, theirs = line.partition(":")
    assert user == "alice"
    _, seven, iterations, salt, _digest = theirs.split("$")
    assert (seven, int(iterations)) == ("7", fb.PBKDF2_ITERATIONS)
    ours = fb.hash_password(password, salt=base64.b64decode(salt), iterations=int(iterations))
    assert ours == theirs
    assert fb.verify_password(password, theirs)
    assert not fb.verify_password(password + "!", theirs)


@given(st.text(max_size=40).filter(lambda p: "\x00" not in p), st.text(max_size=40))
def test_a_hash_verifies_its_password_and_no_other(password: str, other: str) -> None:
    encoded = fb.hash_password(password)
    assert fb.verify_password(password, encoded)
    assert fb.verify_password(other, encoded) == (other == password)


def test_a_password_with_a_nul_is_refused_and_matches_no_hash() -> None:
    """HMAC pads a short key with zero bytes, so PBKDF2 alone cannot tell "" from "\\0";
    Mosquitto reads a password as a C string and would check only what precedes the NUL."""
    with pytest.raises(ValueError, match="NUL"):
        fb.hash_password("pw\x00")
    assert not fb.verify_password("\x00", fb.hash_password(""))
    assert not fb.verify_password("pw\x00", fb.hash_password("pw"))


@given(st.text(max_size=120))
def test_verify_never_raises_on_junk(junk: str) -> None:
    assert fb.verify_password("pw", junk) in (True, False)


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32), st.data())
def test_derived_passwords_are_stable_distinct_and_url_safe(
    secret: bytes, other_secret: bytes, data: st.DataObject
) -> None:
    ident = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
    a, b = data.draw(ident), data.draw(ident)
    pw = fb.derive_password(secret, a)
    assert pw == fb.derive_password(secret, a)
    assert len(pw) == 43
    assert set(pw) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert (pw == fb.derive_password(secret, b)) == (a == b)
    assert (pw == fb.derive_password(other_secret, a)) == (secret == other_secret)


def test_the_secret_is_private_never_overwritten_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "keys" / fb.SECRET_FILE
    secret = fb.create_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert fb.load_secret(path) == secret
    with pytest.raises(fb.BrokerConfigError, match="never overwritten"):
        fb.create_secret(path)
    path.chmod(0o640)
    with pytest.raises(fb.BrokerConfigError, match="chmod 600"):
        fb.load_secret(path)
    path.chmod(0o600)
    path.write_text("short\n")
    with pytest.raises(fb.BrokerConfigError, match="32-byte"):
        fb.load_secret(path)
    with pytest.raises(fb.BrokerConfigError, match="no broker secret"):
        fb.load_secret(tmp_path / "missing")


# -- devices and the files ---------------------------------------------------------------------


def test_devices_register_once_with_ids_unique_in_the_tenant(fleet_db: Connection) -> None:
    assert fb.register_device(fleet_db, TENANT, "s-001", "till-1", now=NOW)
    assert not fb.register_device(fleet_db, TENANT, "s-001", "till-1", now=NOW)
    assert fb.register_device(fleet_db, TENANT, "s-002", "till-9", now=NOW)
    assert fb.register_device(fleet_db, "other", "s-001", "till-1", now=NOW)  # another tenant
    with pytest.raises(fb.BrokerConfigError, match="already registered in store 's-001'"):
        fb.register_device(fleet_db, TENANT, "s-002", "till-1", now=NOW)
    with pytest.raises(fb.BrokerConfigError, match="HQ broker user"):
        fb.register_device(fleet_db, TENANT, "s-001", fb.INGEST_USER, now=NOW)
    for store, device in (("all", "t"), ("s-001", "a/b"), ("s-001", "down"), ("s 1", "t")):
        with pytest.raises(fb.BrokerConfigError):
            fb.register_device(fleet_db, TENANT, store, device, now=NOW)
    assert fb.registered_devices(fleet_db, TENANT) == [TILL_1, TILL_9]
    row = fleet_db.one("SELECT * FROM devices WHERE device = 'till-1' AND tenant = ?", [TENANT])
    assert row is not None
    assert (row["status"], row["acked_seq"], row["first_seen_at"]) == ("unknown", 0, NOW)


_key = st.builds(
    DeviceKey,
    st.just(TENANT),
    st.sampled_from(["s-1", "s-2", "s-3"]),
    st.sampled_from(["t1", "t2", "t3", "t4", fb.INGEST_USER]),
)


@given(st.lists(_key, max_size=8, unique=True))
def test_device_users_refuse_exactly_ambiguous_ids(keys: list[DeviceKey]) -> None:
    ids = [k.device for k in keys]
    ambiguous = len(set(ids)) != len(ids) or fb.INGEST_USER in ids
    try:
        users = fb.device_users(keys, service_users=(fb.INGEST_USER, fb.PUBLISHER_USER))
    except fb.BrokerConfigError:
        assert ambiguous
    else:
        assert not ambiguous
        assert users == {k.device: k for k in keys}


def test_the_acl_grants_each_till_only_its_own_topics() -> None:
    text = fb.acl_text([TILL_9, TILL_1], tenant=TENANT)
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines == [
        "pattern read tf/v1/all/down/+",
        "user hq-ingest",
        "topic read tf/v1/+/+/up/+",
        "topic read tf/v1/+/+/status",
        "topic write tf/v1/+/+/down/ack",
        "topic write tf/v1/+/+/down/command",
        "user hq-publisher",
        "topic write tf/v1/+/+/down/+",
        "topic write tf/v1/+/down/+",
        "user till-1",
        "topic write tf/v1/s-001/till-1/up/+",
        "topic write tf/v1/s-001/till-1/status",
        "topic read tf/v1/s-001/till-1/down/+",
        "topic read tf/v1/s-001/down/+",
        "user till-9",
        "topic write tf/v1/s-002/till-9/up/+",
        "topic write tf/v1/s-002/till-9/status",
        "topic read tf/v1/s-002/till-9/down/+",
        "topic read tf/v1/s-002/down/+",
    ]
    with pytest.raises(fb.BrokerConfigError, match="must differ"):
        fb.acl_text([], tenant=TENANT, ingest_user="hq", publisher_user="hq")
    with pytest.raises(fb.BrokerConfigError, match="HQ broker user"):
        fb.acl_text([], tenant=TENANT, ingest_user="hq ingest")


def test_files_are_replaced_atomically_with_their_mode_group_and_unchanged_lines(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    secret, other = b"s" * 32, b"o" * 32
    group = grp.getgrgid(os.getgid()).gr_name
    files = fb.write_broker_files(out, [TILL_1], secret, tenant=TENANT, group=group)
    for path in (files.acl_file, files.password_file, files.conf_file):
        st_ = path.stat()
        assert stat.S_IMODE(st_.st_mode) == 0o640
        assert st_.st_gid == os.getgid()
    assert files.users == ("hq-ingest", "hq-publisher", "till-1")
    first = fb.parse_password_file(files.password_file.read_text())
    assert set(first) == set(files.users)
    for user, encoded in first.items():
        assert fb.verify_password(fb.derive_password(secret, user), encoded)
    assert files.conf_file.read_text().splitlines()[2:] == [
        "allow_anonymous false",
        f"password_file {files.password_file}",
        f"acl_file {files.acl_file}",
    ]

    fb.write_broker_files(out, [TILL_1, TILL_2], secret, tenant=TENANT)
    second = fb.parse_password_file(files.password_file.read_text())
    assert {u: second[u] for u in first} == first  # unchanged users keep their exact line
    assert "till-2" in second
    fb.write_broker_files(out, [TILL_1], other, tenant=TENANT)
    third = fb.parse_password_file(files.password_file.read_text())
    assert third["till-1"] != first["till-1"]
    assert fb.verify_password(fb.derive_password(other, "till-1"), third["till-1"])
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [fb.ACL_FILE, fb.PASSWORD_FILE, fb.CONF_FILE]
    )  # no temporary files left behind
    with pytest.raises(fb.BrokerConfigError, match="no group"):
        fb.write_broker_files(out, [], secret, tenant=TENANT, group="no-such-group-tf")


# -- the command line ---------------------------------------------------------------------------


def _config_file(tmp_path: Path, db_url: str, password: str | None = None) -> Path:
    path = tmp_path / "fleet.toml"
    broker = f'username = "{fb.INGEST_USER}"\n' + (f'password = "{password}"\n' if password else "")
    path.write_text(
        f'[fleet]\ntenant = "{TENANT}"\ndb_url = "{db_url}"\n'
        f'[keys]\ndir = "keys"\nactive = "hq-1"\n'
        f"[broker]\n{broker}"
    )
    return path


def test_the_cli_registers_tills_writes_the_files_and_prints_passwords(tmp_path: Path) -> None:
    runner = CliRunner()
    config = _config_file(tmp_path, f"sqlite://{tmp_path / 'fleet.db'}", password="not-it")
    out = tmp_path / "broker"

    def run(*args: str) -> str:
        result = runner.invoke(main, [*args[:1], "--config", str(config), *args[1:]])
        assert result.exit_code == 0, result.output
        return result.output

    # No till yet: the first broker-config makes the secret.
    assert "made a new broker secret" in run("broker-config", "--out", str(out))
    assert "registered s-001/till-1" in run("register-device", "s-001", "till-1")
    assert "was registered" in run("register-device", "s-001", "till-1")
    output = run("broker-config", "--out", str(out))
    assert "1 tills, 3 broker users" in output
    assert "is not hq-ingest's broker password" in output  # the config's password is wrong
    secret = fb.load_secret(tmp_path / "keys" / fb.SECRET_FILE)
    assert run("broker-password", "till-1").strip() == fb.derive_password(secret, "till-1")
    run("broker-password", "till-1", "--out", str(tmp_path / "till-1.password"))
    pw_file = tmp_path / "till-1.password"
    assert pw_file.read_text().strip() == fb.derive_password(secret, "till-1")
    assert stat.S_IMODE(pw_file.stat().st_mode) == 0o600

    refused = runner.invoke(main, ["register-device", "--config", str(config), "s-002", "till-1"])
    assert refused.exit_code != 0
    assert "unique in the tenant" in refused.output
    unknown = runner.invoke(main, ["broker-password", "--config", str(config), "till-77"])
    assert unknown.exit_code != 0
    assert "neither a registered till" in unknown.output
    again = runner.invoke(
        main, ["broker-password", "--config", str(config), "till-1", "--out", str(pw_file)]
    )
    assert again.exit_code != 0
    assert "never overwritten" in again.output

    # A lost secret with tills registered is not silently replaced.
    (tmp_path / "keys" / fb.SECRET_FILE).rename(tmp_path / "secret.bak")
    lost = runner.invoke(main, ["broker-config", "--config", str(config), "--out", str(out)])
    assert lost.exit_code != 0
    assert "restore it from a backup" in lost.output

    # The files it wrote run a broker that lets the till in and keeps strangers out.
    files = fb.BrokerFiles(
        out / fb.ACL_FILE, out / fb.PASSWORD_FILE, out / fb.CONF_FILE, ("till-1",)
    )
    broker = broker_with_files(tmp_path / "mosquitto", files)
    try:
        peers = [
            Peer(broker, "till-1", fb.derive_password(secret, "till-1"), client_id="a"),
            Peer(broker, "till-1", "wrong", client_id="b"),
        ]
        assert not peers[0].connack().is_failure
        assert peers[1].connack().is_failure
        for peer in peers:
            peer.close()
    finally:
        broker.stop()


# -- against the broker -------------------------------------------------------------------------


@pytest.mark.mqtt
def test_wrong_passwords_unknown_users_and_anonymous_clients_are_refused(
    acl: AclBroker,
) -> None:
    refused = [
        acl.peer("till-1", password="wrong"),
        acl.peer("till-1", password=acl.password("till-2")),  # another till's password
        acl.peer(fb.INGEST_USER, password=acl.password("till-1")),
        acl.peer("till-404", password=fb.derive_password(acl.secret, "till-404")),
        acl.peer(None),
    ]
    for peer in refused:
        rc = peer.connack()
        assert rc.is_failure
        assert rc.value in (0x86, 0x87)  # bad user name or password / not authorized
    assert not acl.peer("till-1").connack().is_failure


def test_hqs_publisher_with_a_wrong_password_is_told_it_was_refused(acl: AclBroker) -> None:
    """The refusal reaches the operator as an error naming it, at once; closing the refused
    client must not wait on the lock its own callbacks hold (it once did)."""
    broker = BrokerConfig(
        host=acl.broker.host, port=acl.broker.port, username=fb.PUBLISHER_USER, password="wrong"
    )
    with pytest.raises(PublishError, match=r"refused: (Bad user name or password|Not authorized)"):
        MqttPublisher(broker, timeout_s=WAIT).connect()


@pytest.mark.mqtt
def test_a_till_cannot_publish_under_another_tills_or_hqs_topics(acl: AclBroker) -> None:
    ingest = acl.peer(
        fb.INGEST_USER,
        subscribe=[topics.uplink_filter("ingest"), topics.status_filter()],
    ).ready()
    victim = acl.peer("till-2", subscribe=topics.device_subscriptions("s-001", "till-2")).ready()
    attacker = acl.peer("till-1").ready()
    sale = samples.wire(samples.sale(1), 1, device="till-2")
    forged = {
        topics.uplink("s-001", "till-2", "sale.completed"): sale,
        topics.uplink("s-002", "till-9", "sale.completed"): sale,
        topics.uplink("s-001", "till-2x", "sale.completed"): sale,
        topics.status("s-001", "till-2"): b'{"state":"offline","connection":99,"at":null}',
        topics.device_downlink("s-001", "till-1", "ack"): b"forged ack for itself",
        topics.device_downlink("s-001", "till-2", "ack"): b"forged ack",
        topics.store_downlink("s-001", "price_book"): b"forged store document",
        topics.fleet_downlink("price_book"): b"forged fleet document",
        "tf/v1/s-001/till-1/up/sale.completed/extra": b"deeper than the scheme",
        "$SYS/broker/forged": b"x",
    }
    for topic, payload in forged.items():
        assert attacker.publish(topic, payload, retain=True) == NOT_AUTHORIZED, topic

    own = topics.uplink("s-001", "till-1", "sale.completed")
    assert attacker.publish(own, samples.wire(samples.sale(1), 1)) in ACCEPTED
    assert ingest.until(own) == []
    hq = acl.peer(fb.PUBLISHER_USER).ready()
    sentinel = topics.device_downlink("s-001", "till-2", "command")
    assert hq.publish(sentinel, b"sentinel") in ACCEPTED
    assert victim.until(sentinel) == []
    # Nothing forged was kept as retained either: a new reader sees only the sentinel.
    late = acl.peer(fb.INGEST_USER, subscribe=[topics.status_filter()]).ready()
    status = topics.status("s-001", "till-2")
    assert acl.peer("till-2").ready().publish(status, b"sentinel") in ACCEPTED
    assert late.until(status) == []


@pytest.mark.mqtt
def test_a_till_reads_only_its_own_its_stores_and_the_fleets_downlink(acl: AclBroker) -> None:
    greedy = [
        "#",
        "tf/v1/s-002/down/#",
        "tf/v1/s-001/till-2/down/#",
        topics.uplink_filter(),
        topics.status_filter(),
        topics.uplink_filter("ingest"),
    ]
    reader = acl.peer("till-1", subscribe=greedy).ready()
    hq = acl.peer(fb.PUBLISHER_USER).ready()
    other_till = acl.peer("till-2").ready()
    forbidden = [
        topics.store_downlink("s-002", "price_book"),
        topics.device_downlink("s-002", "till-9", "device_config"),
        topics.device_downlink("s-001", "till-2", "ack"),
    ]
    for topic in forbidden:
        assert hq.publish(topic, b"not for till-1", retain=True) in ACCEPTED
    assert other_till.publish(topics.status("s-001", "till-2"), b"{}", retain=True) in ACCEPTED
    assert other_till.publish(topics.uplink("s-001", "till-2", "feedback.given"), b"{}") in ACCEPTED
    allowed = [
        topics.store_downlink("s-001", "price_book"),
        topics.fleet_downlink("promotion_set"),
        topics.device_downlink("s-001", "till-1", "ack"),
    ]
    for topic in allowed:
        assert hq.publish(topic, b"for till-1", retain=True) in ACCEPTED
    got = reader.until(allowed[-1])
    assert {m[0] for m in got} == set(allowed[:-1])

    # Retained documents are filtered too when a till subscribes after they were published.
    late = acl.peer("till-1", subscribe=["#"]).ready()
    sentinel = topics.store_downlink("s-001", "member_cache")
    assert hq.publish(sentinel, b"sentinel") in ACCEPTED
    retained = late.until(sentinel)
    assert {m[0] for m in retained} == set(allowed)
    assert all(m[2] for m in retained)


def _price_book(milk_price: int) -> PriceBook:
    milk = next(i for i in CATALOG if i.sku == "MILK")
    return PriceBook(
        mode="delta",
        base_version=1,
        currency="EUR",
        prices_include_tax=True,
        tax_classes=[TaxClass(id="red", name="Reduced", rate_ppm=70_000)],
        items=[msgspec.structs.replace(milk, unit_price=milk_price)],
        removed=[],
    )


def _depth(path: Path) -> int:
    conn = open_store(path)
    try:
        return outbox.depth(conn)
    finally:
        conn.close()


@pytest.mark.mqtt
def test_the_real_till_and_hq_do_everything_they_need_through_the_acl(
    tmp_path: Path, acl_fleet: AclBroker, fleet_db_url: str, key_dir: Path, signer: Signer
) -> None:
    acl = acl_fleet
    worker = IngestWorker(ingest_config(acl, fleet_db_url, key_dir, "ingest-acl"), signer)
    worker.start()
    path = tmp_path / "till.db"
    till = ready(open_till(path, store="s-001", device="till-1", tenant=TENANT))
    ok(till, cmd.AddItem(code="4006381333931"))
    ok(till, cmd.Tender(kind="cash", amount=200))
    settings = SyncSettings(
        host=acl.broker.host,
        port=acl.broker.port,
        username="till-1",
        password=acl.password("till-1"),
        trusted_keys=((signer.key_id, signer.public_key_text),),
        health_interval_s=3600,
    )
    sync = SyncClient(path, outbox.Origin(TENANT, "s-001", "till-1"), settings)
    try:
        assert worker.subscribed.wait(WAIT)
        sync.start()
        # Uplink through the ingest user's $share subscription, ack back to the till.
        assert sync.wait_for(lambda s: s.acks >= 1 and _depth(path) == 0, WAIT), sync.stats
        # HQ's publisher reaches the till at store and fleet scope.
        hq = acl.peer(fb.PUBLISHER_USER).ready()
        now = dt.datetime.now(dt.UTC)
        for topic, body, scope, version in (
            (
                topics.store_downlink("s-001", "price_book"),
                _price_book(149),
                DocScope(tenant=TENANT, store="s-001", device=None),
                7,
            ),
            (
                topics.fleet_downlink("promotion_set"),
                PromotionSet(mode="snapshot", base_version=None, promotions=PROMOTIONS, removed=[]),
                DocScope(tenant=TENANT, store=None, device=None),
                3,
            ),
        ):
            doc = make_document(
                body,
                doc_id=samples.event_id(version, "doc"),
                scope=scope,
                version=version,
                issued_at=now,
                expires_at=now + dt.timedelta(hours=1),
            )
            assert hq.publish(topic, signer.sign(doc), retain=True) in ACCEPTED
        assert sync.wait_for(
            lambda s: {"price_book", "promotion_set"} <= set(s.applied) and _depth(path) == 0,
            WAIT,
        ), sync.stats
        assert sync.stats.documents_rejected == 0
        # acked means stored; the sale and the price.applied reports are read once projected
        assert worker.wait_projected(WAIT)
    finally:
        sync.stop()
        worker.stop()
        worker.join(WAIT)
    with connect(fleet_db_url) as db:
        assert db.scalar("SELECT count(*) AS n FROM sales WHERE device = 'till-1'") == 1
        applied = db.execute("SELECT kind, scope_level, version FROM documents_applied")
        assert sorted((r["kind"], r["scope_level"], r["version"]) for r in applied) == [
            ("price_book", "store", 7),
            ("promotion_set", "fleet", 3),
        ]
        assert db.scalar("SELECT count(*) AS n FROM dead_letters") == 0


@pytest.mark.mqtt
def test_hq_users_may_write_only_what_they_send(acl: AclBroker) -> None:
    ingest = acl.peer(fb.INGEST_USER).ready()
    publisher = acl.peer(fb.PUBLISHER_USER).ready()
    sale = samples.wire(samples.sale(1), 1)
    for peer, topic in (
        (publisher, topics.uplink("s-001", "till-1", "sale.completed")),  # no forged sales
        (publisher, topics.status("s-001", "till-1")),
        (ingest, topics.uplink("s-001", "till-1", "sale.completed")),
        (ingest, topics.store_downlink("s-001", "price_book")),  # ingest sends acks, not prices
        (ingest, topics.device_downlink("s-001", "till-1", "device_config")),
        (ingest, topics.fleet_downlink("price_book")),
    ):
        assert peer.publish(topic, sale) == NOT_AUTHORIZED, topic
    for peer, topic in (
        (ingest, topics.device_downlink("s-001", "till-1", "ack")),
        (ingest, topics.device_downlink("s-002", "till-9", "command")),
        (publisher, topics.device_downlink("s-001", "till-1", "device_config")),
        (publisher, topics.store_downlink("s-002", "price_book")),
        (publisher, topics.fleet_downlink("price_book")),
    ):
        assert peer.publish(topic, b"{}") in ACCEPTED, topic
