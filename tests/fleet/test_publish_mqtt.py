"""Publishing end to end: a real broker, a real till (sync client over a seeded store), the real
ingest worker carrying what the till reports back into HQ's database — on both dialects.

Nothing sleeps: tests wait on the sync client's counters (a document applied or refused), on
HQ's signed ack of the till's report, which ingest publishes only after its COMMIT (the event is
stored), and then on the worker saying every event it stored is projected — only then do HQ's
tables say what the till runs.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import msgspec
import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion

from edge.checkout import commands as cmd
from edge.store import outbox
from edge.store.db import open_store
from edge.store.documents import device_config as till_device_config
from edge.sync.client import SyncClient
from edge.sync.settings import SyncSettings
from fleet.cli import main
from fleet.config import BrokerConfig, FleetConfig, IngestConfig, KeysConfig
from fleet.db import Connection, connect
from fleet.ingest import IngestWorker
from fleet.keys import Signer, generate_key
from fleet.publish import (
    MemberRecord,
    MqttPublisher,
    PublishError,
    StorePrice,
    deliver,
    prepare_device_config,
    prepare_member_cache,
    prepare_price_book,
    prepare_promotion_set,
    put_item,
    put_member,
    put_store_price,
    remove_item,
    rollout_status,
)
from fleet.publish.price_book import current_items
from hil.services.mosquitto import Mosquitto, free_port
from protocol.signing import DeviceIdentity, Keyring, verify_document
from tests.edge.tillkit import MEMBER_PHONE, item, ok, open_till, ready, seed_store
from tests.fleet.test_publish import (
    NOW,
    SETTINGS,
    STORE,
    TENANT,
    as_till,
    empty_publish_tables,
    seed,
    till_items,
)
from tests.silentbroker import CONNECT, silent_port

pytestmark = pytest.mark.mqtt
WAIT = 30.0
DEVICE = "t1"


@pytest.fixture
def db_url(fleet_db_url: str) -> str:
    return empty_publish_tables(fleet_db_url)


def fleet_config(broker: Mosquitto, url: str, key_dir: Path, active: str = "hq-1") -> FleetConfig:
    return FleetConfig(
        tenant=TENANT,
        db_url=url,
        keys=KeysConfig(dir=key_dir, active=active),
        broker=BrokerConfig(host=broker.host, port=broker.port),
        # One client id whatever the key: a restarted worker resumes its broker session.
        ingest=IngestConfig(client_id="ingest-1", batch_wait_ms=10, reorder_timeout_s=5.0),
    )


@contextmanager
def ingesting(cfg: FleetConfig, signer: Signer) -> Iterator[IngestWorker]:
    """The real ingest worker in a thread, subscribed before the test goes on."""
    worker = IngestWorker(cfg, signer)
    worker.start()
    try:
        assert worker.subscribed.wait(WAIT), "ingest did not get its subscription"
        yield worker
    finally:
        worker.stop()
        worker.join(WAIT)


@contextmanager
def till_sync(path: Path, broker: Mosquitto, bootstrap: Signer) -> Iterator[SyncClient]:
    """The till's sync client, trusting only ``bootstrap`` until a device config arrives.

    Ingest must be running: this waits for HQ's ack of the till's hello (its first health
    report, which says what documents it runs).
    """
    settings = SyncSettings(
        host=broker.host,
        port=broker.port,
        trusted_keys=((bootstrap.key_id, bootstrap.public_key_text),),
        health_interval_s=3600,
    )
    sync = SyncClient(path, outbox.Origin(TENANT, STORE, DEVICE), settings)
    sync.start()
    try:
        assert sync.wait_connected(WAIT)
        assert sync.wait_for(lambda s: s.last_ack_seq >= 1, WAIT), sync.stats
        yield sync
    finally:
        sync.stop()


def wait_stored_at_hq(sync: SyncClient, path: Path, worker: IngestWorker) -> None:
    """Wait until HQ acked every event the till has queued so far (they are stored) and
    ``worker`` projected what it stored (so HQ's tables have them)."""
    till = open_store(path)
    try:
        top = int(till.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()[0])
    finally:
        till.close()
    assert sync.wait_for(lambda s: s.last_ack_seq >= top, WAIT), (top, sync.stats)
    assert worker.wait_projected(WAIT), "the worker did not project what it stored"


def wait_applied(sync: SyncClient, kind: str, count: int) -> None:
    assert sync.wait_for(lambda s: s.applied.count(kind) >= count, WAIT), sync.stats


def running(db: Connection, column: str) -> int | None:
    value = db.scalar(
        f"SELECT {column} FROM devices WHERE tenant = ? AND store = ? AND device = ?",
        [TENANT, STORE, DEVICE],
    )
    return None if value is None else int(value)


def read_till(path: Path) -> sqlite3.Connection:
    return open_store(path)


def test_a_till_runs_a_published_snapshot_then_a_delta_and_hq_records_which(
    mosquitto: Mosquitto, db_url: str, key_dir: Path, signer: Signer, tmp_path: Path
) -> None:
    path = tmp_path / "till.db"
    seed_store(path)  # the till runs price book v1 (store scope) from its own seeding
    cfg = fleet_config(mosquitto, db_url, key_dir)
    with (
        connect(db_url) as db,
        ingesting(cfg, signer) as worker,
        till_sync(path, mosquitto, signer) as sync,
        MqttPublisher(cfg.broker) as publisher,
    ):
        seed(db)
        wait_stored_at_hq(sync, path, worker)  # its first health report says: price book v1
        assert running(db, "price_book_version") == 1

        first = deliver(db, prepare_price_book(db, signer, tenant=TENANT, store=STORE), publisher)
        assert (first.mode, first.version) == ("snapshot", 2)  # v1 is not one HQ built
        wait_applied(sync, "price_book", 1)
        till = read_till(path)
        assert till_items(till) == as_till(current_items(db, TENANT, STORE))
        till.close()
        wait_stored_at_hq(sync, path, worker)
        assert running(db, "price_book_version") == first.version

        put_store_price(db, TENANT, StorePrice(store=STORE, sku="MILK", unit_price=129), now=NOW)
        remove_item(db, TENANT, "BREAD")
        put_item(db, TENANT, item("TEA", 350, gtins=["04000000000024"]), now=NOW)
        second = deliver(db, prepare_price_book(db, signer, tenant=TENANT, store=STORE), publisher)
        assert (second.mode, second.base_version, second.entries, second.removed) == (
            "delta",
            first.version,
            2,
            1,
        )
        wait_applied(sync, "price_book", 2)
        till = read_till(path)
        items = till_items(till)
        till.close()
        assert items == as_till(current_items(db, TENANT, STORE))
        assert items["MILK"][1] == 129
        assert "BREAD" not in items
        wait_stored_at_hq(sync, path, worker)
        assert running(db, "price_book_version") == second.version
        status = {r.kind: r for r in rollout_status(db, TENANT, STORE)}
        assert (status["price_book"].published, status["price_book"].running) == (
            second.version,
            second.version,
        )
        assert status["price_book"].state == "current"
        assert status["promotion_set"].state == "unpublished"
        published = db.one(
            "SELECT published_at FROM published_documents WHERE doc_id = ?", [second.doc_id]
        )
        assert published is not None
        assert published["published_at"] is not None
    assert sync.stats.documents_rejected == 0


def test_keys_rotate_through_the_key_dir_and_a_retired_key_is_refused(
    mosquitto: Mosquitto, db_url: str, key_dir: Path, signer: Signer, tmp_path: Path
) -> None:
    path = tmp_path / "till.db"
    seed_store(path)
    old_worker = IngestWorker(fleet_config(mosquitto, db_url, key_dir), signer)
    with connect(db_url) as db, ExitStack() as stack:
        seed(db)
        stack.callback(_stop, old_worker)
        old_worker.start()
        assert old_worker.subscribed.wait(WAIT)
        sync = stack.enter_context(till_sync(path, mosquitto, signer))
        with MqttPublisher(BrokerConfig(host=mosquitto.host, port=mosquitto.port)) as publisher:
            wait_stored_at_hq(sync, path, old_worker)
            # 1. A new key, trusted by every till before anything is signed with it.
            generate_key(key_dir, "hq-2")
            new = Signer.from_dir(key_dir, "hq-2")
            config = prepare_device_config(db, signer, key_dir, tenant=TENANT, store=STORE)
            deliver(db, config, publisher)
            wait_applied(sync, "device_config", 1)
            assert trusted_key_ids(path) == ["hq-1", "hq-2"]
            wait_stored_at_hq(sync, path, old_worker)
            assert running(db, "device_config_version") == config.version

        # 2. Switch: HQ signs with hq-2, and the ingest workers restart with it (their acks
        #    must verify on the tills once hq-1 is gone). The till keeps running meanwhile.
        _stop(old_worker)
        cfg = fleet_config(mosquitto, db_url, key_dir, active="hq-2")
        with ingesting(cfg, new) as worker, MqttPublisher(cfg.broker) as publisher:
            book = deliver(db, prepare_price_book(db, new, tenant=TENANT, store=STORE), publisher)
            wait_applied(sync, "price_book", 1)
            wait_stored_at_hq(sync, path, worker)  # the ack is signed by hq-2 now
            assert running(db, "price_book_version") == book.version

            # 3. Retire hq-1: its file leaves the key dir, the next config trusts hq-2 only.
            (key_dir / "hq-1.pem").rename(tmp_path / "retired-hq-1.pem")
            deliver(
                db, prepare_device_config(db, new, key_dir, tenant=TENANT, store=STORE), publisher
            )
            wait_applied(sync, "device_config", 2)
            assert trusted_key_ids(path) == ["hq-2"]

            # 4. Whatever the retired key still signs is refused, and HQ hears why.
            stale = deliver(
                db, prepare_promotion_set(db, signer, tenant=TENANT, store=STORE), publisher
            )
            assert sync.wait_for(lambda s: s.documents_rejected >= 1, WAIT), sync.stats
            wait_stored_at_hq(sync, path, worker)
            rejected = db.one("SELECT kind, reason, detail FROM documents_rejected")
            assert rejected is not None
            assert (rejected["kind"], rejected["reason"]) == ("promotion_set", "unknown_key")
            assert "hq-1" in rejected["detail"]
            assert running(db, "promotion_set_version") != stale.version
            assert sync.stats.documents_rejected == 1


def _stop(worker: IngestWorker) -> None:
    worker.stop()
    worker.join(WAIT)


def trusted_key_ids(path: Path) -> list[str]:
    """The key ids the till trusts now (from the device config it applied)."""
    till = read_till(path)
    try:
        config = till_device_config(till)
    finally:
        till.close()
    assert config is not None
    return [k.key_id for k in config.trusted_keys]


def test_a_member_cache_refresh_takes_over_the_points_a_till_had_pending(
    mosquitto: Mosquitto, db_url: str, key_dir: Path, signer: Signer, tmp_path: Path
) -> None:
    path = tmp_path / "till.db"
    till = ready(open_till(path))  # its member cache (v1) has M-1 with 5000 points
    cfg = fleet_config(mosquitto, db_url, key_dir)
    with (
        connect(db_url) as db,
        ingesting(cfg, signer) as worker,
        till_sync(path, mosquitto, signer) as sync,
        MqttPublisher(cfg.broker) as publisher,
    ):
        seed(db)
        member = MemberRecord(
            member_id="M-1",
            phone=MEMBER_PHONE,
            card_no="CARD0001",
            first_name="Ada",
            home_store=STORE,
            opening_points=5000,
        )
        put_member(db, TENANT, member, now=NOW)
        wait_stored_at_hq(sync, path, worker)
        snapshot = prepare_member_cache(db, signer, tenant=TENANT, store=STORE)
        deliver(db, snapshot, publisher)
        wait_applied(sync, "member_cache", 1)
        wait_stored_at_hq(sync, path, worker)
        assert running(db, "member_cache_version") == snapshot.version

        ok(till, cmd.AttachMember(card_no="CARD0001"))
        ok(till, cmd.AddItem(sku="WINE"))  # 8.99: 8 points
        ok(till, cmd.Tender(kind="cash", amount=900))
        conn = read_till(path)
        pending = conn.execute("SELECT member_id, points FROM loyalty_pending").fetchall()
        conn.close()
        assert pending == [("M-1", 8)]
        wait_stored_at_hq(sync, path, worker)  # HQ booked the 8 points; the till marked them acked
        assert db.scalar("SELECT SUM(points) AS p FROM loyalty_ledger") == 5008

        delta = deliver(db, prepare_member_cache(db, signer, tenant=TENANT, store=STORE), publisher)
        assert (delta.mode, delta.entries) == ("delta", 1)
        wait_applied(sync, "member_cache", 2)
        conn = read_till(path)
        points = conn.execute("SELECT points FROM members WHERE member_id = 'M-1'").fetchone()
        left = conn.execute("SELECT count(*) FROM loyalty_pending").fetchone()
        conn.close()
        assert (points[0], left[0]) == (5008, 0)  # in the cache now, no longer pending


def _retained(broker: Mosquitto, flt: str, count: int) -> list[tuple[str, bytes]]:
    """The retained messages under ``flt``, as a till connecting now receives them."""
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_connect = lambda c, *_a: c.subscribe(flt, qos=1)
    client.on_message = lambda _c, _u, m: got.put((m.topic, bytes(m.payload)))
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        return [got.get(timeout=WAIT) for _ in range(count)]
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_cli_loads_a_catalog_and_publishes_every_kind_retained(
    mosquitto: Mosquitto, db_url: str, key_dir: Path, signer: Signer, tmp_path: Path
) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(
        f'[fleet]\ntenant = "{TENANT}"\ndb_url = "{db_url}"\n'
        f'[keys]\ndir = "{key_dir}"\nactive = "hq-1"\n'
        f'[broker]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\n'
    )
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        json.dumps(
            {
                "stores": [
                    {"store": STORE, "name": "Main", "currency": "EUR", "prices_include_tax": True}
                ],
                "tax_classes": [{"id": "std", "name": "Standard", "rate_ppm": 190_000}],
                "items": [msgspec.to_builtins(item("TEA", 350)), msgspec.to_builtins(item("J", 1))],
                "members": [{"member_id": "M-1", "phone": MEMBER_PHONE, "home_store": STORE}],
                "settings": [{"store": STORE, "settings": msgspec.to_builtins(SETTINGS)}],
            }
        )
    )
    runner = CliRunner()
    loaded = runner.invoke(main, ["catalog", "load", str(catalog), "--config", str(config)])
    assert loaded.exit_code == 0, loaded.output
    assert loaded.output == "loaded 1 stores, 1 tax_classes, 2 items, 1 members, 1 settings\n"
    keyed = runner.invoke(main, ["catalog", "hash-key", "p1", "--config", str(config)])
    assert keyed.exit_code == 0, keyed.output

    outputs = []
    for args in (["price-book", "--full"], ["promotions"], ["members"], ["config"]):
        result = runner.invoke(main, ["publish", *args, "--config", str(config), "--store", STORE])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert outputs[0].startswith(
        "published price_book v1 (snapshot: 2; asked for a full snapshot) to "
        "tf/v1/s1/down/price_book, "
    )
    keyring = Keyring({signer.key_id: signer.public_key})
    kinds = set()
    for topic, payload in _retained(mosquitto, f"tf/v1/{STORE}/down/#", 4):
        doc = verify_document(
            payload,
            keyring=keyring,
            identity=DeviceIdentity(TENANT, STORE, DEVICE),
            now=dt.datetime.now(dt.UTC),
            running_version=lambda _k, _s: None,
        )
        assert topic == f"tf/v1/{STORE}/down/{doc.kind}"
        kinds.add(doc.kind)
    assert kinds == {"price_book", "promotion_set", "member_cache", "device_config"}

    status = runner.invoke(main, ["publish", "status", "--config", str(config), "--store", STORE])
    assert status.exit_code == 0, status.output
    assert status.output.split()[:4] == ["device", "kind", "published", "running"]

    config.write_text(config.read_text().replace(str(mosquitto.port), str(free_port())))
    down = runner.invoke(main, ["publish", "promotions", "--config", str(config), "--store", "s1"])
    assert down.exit_code == 1
    assert "cannot reach the broker" in down.output


def test_a_publisher_without_a_broker_says_so() -> None:
    with pytest.raises(PublishError, match="cannot reach the broker"):
        MqttPublisher(BrokerConfig(host="127.0.0.1", port=free_port()), timeout_s=2).connect()


def test_a_publisher_gives_up_a_connect_nobody_answers_after_the_broker_timeout() -> None:
    """``[broker] connect_timeout_s`` governs HQ's publisher as it does the ingest receiver;
    ``--timeout`` (here 60 s) still bounds the whole run."""
    with silent_port(WAIT) as silent:
        broker = BrokerConfig(host="127.0.0.1", port=silent.getsockname()[1], connect_timeout_s=1)
        publisher = MqttPublisher(broker, timeout_s=60)
        with pytest.raises(PublishError, match=r"no CONNACK from 127\.0\.0\.1:\d+ in 1 s"):
            publisher.connect()
        conn, _ = silent.accept()  # its CONNECT was there, left unanswered
        with conn:
            conn.settimeout(WAIT)
            assert conn.recv(1) == CONNECT
