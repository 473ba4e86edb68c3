"""Faults injected between the broker and the ingest worker: duplicates, reordering, delays and a
lost message, with a real till on one side and the real ingest worker on the other.

The till talks to broker A, HQ's ingest worker to broker B. A relay in the middle moves uplink
from A to B and downlink (acks, commands) from B to A, and misbehaves on the way up: every
message is sent twice, batches are shuffled and held back, and one sale is dropped for good. HQ
must apply each event once, see the gap, ask for a resend with a signed command, and end with
exactly the till's sales — and the till's outbox must empty.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from fleet.db import connect
from fleet.ingest import IngestWorker
from fleet.keys import Signer
from hil.services.mosquitto import Mosquitto
from protocol import topics
from protocol.messages import decode_event
from tests import mqttclients
from tests.edge.tillkit import open_till, ready
from tests.fleet.test_ingest import _config
from tests.integration.test_till_to_hq import WAIT, _depth, _sell, running, syncing

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]


class Relay:
    """Uplink A→B with faults; downlink B→A as is."""

    def __init__(self, a: Mosquitto, b: Mosquitto, *, drop_seq: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.drop_seq = drop_seq
        self.dropped = 0
        self.forwarded = 0
        self._held: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.up_in = self._client(a, "relay-up-in", topics.uplink_filter(), self._on_uplink)
        self.up_out = self._client(b, "relay-up-out", None, None)
        self.down_in = self._client(b, "relay-down-in", "tf/v1/+/+/down/#", self._on_downlink)
        self.down_out = self._client(a, "relay-down-out", None, None)
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, daemon=True)
        self._flusher.start()

    def _client(self, broker: Mosquitto, cid: str, flt: str | None, handler: Any) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        if flt is not None:
            c.on_connect = lambda cl, *_: cl.subscribe(flt, qos=1)
            c.on_message = handler
        c.connect(broker.host, broker.port)
        c.loop_start()
        return c

    def _on_uplink(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        payload = bytes(msg.payload)
        if decode_event(payload).seq == self.drop_seq and self.dropped == 0:
            self.dropped += 1  # lost for good: only a resend can bring it
            return
        with self._lock:
            self._held += [(msg.topic, payload), (msg.topic, payload)]  # every message twice

    def _flush_loop(self) -> None:
        # Every 50 ms, release what was held, shuffled: reordered and delayed deliveries.
        while not self._stop.wait(0.05):
            with self._lock:
                batch, self._held = self._held, []
            self.rng.shuffle(batch)
            for topic, payload in batch:
                self.up_out.publish(topic, payload, qos=1)
                self.forwarded += 1

    def _on_downlink(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.down_out.publish(msg.topic, bytes(msg.payload), qos=1, retain=msg.retain)

    def close(self) -> None:
        self._stop.set()
        self._flusher.join(5)
        for c in (self.up_in, self.up_out, self.down_in, self.down_out):
            mqttclients.stop(c)


@pytest.fixture
def broker_b(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "broker-b")
    broker.start()
    yield broker
    broker.stop()


@contextmanager
def relaying(a: Mosquitto, b: Mosquitto, drop_seq: int) -> Iterator[Relay]:
    relay = Relay(a, b, drop_seq=drop_seq)
    try:
        yield relay
    finally:
        relay.close()


def test_duplicates_reordering_delays_and_a_lost_message_end_in_exactly_the_tills_sales(
    tmp_path: Path,
    mosquitto: Mosquitto,
    broker_b: Mosquitto,
    fleet_db_url: str,
    key_dir: Path,
    signer: Signer,
) -> None:
    path = tmp_path / "till.db"
    till = ready(open_till(path))
    _sell(till, 20)
    config = _config(broker_b, fleet_db_url, key_dir, reorder_timeout_s=0.5)
    with (
        relaying(mosquitto, broker_b, drop_seq=5) as relay,
        running(IngestWorker(config, signer)) as worker,
        # The till never republishes on its own here: only HQ's resend request can fill the gap.
        syncing(path, mosquitto, signer, ack_timeout_s=3600) as sync,
    ):
        assert sync.wait_for(lambda _s: _depth(path) == 0, WAIT), (sync.stats, relay.dropped)
        assert relay.dropped == 1
        assert relay.forwarded >= 2 * 20
        assert sync.stats.acks > 0
        assert "command" in sync.stats.applied  # HQ's signed resend_from
        assert sync.stats.republished == 0
        assert worker.wait_projected(WAIT)
        metrics = worker.metrics.snapshot()
    assert metrics.get("resends_requested", 0) >= 1, metrics
    assert metrics.get("duplicates", 0) >= 20, metrics
    assert (metrics["projected"], metrics["projection_errors"]) == (metrics["applied"], 0), metrics
    with connect(fleet_db_url) as hq:
        assert hq.scalar("SELECT COUNT(*) FROM sales") == 20
        assert hq.scalar("SELECT COUNT(DISTINCT receipt_no) FROM sales") == 20
        seqs = [int(r["seq"]) for r in hq.execute("SELECT seq FROM events ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))
