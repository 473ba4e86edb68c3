"""The ingest worker: uplink events from the broker into the fleet database, exactly once.

Threads: paho's network thread only turns a PUBLISH into an :class:`Incoming` on a queue (work in
a paho callback would stall the connection and publishing from one can deadlock); one worker
thread takes batches from the queue (up to ``batch_max`` messages or ``batch_wait_ms``), applies
each batch in one transaction, and only after COMMIT acknowledges the messages to the broker
(``manual_ack``), so a worker killed mid-batch leaves them to be redelivered — to itself when it
comes back (the broker keeps its persistent session) — and the unique ``event_id`` makes the
redelivery harmless. Then it publishes, per device touched, a signed ``ack`` document with the
device's contiguous high-water mark: that, not the broker's PUBACK, lets the till delete its
outbox rows.

A packet id is only meaningful on the connection that delivered it: after a reconnect the broker
resends what was unacknowledged under the same ids, so messages of an older connection are
still applied (harmless duplicates) but never acknowledged, lest a recycled id acknowledge a
different message that is not stored yet.

Gaps: for devices with seqs stored above their mark, a :class:`SeqTracker` and a
:class:`ResendPolicy` wait out the reorder timeout, then — after re-reading the database, since
another worker of the share group may have filled the gap — publish a signed
``command``/``resend_from`` for the missing range.

Each worker also follows every till's retained ``status`` topic into the devices table
(``fleet.ingest.status``), through the same queue, batches and acknowledgements.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from fleet.config import FleetConfig
from fleet.db import Connection, DatabaseError, DeviceKey, SeqState, connect, seq_state
from fleet.db.events import Outcome
from fleet.ingest.batch import Incoming
from fleet.ingest.downlink import ack_document, resend_document, topic_for
from fleet.ingest.metrics import Metrics
from fleet.ingest.seqtrack import ResendPolicy, SeqTracker
from fleet.ingest.status import apply_messages
from fleet.keys import Signer
from protocol import topics
from protocol.messages.downlink import Ack, Command

_MAX_BACKOFF_S = 5.0
_FLUSH_TIMEOUT_S = 5.0


@dataclass(slots=True)
class _Watch:
    tracker: SeqTracker
    policy: ResendPolicy


class IngestWorker:
    """One ingest worker; run several with the same share group to split the load."""

    def __init__(
        self,
        config: FleetConfig,
        signer: Signer,
        *,
        client_id: str | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self.signer = signer
        self.client_id = client_id or config.ingest.client_id
        self.metrics = Metrics()
        self.subscribed = threading.Event()
        """Set once the broker granted the uplink subscription (messages flow from then on)."""
        self.log = logger or logging.getLogger("fleet.ingest")
        self._queue: queue.Queue[Incoming] = queue.Queue()
        self._stop = threading.Event()
        self._generation = 0
        self._watches: dict[DeviceKey, _Watch] = {}
        self._pending: list[mqtt.MQTTMessageInfo] = []
        self._thread: threading.Thread | None = None
        self._client = self._make_client()
        self._ttl = dt.timedelta(seconds=config.ingest.ack_ttl_s)
        self._tick = min(0.5, config.ingest.reorder_timeout_s / 4)

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self) -> None:
        """Connect, ingest until :meth:`stop`, then finish the batch in hand and disconnect."""
        conn = connect(self.config.db_url)
        b = self.config.broker
        try:
            self._client.connect_async(
                b.host, b.port, b.keepalive_s, clean_start=False, properties=self._connect_props()
            )
            self._client.loop_start()
            try:
                self._loop(conn)
            finally:
                self._flush()
                self._client.disconnect()
                self._client.loop_stop()
        finally:
            conn.close()
            self.log.info("stopped", extra={"fields": self.metrics.snapshot()})

    def start(self) -> None:
        """Run in a background thread (tests and embedding); :meth:`stop` then :meth:`join`."""
        self._thread = threading.Thread(target=self.run, name=f"ingest-{self.client_id}")
        self._thread.start()

    def stop(self) -> None:
        """Ask the worker to stop; safe from a signal handler or another thread."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # -- MQTT (network thread: enqueue only) --------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        b = self.config.broker
        if b.username is not None:
            client.username_pw_set(b.username, b.password)
        if b.tls:
            client.tls_set(
                ca_certs=None if b.ca_file is None else str(b.ca_file),
                certfile=None if b.cert_file is None else str(b.cert_file),
                keyfile=None if b.key_file is None else str(b.key_file),
            )
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _connect_props(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.ingest.session_expiry_s
        props.ReceiveMaximum = self.config.ingest.max_inflight
        return props

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            self.log.error("connect refused", extra={"fields": {"reason": str(reason)}})
            return
        self._generation += 1
        self.log.info(
            "connected",
            extra={"fields": {"client_id": self.client_id, "session": flags.session_present}},
        )
        # Status is not shared: a $share subscription never gets retained messages.
        client.subscribe(
            [(topics.uplink_filter(self.config.ingest.share_group), 1), (topics.status_filter(), 1)]
        )

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reasons: list[ReasonCode],
        _props: Properties | None,
    ) -> None:
        if any(r.is_failure for r in reasons):
            self.log.error("subscription refused", extra={"fields": {"reasons": str(reasons)}})
            return
        self.log.info("subscribed", extra={"fields": {"client_id": self.client_id}})
        self.subscribed.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if not self._stop.is_set():
            self.log.warning("disconnected", extra={"fields": {"reason": str(reason)}})

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = "<topic is not UTF-8>"
        self._queue.put(
            Incoming(
                topic=topic,
                payload=bytes(msg.payload),
                received_at=dt.datetime.now(dt.UTC),
                mid=msg.mid,
                qos=msg.qos,
                generation=self._generation,
            )
        )

    # -- the worker thread --------------------------------------------------------------------

    def _loop(self, conn: Connection) -> None:
        interval = self.config.ingest.metrics_interval_s
        next_metrics = time.monotonic() + interval
        while not self._stop.is_set():
            batch = self._take_batch()
            if batch:
                conn = self._process(conn, batch)
            if self._watches:
                conn = self._check_gaps(conn)
            if time.monotonic() >= next_metrics:
                self.log.info("metrics", extra={"fields": self.metrics.snapshot()})
                next_metrics = time.monotonic() + interval

    def _take_batch(self) -> list[Incoming]:
        try:
            first = self._queue.get(timeout=self._tick)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.config.ingest.batch_wait_ms / 1000
        while len(batch) < self.config.ingest.batch_max:
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _process(self, conn: Connection, batch: list[Incoming]) -> Connection:
        backoff = 0.1
        while True:
            try:
                result = apply_messages(conn, batch, self.config.tenant)
                break
            except DatabaseError as exc:
                self.metrics.add(db_errors=1)
                self.log.error(
                    "batch failed; retrying", extra={"fields": {"error": str(exc)[:500]}}
                )
                if self._stop.wait(backoff):
                    return conn  # not acknowledged: the broker redelivers after restart
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                conn = self._reconnect_db(conn)

        generation = self._generation
        for msg in batch:
            if msg.generation == generation:
                self._client.ack(msg.mid, msg.qos)
        self.metrics.record_lags(result.lags_ms)
        self.metrics.add(
            messages=len(batch),
            batches=1,
            applied=result.outcomes[Outcome.APPLIED] + result.outcomes[Outcome.PROJECTION_FAILED],
            projection_errors=result.outcomes[Outcome.PROJECTION_FAILED],
            duplicates=result.outcomes[Outcome.DUPLICATE],
            dead_letters=result.dead_letters,
        )
        now = dt.datetime.now(dt.UTC)
        for key, state in result.devices.items():
            if state.hwm >= 1:
                self._publish(
                    key,
                    Ack.TYPE,
                    self.signer.sign(ack_document(key, state.hwm, now=now, ttl=self._ttl)),
                )
                self.metrics.add(acks_published=1)
            self._watch(key, state, result.seqs.get(key, []))
        return conn

    def _watch(self, key: DeviceKey, state: SeqState, seqs: list[int]) -> None:
        if state.gap is None:
            self._watches.pop(key, None)
            return
        watch = self._watches.get(key)
        if watch is None:
            watch = _Watch(
                SeqTracker(state.hwm), ResendPolicy(self.config.ingest.reorder_timeout_s)
            )
            self._watches[key] = watch
        watch.tracker.advance_to(state.hwm)
        for seq in seqs:
            watch.tracker.observe(seq)
        if state.first_above is not None:
            watch.tracker.observe(state.first_above)
        if watch.policy.update(watch.tracker.hwm, watch.tracker.first_gap(), time.monotonic()):
            self.metrics.add(gaps_detected=1)
            gap = watch.tracker.first_gap()
            self.log.info(
                "gap",
                extra={
                    "fields": {
                        "device": "/".join(key),
                        "from": gap and gap.first,
                        "to": gap and gap.last,
                    }
                },
            )

    def _check_gaps(self, conn: Connection) -> Connection:
        now = time.monotonic()
        for key, watch in list(self._watches.items()):
            if not watch.policy.due(now):
                continue
            try:
                state = seq_state(conn, key)  # another worker may have filled it meanwhile
                if state.gap is None:
                    self._watches.pop(key, None)
                    continue
                watch.tracker.advance_to(state.hwm)
                if state.first_above is not None:
                    watch.tracker.observe(state.first_above)
                if watch.policy.update(watch.tracker.hwm, watch.tracker.first_gap(), now):
                    self.metrics.add(gaps_detected=1)  # the mark moved, a later gap remains
                if not watch.policy.due(now):
                    continue
                first, last = state.gap
                doc = resend_document(
                    conn, key, first, last, now=dt.datetime.now(dt.UTC), ttl=self._ttl
                )
            except DatabaseError as exc:
                self.metrics.add(db_errors=1)
                self.log.error("gap check failed", extra={"fields": {"error": str(exc)[:500]}})
                return self._reconnect_db(conn)
            self._publish(key, Command.TYPE, self.signer.sign(doc))
            watch.policy.requested(now)
            self.metrics.add(resends_requested=1)
            self.log.warning(
                "resend requested",
                extra={"fields": {"device": "/".join(key), "from": first, "to": last}},
            )
        return conn

    def _publish(self, key: DeviceKey, kind: str, payload: bytes) -> None:
        info = self._client.publish(topic_for(key, kind), payload, qos=1, retain=True)
        self._pending = [p for p in self._pending if not _settled(p)]
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            # The broker is away. Nothing is lost: acks are cumulative and the till publishes
            # again when none comes, which makes the next batch ack again; a resend request is
            # asked again after the reorder timeout.
            self.log.warning(
                "downlink not sent",
                extra={"fields": {"kind": kind, "error": mqtt.error_string(info.rc)}},
            )
            return
        self._pending.append(info)

    def _flush(self) -> None:
        """Give the acks and commands already handed to paho a chance to leave before we go."""
        deadline = time.monotonic() + _FLUSH_TIMEOUT_S
        for info in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                info.wait_for_publish(remaining)
            except (RuntimeError, ValueError):
                break  # not connected: the next ack after restart supersedes it anyway

    def _reconnect_db(self, conn: Connection) -> Connection:
        conn.close()
        try:
            return connect(self.config.db_url)
        except DatabaseError as exc:
            self.log.error("database unreachable", extra={"fields": {"error": str(exc)[:500]}})
            return conn  # closed: the next attempt fails fast and comes back here


def _settled(info: mqtt.MQTTMessageInfo) -> bool:
    """True once paho is done with ``info``: published, or failed (it raises then)."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return True
