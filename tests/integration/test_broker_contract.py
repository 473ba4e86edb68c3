"""The wire contracts through a real Mosquitto: topics, shared subscriptions, retained documents.

These prove the pieces of ``protocol`` fit the broker as the architecture uses it; the sync issue
builds the till and HQ clients on exactly these behaviours.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hil.services.mosquitto import Mosquitto
from protocol import topics
from protocol.ids import uuid7
from protocol.messages import DocScope, decode_event, encode_event, make_document, make_event
from protocol.messages.downlink import Ack
from protocol.messages.uplink import FeedbackGiven
from protocol.signing import DeviceIdentity, Keyring, sign_document, verify_document
from tests import mqttclients

pytestmark = pytest.mark.mqtt
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
WAIT = 15.0


class Client:
    """A paho client whose callbacks only hand messages to a queue (never work in callbacks)."""

    def __init__(self, broker: Mosquitto, client_id: str) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.paho = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.paho.on_connect = self._on_connect
        self.paho.on_subscribe = self._on_subscribe
        self.paho.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.paho.connect(broker.host, broker.port)
        self.paho.loop_start()
        assert self._connected.wait(WAIT), "no CONNACK from the broker"

    def _on_connect(
        self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: Properties | None
    ) -> None:
        if not rc.is_failure:
            self._connected.set()

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _m: int, rcs: list[ReasonCode], _p: Properties | None
    ) -> None:
        if all(not rc.is_failure for rc in rcs):
            self._subscribed.set()

    def subscribe(self, *filters: str) -> None:
        self._subscribed.clear()
        self.paho.subscribe([(f, 1) for f in filters])
        assert self._subscribed.wait(WAIT), f"subscription to {filters} not granted"

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.paho.publish(topic, payload, qos=1, retain=retain).wait_for_publish(WAIT)

    def close(self) -> None:
        mqttclients.stop(self.paho)


@pytest.fixture
def clients(mosquitto: Mosquitto) -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for c in made:
        c.close()


def _event(seq: int) -> bytes:
    body = FeedbackGiven(
        sale_id=uuid7(1_700_000_000_000 + seq, b"\x01" * 10), rating=5, member_id=None, given_at=NOW
    )
    return encode_event(
        make_event(
            body,
            event_id=uuid7(1_700_000_000_000 + seq, bytes([seq % 256]) * 10),
            tenant="acme",
            store="s-001",
            device="till-1",
            seq=seq,
            occurred_at=NOW,
        )
    )


def test_uplink_events_reach_a_shared_subscription_intact(
    mosquitto: Mosquitto, clients: list[Client]
) -> None:
    worker_a = Client(mosquitto, "ingest-a")
    worker_b = Client(mosquitto, "ingest-b")
    till = Client(mosquitto, "till-1")
    clients += [worker_a, worker_b, till]
    worker_a.subscribe(topics.uplink_filter("ingest"))
    worker_b.subscribe(topics.uplink_filter("ingest"))

    sent = {seq: _event(seq) for seq in range(1, 41)}
    for payload in sent.values():
        till.publish(topics.uplink("s-001", "till-1", "feedback.given"), payload)

    received: dict[int, bytes] = {}
    per_worker = {"a": 0, "b": 0}
    deadline = time.monotonic() + WAIT
    while len(received) < len(sent):
        assert time.monotonic() < deadline, f"only {sorted(received)} arrived"
        for name, worker in (("a", worker_a), ("b", worker_b)):
            try:
                msg = worker.messages.get(timeout=0.05)
            except queue.Empty:
                continue
            t = topics.parse(msg.topic)
            ev = decode_event(msg.payload)
            assert (t.store, t.device, t.name) == (ev.store, ev.device, ev.type)
            assert ev.seq not in received, "a shared subscription delivered a message twice"
            received[ev.seq] = bytes(msg.payload)
            per_worker[name] += 1
    assert received == sent
    assert per_worker["a"] > 0, per_worker
    assert per_worker["b"] > 0, per_worker


def test_a_retained_signed_document_reaches_a_till_that_connects_later(
    mosquitto: Mosquitto, clients: list[Client]
) -> None:
    hq_key = Ed25519PrivateKey.generate()
    doc = make_document(
        Ack(up_to_seq=12),
        doc_id=uuid7(1_700_000_000_000, b"\x09" * 10),
        scope=DocScope(tenant="acme", store="s-001", device="till-1"),
        version=12,
        issued_at=NOW,
        expires_at=NOW + dt.timedelta(days=30),
    )
    hq = Client(mosquitto, "hq-publisher")
    clients.append(hq)
    hq.publish(
        topics.device_downlink("s-001", "till-1", "ack"),
        sign_document(doc, hq_key, "hq-1"),
        retain=True,
    )

    till = Client(mosquitto, "till-1")
    clients.append(till)
    till.subscribe(*topics.device_subscriptions("s-001", "till-1"))
    msg = till.messages.get(timeout=WAIT)
    assert msg.retain
    got = verify_document(
        msg.payload,
        keyring=Keyring({"hq-1": hq_key.public_key()}),
        identity=DeviceIdentity("acme", "s-001", "till-1"),
        now=NOW,
        running_version=lambda kind, scope: None,
    )
    assert got == doc
