"""The ingest worker end to end: a real Mosquitto, tills publishing as tills do, a real database.

A :class:`FakeTill` publishes encoded events with QoS 1 on its uplink topics and listens on its
own ``down/ack`` and ``down/command`` topics, verifying every document with HQ's public key as
the till's keyring would. Nothing waits by sleeping: tests wait on queues of received
documents, on the worker's metrics condition, or on lines the worker process logs. HQ acks an
event once it is stored, before it is projected: a test reading the projected tables (sales,
feedback...) first waits for :meth:`IngestWorker.wait_projected`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from fleet.config import BrokerConfig, FleetConfig, IngestConfig, KeysConfig
from fleet.db import Connection, DeviceKey, backlog, connect, seq_state
from fleet.ingest import Incoming, IngestWorker
from fleet.ingest.worker import writer_for
from fleet.keys import Signer
from hil.services.mosquitto import Mosquitto
from hil.services.slow_link import slow_link
from protocol import topics
from protocol.messages import Body, Document
from protocol.messages.downlink import Ack, Command, ResendFrom
from protocol.signing import DeviceIdentity, Keyring, verify_document
from tests import mqttclients, mqttwire
from tests.fleet import samples
from tests.silentbroker import CONNECT, leave_unanswered, silent_port

pytestmark = pytest.mark.mqtt
WAIT = 30.0
ROOT = Path(__file__).resolve().parents[2]
FLEET_BIN = Path(sys.executable).parent / "fleet"


class FakeTill:
    """Publishes uplink events like a till and collects the verified documents HQ sends it."""

    def __init__(self, broker: Mosquitto, signer: Signer, device: str = "till-1") -> None:
        self.device = device
        self.identity = DeviceIdentity(tenant="acme", store="s-001", device=device)
        self.keyring = Keyring({signer.key_id: signer.public_key})
        self.docs: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._ready = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"fake-{device}", protocol=mqtt.MQTTv5
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self._ready.set()
        self.client.on_message = lambda _c, _u, m: self.docs.put((m.topic, bytes(m.payload)))
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._ready.wait(WAIT), "the fake till did not get its subscription"
        self.acked = 0

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: Properties | None
    ) -> None:
        assert not rc.is_failure
        client.subscribe(
            [(topics.device_downlink("s-001", self.device, k), 1) for k in ("ack", "command")]
        )

    def publish(self, body: Body, seq: int, **kwargs: object) -> None:
        payload = samples.wire(body, seq, device=self.device, **kwargs)
        self.publish_raw(topics.uplink("s-001", self.device, body.TYPE), payload)

    def publish_raw(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(WAIT)

    def _verify(self, data: bytes) -> Document[Body]:
        return verify_document(
            data,
            keyring=self.keyring,
            identity=self.identity,
            now=dt.datetime.now(dt.UTC),
            running_version=lambda _k, _s: None,
        )

    def next_doc(self, kind: str, timeout: float = WAIT) -> Document[Body]:
        """The next verified document of ``kind`` (documents of other kinds are kept aside)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {kind} document for {self.device} within {timeout}s"
            try:
                topic, data = self.docs.get(timeout=remaining)
            except queue.Empty:
                continue
            doc = self._verify(data)
            assert topic == topics.device_downlink("s-001", self.device, doc.kind)
            if isinstance(doc.body, Ack):
                self.acked = max(self.acked, doc.body.up_to_seq)
            if doc.kind == kind:
                return doc

    def wait_acked(self, up_to: int, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while self.acked < up_to:
            self.next_doc("ack", max(0.01, deadline - time.monotonic()))

    def close(self) -> None:
        mqttclients.stop(self.client)


def _config(
    broker: Mosquitto, db_url: str, key_dir: Path, *, client_id: str = "ingest-1", **ingest: object
) -> FleetConfig:
    settings: dict[str, object] = {
        "client_id": client_id,
        "batch_max": 50,
        "batch_wait_ms": 20,
        "reorder_timeout_s": 1.0,
        "max_inflight": 200,
        "metrics_interval_s": 1.0,
        **ingest,
    }
    return FleetConfig(
        tenant="acme",
        db_url=db_url,
        keys=KeysConfig(dir=key_dir, active="hq-1"),
        broker=BrokerConfig(host=broker.host, port=broker.port),
        ingest=IngestConfig(**settings),  # type: ignore[arg-type]
    )


@contextmanager
def running(worker: IngestWorker) -> Iterator[IngestWorker]:
    worker.start()
    try:
        assert worker.subscribed.wait(WAIT), "the worker's subscription was not granted"
        yield worker
    finally:
        worker.stop()
        worker.join(WAIT)


@pytest.fixture
def tills(mosquitto: Mosquitto, signer: Signer) -> Iterator[list[FakeTill]]:
    made: list[FakeTill] = []
    yield made
    for till in made:
        till.close()


def test_events_are_stored_and_acknowledged_with_a_signed_contiguous_mark(
    mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer, tills: list[FakeTill]
) -> None:
    till = FakeTill(mosquitto, signer)
    tills.append(till)
    worker = IngestWorker(_config(mosquitto, fleet_db_url, key_dir), signer)
    with running(worker):
        for seq in range(1, 11):
            till.publish(samples.sale(seq), seq)
        till.wait_acked(10)
        assert worker.wait_projected(WAIT)
    with connect(fleet_db_url) as db:
        assert db.scalar("SELECT count(*) AS n FROM sales") == 10
        assert db.scalar("SELECT count(*) AS n FROM sale_lines") == 30
        assert seq_state(db, DeviceKey("acme", "s-001", "till-1")).hwm == 10
    snap = worker.metrics.snapshot()
    assert (snap["applied"], snap["duplicates"], snap["dead_letters"]) == (10, 0, 0)
    assert (snap["projected"], snap["projection_errors"]) == (10, 0)
    assert snap["lag_ms_max"] >= snap["lag_ms_p50"] > 0  # samples occurred at a fixed past time


def test_a_worker_told_to_stop_while_its_helpers_start_takes_no_message(
    mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer
) -> None:
    worker = IngestWorker(_config(mosquitto, fleet_db_url, key_dir), signer)
    worker.stop()  # e.g. SIGTERM from systemd during start-up
    worker.run()  # returns: does not sit out the helpers' start-up timeout, raises nothing
    assert worker._pipe is None  # the receiver (the broker session) was never started
    assert not worker.subscribed.is_set()


def test_a_connect_nobody_answers_is_given_up_and_tried_again(
    mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer
) -> None:
    """A broker port that accepts and then says nothing (a hung broker): after
    ``connect_timeout_s`` the receiver closes that connection and tries again, rather than
    waiting for paho's keepalive check (30 s by default, 45 s with its grace)."""
    config = _config(mosquitto, fleet_db_url, key_dir)
    with silent_port(WAIT) as silent:
        broker = dataclasses.replace(
            config.broker, port=silent.getsockname()[1], keepalive_s=60, connect_timeout_s=1
        )
        worker = IngestWorker(dataclasses.replace(config, broker=broker), signer)
        worker.start()
        try:
            first, held_s = leave_unanswered(silent, WAIT)
            assert held_s >= 0.8  # not before its timeout
            second, _ = silent.accept()  # and then it tries again
            second.settimeout(WAIT)
            assert second.recv(65536)[:1] == CONNECT
            second.close()
            first.close()
            assert not worker.subscribed.is_set()
        finally:
            worker.stop()
            worker.join(WAIT)


def test_the_retained_ack_reaches_a_till_that_connects_later(
    mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer, tills: list[FakeTill]
) -> None:
    publisher = FakeTill(mosquitto, signer, device="till-2")
    tills.append(publisher)
    with running(IngestWorker(_config(mosquitto, fleet_db_url, key_dir), signer)):
        for seq in (1, 2, 3):
            publisher.publish(samples.feedback(), seq)
        publisher.wait_acked(3)
    publisher.close()
    tills.remove(publisher)
    later = FakeTill(mosquitto, signer, device="till-2")
    tills.append(later)
    doc = later.next_doc("ack")
    assert doc.body == Ack(up_to_seq=3)
    assert doc.version == 3
    assert doc.scope.device == "till-2"
    assert doc.expires_at - doc.issued_at == dt.timedelta(hours=12)


def test_duplicates_and_reordering_are_applied_once(
    mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer, tills: list[FakeTill]
) -> None:
    till = FakeTill(mosquitto, signer)
    tills.append(till)
    worker = IngestWorker(_config(mosquitto, fleet_db_url, key_dir), signer)
    with running(worker):
        for seq in (3, 1, 1, 4, 2, 3, 2):
            till.publish(samples.feedback(), seq)
        till.wait_acked(4)
        assert worker.metrics.wait_until(lambda m: m["messages"] == 7, WAIT)
        assert worker.wait_projected(WAIT)
    snap = worker.metrics.snapshot()
    assert (snap["applied"], snap["duplicates"], snap["projected"]) == (4, 3, 4)
    with connect(fleet_db_url) as db:
        assert db.scalar("SELECT count(*) AS n FROM feedback") == 4


def test_garbage_wrong_topics_and_forged_envelopes_become_dead_letters(
    mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer, tills: list[FakeTill]
) -> None:
    till = FakeTill(mosquitto, signer)
    tills.append(till)
    worker = IngestWorker(_config(mosquitto, fleet_db_url, key_dir), signer)
    forged = samples.wire(samples.feedback(), 1, device="till-7")  # claims to be another till
    wrong_type = samples.wire(samples.feedback(), 1)
    with running(worker):
        till.publish_raw(topics.uplink("s-001", "till-1", "feedback.given"), b"\xff\x00 garbage")
        till.publish_raw(topics.uplink("s-001", "till-1", "feedback.given"), forged)
        till.publish_raw(topics.uplink("s-001", "till-1", "sale.completed"), wrong_type)
        till.publish_raw("tf/v1/s-001/status/up/feedback.given", wrong_type)
        till.publish(samples.feedback(), 1)
        till.wait_acked(1)
        assert worker.metrics.wait_until(lambda m: m["messages"] == 5, WAIT)
    assert worker.metrics.snapshot()["dead_letters"] == 4
    with connect(fleet_db_url) as db:
        rows = db.execute("SELECT topic, error_path, payload FROM dead_letters")
        assert db.scalar("SELECT count(*) AS n FROM events") == 1
    assert sorted((r["topic"], r["error_path"]) for r in rows) == sorted(
        [
            ("tf/v1/s-001/till-1/up/feedback.given", "$"),
            ("tf/v1/s-001/till-1/up/feedback.given", "$.device"),
            ("tf/v1/s-001/till-1/up/sale.completed", "$.type"),
            ("tf/v1/s-001/status/up/feedback.given", None),
        ]
    )
    assert {bytes(r["payload"]) for r in rows} == {b"\xff\x00 garbage", forged, wrong_type}


def test_a_gap_that_outlives_the_reorder_timeout_triggers_one_signed_resend_request(
    mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer, tills: list[FakeTill]
) -> None:
    till = FakeTill(mosquitto, signer)
    tills.append(till)
    worker = IngestWorker(_config(mosquitto, fleet_db_url, key_dir, reorder_timeout_s=0.5), signer)
    with running(worker):
        for seq in (1, 2, 5, 6):
            till.publish(samples.feedback(), seq)
        till.wait_acked(2)
        command = till.next_doc("command")
        assert command.body == Command(command=ResendFrom(from_seq=3, to_seq=4))
        assert command.scope.device == "till-1"
        assert command.version == 1
        for seq in (3, 4):  # the till resends
            till.publish(samples.feedback(), seq)
        till.wait_acked(6)
        # no second request once the gap is filled, even after several timeouts
        assert not worker.metrics.wait_until(lambda m: m["resends_requested"] > 1, 1.5)
    snap = worker.metrics.snapshot()
    assert (snap["gaps_detected"], snap["resends_requested"]) == (1, 1)


def test_an_unfilled_gap_is_asked_for_again_no_sooner_than_the_timeout(
    mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer, tills: list[FakeTill]
) -> None:
    till = FakeTill(mosquitto, signer)
    tills.append(till)
    worker = IngestWorker(_config(mosquitto, fleet_db_url, key_dir, reorder_timeout_s=0.5), signer)
    with running(worker):
        till.publish(samples.feedback(), 2)
        first = till.next_doc("command")
        t0 = time.monotonic()
        second = till.next_doc("command")
        assert time.monotonic() - t0 >= 0.4
    assert first.body == second.body == Command(command=ResendFrom(from_seq=1, to_seq=1))
    assert second.version == first.version + 1


def test_two_workers_split_a_shared_subscription_and_totals_match(
    mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer, tills: list[FakeTill]
) -> None:
    devices = ("till-1", "till-2", "till-3")
    per_till = 40
    fakes = [FakeTill(mosquitto, signer, device=d) for d in devices]
    tills.extend(fakes)
    a = IngestWorker(_config(mosquitto, fleet_db_url, key_dir, client_id="ingest-a"), signer)
    b = IngestWorker(_config(mosquitto, fleet_db_url, key_dir, client_id="ingest-b"), signer)
    with running(a), running(b):
        for seq in range(1, per_till + 1):
            for n, till in enumerate(fakes):
                till.publish(samples.sale(seq, lines=2, till_no=n), seq)
        for till in fakes:
            till.wait_acked(per_till)
        assert a.wait_projected(WAIT)
        assert b.wait_projected(WAIT)
    # both stopped: each finished, and counted, the batch it had in hand
    total = len(devices) * per_till
    ma, mb = a.metrics.snapshot(), b.metrics.snapshot()
    assert ma["messages"] > 0
    assert mb["messages"] > 0
    assert ma["applied"] + mb["applied"] == total
    assert ma["duplicates"] + mb["duplicates"] == 0
    # each event projected once, by whichever worker took it off the queue first
    assert ma["projected"] + mb["projected"] == total
    assert ma["projection_errors"] + mb["projection_errors"] == 0
    with connect(fleet_db_url) as db:
        assert db.scalar("SELECT count(*) AS n FROM events") == total
        assert backlog(db) == 0
        assert db.scalar("SELECT count(*) AS n FROM sales") == total
        assert db.scalar("SELECT count(*) AS n FROM sale_lines") == 2 * total
        assert db.scalar("SELECT SUM(total) AS t FROM sales") == sum(
            samples.sale(seq, lines=2).total for seq in range(1, per_till + 1)
        ) * len(devices)
        for device in devices:
            assert seq_state(db, DeviceKey("acme", "s-001", device)).hwm == per_till


def _devices_on_two_writers() -> tuple[str, str]:
    """Two till ids of store ``s-001`` that a worker with two writers deals to different ones."""
    lane = functools.partial(writer_for, writers=2)
    first = "till-1"
    other = next(
        d
        for d in (f"till-{n}" for n in range(2, 100))
        if lane(topics.status("s-001", d)) != lane(topics.status("s-001", first))
    )
    return first, other


@contextmanager
def _a_batch_waiting_for_a_lock(db_url: str, till: FakeTill, seq: int) -> Iterator[None]:
    """Hold ``till``'s device row locked while it publishes ``seq``: the block runs once its
    batch waits for the lock (PostgreSQL only), which goes when the block ends."""
    with connect(db_url) as db, db.transaction():
        db.execute("SELECT 1 FROM devices WHERE device = ? FOR UPDATE", [till.device])
        till.publish(samples.feedback(), seq)
        deadline = time.monotonic() + WAIT
        # No event to wait on inside the server: look until the batch waits for the lock.
        while not db.scalar(
            "SELECT count(*) AS n FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ):
            assert time.monotonic() < deadline, f"{till.device}'s batch never met the lock"
        yield


@pytest.mark.postgres
@pytest.mark.parametrize("fleet_db_url", ["postgres"], indirect=True)
def test_a_batch_waiting_for_a_lock_holds_up_no_device_of_the_other_writer(
    mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer, tills: list[FakeTill]
) -> None:
    """Two writers store two batches at once: a batch stuck behind a lock (here the test's; in
    production another worker's) does not stop the devices dealt to the other writer."""
    held, free = (FakeTill(mosquitto, signer, device=d) for d in _devices_on_two_writers())
    tills.extend((held, free))
    worker = IngestWorker(_config(mosquitto, fleet_db_url, key_dir, writers=2), signer)
    with running(worker):
        for till in (held, free):
            till.publish(samples.feedback(), 1)
            till.wait_acked(1)
        with _a_batch_waiting_for_a_lock(fleet_db_url, held, 2):
            free.publish(samples.feedback(), 2)
            free.wait_acked(2)  # stored, committed and acknowledged meanwhile
            assert held.docs.empty()
            assert worker.metrics.snapshot()["applied"] == 3
        held.wait_acked(2)  # the lock is gone: the waiting batch goes through
    assert worker.metrics.snapshot()["applied"] == 4


@pytest.mark.postgres
@pytest.mark.parametrize("fleet_db_url", ["postgres"], indirect=True)
def test_pubacks_leave_in_arrival_order_though_the_writers_store_out_of_it(
    mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer, tills: list[FakeTill]
) -> None:
    """MQTT asks for PUBACKs in the order the PUBLISHes came ([MQTT-4.6.0-2]). The second
    writer stores a later message while the first waits for a lock; its PUBACK waits too."""
    held, free = (FakeTill(mosquitto, signer, device=d) for d in _devices_on_two_writers())
    tills.extend((held, free))
    wire: dict[bool, bytearray] = {True: bytearray(), False: bytearray()}
    broker = (mosquitto.host, mosquitto.port)
    with slow_link(broker, 0, lambda from_worker, data: wire[from_worker].extend(data)) as tap:
        config = _config(mosquitto, fleet_db_url, key_dir, writers=2)
        config = dataclasses.replace(config, broker=BrokerConfig(host=tap.host, port=tap.port))
        with running(IngestWorker(config, signer)):
            for till in (held, free):
                till.publish(samples.feedback(), 1)
                till.wait_acked(1)
            with _a_batch_waiting_for_a_lock(fleet_db_url, held, 2):
                free.publish(samples.feedback(), 2)
                free.wait_acked(2)  # stored and committed: its PUBACK is due, and held back
            held.wait_acked(2)
    arrived = mqttwire.publishes(bytes(wire[False]))
    uplinks = [mid for topic, mid in arrived if "/up/" in topic]
    assert len(uplinks) == 4
    acked = mqttwire.pubacks(bytes(wire[True]))
    assert uplinks[2:] == [m for m in acked if m in uplinks[2:]]  # held's, then free's
    assert acked == [mid for _topic, mid in arrived][: len(acked)]


@pytest.mark.postgres
@pytest.mark.parametrize("fleet_db_url", ["postgres"], indirect=True)
def test_a_batch_that_waited_for_a_lock_is_no_pause_for_projection(
    mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer, tills: list[FakeTill]
) -> None:
    """While a batch waits for a lock (in production, another worker's transaction), nothing
    new arrives: the worker's in-flight window is full. A projection round started in that
    silence would take the write lock too and hold up every worker's next batch; the pacer
    counts the quiet from when the batch was written, not from when it arrived."""
    till = FakeTill(mosquitto, signer)
    tills.append(till)
    worker = IngestWorker(_config(mosquitto, fleet_db_url, key_dir), signer)
    with running(worker):
        till.publish(samples.feedback(), 1)
        till.wait_acked(1)
        with _a_batch_waiting_for_a_lock(fleet_db_url, till, 2):
            released = time.monotonic()
        till.wait_acked(2)
        assert worker._pacer.last_busy >= released
        assert worker._pacer.hold(released) > 0  # the round waits for a pause after the write


class _SecondWriterBreaks(IngestWorker):
    """A worker whose second writer has a bug (there is no message that makes one, so the bug
    is put in)."""

    def _process(self, conn: Connection, batch: list[Incoming]) -> Connection:
        if threading.current_thread().name.startswith("ingest-writer-1-"):
            raise RuntimeError("a bug in the second writer")
        return super()._process(conn, batch)


def test_a_writer_that_fails_stops_the_worker_with_its_error_and_loses_nothing(
    mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer, tills: list[FakeTill]
) -> None:
    _, device = _devices_on_two_writers()
    assert writer_for(topics.status("s-001", device), 2) == 1
    till = FakeTill(mosquitto, signer, device=device)
    tills.append(till)
    config = _config(mosquitto, fleet_db_url, key_dir, writers=2)
    broken = _SecondWriterBreaks(config, signer)
    ended = threading.Event()

    def publish_then_watch() -> None:
        assert broken.subscribed.wait(WAIT)
        till.publish(samples.feedback(), 1)
        if not ended.wait(WAIT):
            broken.stop()  # it did not fail: end it, and pytest.raises below says so

    helper = threading.Thread(target=publish_then_watch)
    helper.start()
    try:
        with pytest.raises(RuntimeError, match="a bug in the second writer"):
            broken.run()
    finally:
        ended.set()
        helper.join(WAIT)
    assert till.docs.empty()  # nothing acknowledged...
    with connect(fleet_db_url) as db:
        assert db.scalar("SELECT count(*) AS n FROM events") == 0
    # ...so the broker kept it for the worker's session, and the next run stores it.
    with running(IngestWorker(config, signer)):
        till.wait_acked(1)


# -- the worker as its own process -------------------------------------------------------------


class WorkerProcess:
    """`fleet ingest --config ...` as operators run it; its JSON log lines are read as they come."""

    def __init__(self, config: Path) -> None:
        self.lines: queue.Queue[dict[str, object]] = queue.Queue()
        self.proc = subprocess.Popen(
            [str(FLEET_BIN), "ingest", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                self.lines.put(json.loads(line))
            except json.JSONDecodeError:
                self.lines.put({"msg": "raw", "line": line})

    def wait_for(
        self,
        msg: str,
        timeout: float = WAIT,
        where: Callable[[dict[str, object]], bool] = lambda _line: True,
    ) -> dict[str, object]:
        """The next line logged as ``msg`` for which ``where`` holds (earlier ones are read
        and dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"the worker never logged {msg!r} as wanted"
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line.get("msg") == msg and where(line):
                return line

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(WAIT)
        self._close()

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(WAIT)
        self._close()
        return code

    def _close(self) -> None:
        self._pump_thread.join(WAIT)  # the pipe reaches EOF once the process is gone
        assert self.proc.stderr is not None
        self.proc.stderr.close()


def _write_config(path: Path, broker: Mosquitto, db_url: str, key_dir: Path) -> Path:
    path.write_text(
        f"""
[fleet]
tenant = "acme"
db_url = "{db_url}"

[broker]
host = "{broker.host}"
port = {broker.port}

[keys]
dir = "{key_dir}"
active = "hq-1"

[ingest]
client_id = "ingest-proc"
batch_max = 20
batch_wait_ms = 10
reorder_timeout_s = 5
max_inflight = 100
metrics_interval_s = 1
"""
    )
    return path


@pytest.mark.slow
def test_a_worker_killed_mid_batch_and_restarted_loses_nothing_and_doubles_nothing(
    mosquitto: Mosquitto, tmp_path: Path, key_dir: Path, signer: Signer, tills: list[FakeTill]
) -> None:
    db_url = f"sqlite://{tmp_path / 'fleet.db'}"
    config = _write_config(tmp_path / "fleet.toml", mosquitto, db_url, key_dir)
    total = 400
    till = FakeTill(mosquitto, signer)
    tills.append(till)

    first = WorkerProcess(config)
    try:
        first.wait_for("subscribed")
        infos = [
            till.client.publish(
                topics.uplink("s-001", "till-1", "sale.completed"),
                samples.wire(samples.sale(seq, lines=2), seq),
                qos=1,
            )
            for seq in range(1, total + 1)
        ]
        till.wait_acked(1)  # it is working through the backlog now
    finally:
        first.kill()
    with connect(db_url) as db:
        stored_at_kill = db.scalar("SELECT count(*) AS n FROM events")
        # stored, not projected yet (the killed worker's projector may still commit the round
        # it had in hand, so this is an upper bound of what the next worker projects of them)
        queued_at_kill = backlog(db)
    assert stored_at_kill < total, "the worker finished before the kill; the test proved nothing"
    for info in infos:
        info.wait_for_publish(WAIT)

    second = WorkerProcess(config)
    try:
        second.wait_for("subscribed")
        till.wait_acked(total, timeout=60)
        # its periodic metrics: every event stored (the counters are read before the backlog)
        # and none left to project
        second.wait_for(
            "metrics",
            timeout=60,
            where=lambda m: (
                m["applied"] == total - stored_at_kill and m.get("projection_backlog") == 0
            ),
        )
        assert second.terminate() == 0
    finally:
        if second.proc.poll() is None:
            second.kill()
    stopped = second.wait_for("stopped")
    assert stopped["applied"] == total - stored_at_kill
    assert stopped["projection_errors"] == 0
    projected = stopped["projected"]
    assert isinstance(projected, int)
    assert total - stored_at_kill <= projected <= total - stored_at_kill + queued_at_kill
    with connect(db_url) as db:
        assert db.one("SELECT count(*) AS n, count(DISTINCT seq) AS d FROM events") == {
            "n": total,
            "d": total,
        }
        assert backlog(db) == 0
        assert db.scalar("SELECT count(*) AS n FROM sales") == total
        assert db.scalar("SELECT count(*) AS n FROM sale_lines") == 2 * total
        assert db.scalar("SELECT count(*) AS n FROM dead_letters") == 0
        assert seq_state(db, DeviceKey("acme", "s-001", "till-1")).hwm == total
