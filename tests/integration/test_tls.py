"""TLS with client certificates, end to end: a till and the HQ ingest worker each present their
own certificate to a Mosquitto that requires one (its common name is the broker user); sales
arrive and are acked exactly as over plain TCP. A client without a certificate gets nowhere.

Also the receiver's read-ahead under TLS: decrypted bytes wait in the SSL object, where select()
cannot see them (see ``fleet.ingest.readahead``)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from fleet import broker as fb
from fleet.config import BrokerConfig
from fleet.db import connect
from fleet.ingest import IngestWorker
from fleet.keys import Signer
from hil.services.mosquitto import Mosquitto, running_broker
from protocol import topics
from tests.edge.tillkit import config, open_till, ready
from tests.fleet import samples
from tests.fleet.test_broker_acl import (
    ACCEPTED,
    DEVICES,
    NOT_AUTHORIZED,
    NOW,
    TENANT,
    Peer,
)
from tests.fleet.test_ingest import _config
from tests.integration.test_till_to_hq import WAIT, _depth, _sell, running, syncing
from tests.tlskit import TestCA

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]


@pytest.fixture
def pki(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "pki")


@pytest.fixture
def tls_broker(tmp_path: Path, pki: TestCA) -> Iterator[Mosquitto]:
    server = pki.server()
    settings = [
        "user root",  # as root (CI containers) Mosquitto would drop to a user that cannot read
        f"cafile {pki.ca_file}",
        f"certfile {server.cert}",
        f"keyfile {server.key}",
        "require_certificate true",
        "use_identity_as_username true",
    ]
    with running_broker(tmp_path / "mosquitto", extra_config="\n".join(settings)) as broker:
        yield broker


def test_a_till_and_hq_with_their_certificates_sync_over_tls(
    tmp_path: Path,
    tls_broker: Mosquitto,
    pki: TestCA,
    fleet_db_url: str,
    key_dir: Path,
    signer: Signer,
) -> None:
    c = config()
    till_id = pki.client(c.device)
    hq_id = pki.client("fleet-ingest")
    path = tmp_path / "till.db"
    _sell(ready(open_till(path)), 40)
    hq = _config(tls_broker, fleet_db_url, key_dir)
    hq = replace(
        hq,
        broker=BrokerConfig(
            host=tls_broker.host,
            port=tls_broker.port,
            ca_file=pki.ca_file,
            cert_file=hq_id.cert,
            key_file=hq_id.key,
        ),
    )
    with (
        running(IngestWorker(hq, signer)) as worker,
        syncing(
            path,
            tls_broker,
            signer,
            ca_file=pki.ca_file,
            cert_file=till_id.cert,
            key_file=till_id.key,
        ) as sync,
    ):
        assert sync.wait_for(lambda _s: _depth(path) == 0, WAIT), sync.stats
        assert worker.wait_projected(WAIT)
    with connect(fleet_db_url) as db:
        assert db.scalar("SELECT count(*) AS n FROM events WHERE type = 'sale.completed'") == 40
        assert db.scalar("SELECT count(*) AS n FROM sales") == 40


def test_a_client_without_a_certificate_is_turned_away(tls_broker: Mosquitto, pki: TestCA) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="nobody", protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(pki.ca_file))  # trusts the broker, but brings no identity
    connected = threading.Event()
    client.on_connect = lambda *_a: connected.set()
    try:
        client.connect(tls_broker.host, tls_broker.port)
        # The broker ends the handshake (or the first read) for want of a certificate.
        for _ in range(50):
            rc = client.loop(timeout=0.2)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                break
        else:
            pytest.fail("the broker kept a connection that showed no certificate")
    except (ssl.SSLError, ConnectionError, OSError):
        pass  # refused during the handshake: what we want
    finally:
        client.loop_stop()
    assert not connected.is_set()


def test_a_certificates_common_name_is_the_user_the_fleet_acl_confines(
    tmp_path: Path, pki: TestCA
) -> None:
    """The production path of ``fleet.broker``: the files ``fleet broker-config`` writes, on a
    TLS listener that takes the certificate's common name as the user. A till with its own
    certificate may publish under its own topics and not under another till's."""
    registry = tmp_path / "registry"
    with connect(f"sqlite://{tmp_path / 'registry.db'}") as conn:
        for key in DEVICES:
            fb.register_device(conn, key.tenant, key.store, key.device, now=NOW)
        files = fb.write_broker_files(
            registry,
            fb.registered_devices(conn, TENANT),
            fb.create_secret(registry / fb.SECRET_FILE),
            tenant=TENANT,
        )
    server = pki.server()
    listener = [
        "user root",
        f"cafile {pki.ca_file}",
        f"certfile {server.cert}",
        f"keyfile {server.key}",
        "require_certificate true",
        "use_identity_as_username true",
        files.conf_file.read_text(),
    ]
    with running_broker(tmp_path / "mosquitto", extra_config="\n".join(listener)) as broker:
        till_1 = pki.client("till-1")
        ingest_id = pki.client(fb.INGEST_USER)
        peers = [
            Peer(
                broker,
                None,
                None,
                client_id="ingest",
                subscribe=[topics.uplink_filter("ingest")],
                tls=(pki.ca_file, ingest_id.cert, ingest_id.key),
            ),
            Peer(broker, None, None, client_id="t1", tls=(pki.ca_file, till_1.cert, till_1.key)),
        ]
        try:
            ingest, till = (peer.ready() for peer in peers)
            sale = samples.wire(samples.sale(1), 1, device="till-2")
            forged = topics.uplink("s-001", "till-2", "sale.completed")
            assert till.publish(forged, sale) == NOT_AUTHORIZED
            own = topics.uplink("s-001", "till-1", "sale.completed")
            assert till.publish(own, samples.wire(samples.sale(1), 1)) in ACCEPTED
            assert ingest.until(own) == []  # the forged one never reached HQ
        finally:
            for peer in peers:
                peer.close()
