"""The sync client: drains the outbox to HQ and applies HQ's signed documents.

One thread does everything — it runs paho's network loop itself (``Client.loop``), so MQTT
callbacks, outbox reads and document transactions never race each other and paho needs no
lock. It never touches the checkout's in-memory state: documents land in the store in their own
transactions and the checkout is told to re-read (``on_documents``).

Delivery (at least once to HQ, exactly once at HQ by ``event_id``):

* rows are published in ``seq`` order, QoS 1, at most ``max_inflight`` without a PUBACK;
* a row leaves the outbox only when HQ's signed ``ack`` ("stored up to seq N") arrives — a
  PUBACK only means the broker has it;
* no ack progress for ``ack_timeout_s`` while rows wait, a new connection, or HQ's
  ``resend_from`` command rewinds the cursor, and rows are published again (HQ drops the
  copies).

The broker connection is re-made with jittered exponential backoff. Each connection attempt
takes the next connection number, which its Last Will and its ``online`` status carry (see
``protocol.messages.status``).
"""

from __future__ import annotations

import contextlib
import logging
import random
import shutil
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.store import journal, outbox
from edge.store.db import open_store, transaction
from edge.sync.documents import DocumentApplier, Outcome, new_event_id
from edge.sync.settings import SyncSettings
from protocol import topics
from protocol.messages.status import DeviceStatus, encode_status
from protocol.messages.uplink import DeviceHealth, PeripheralHealth, RunningDocument

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
PeripheralReport = Callable[[], Sequence[PeripheralHealth]]


@dataclass
class SyncStats:
    """Counters for ``device.health``, tests and the demo's screen."""

    connects: int = 0
    published: int = 0
    republished: int = 0
    acks: int = 0
    acked_rows: int = 0
    documents_applied: int = 0
    documents_rejected: int = 0
    last_ack_seq: int = 0
    applied: list[str] = field(default_factory=list)


class SyncClient:
    """Keep the store and HQ in step over MQTT; see the module docstring."""

    def __init__(
        self,
        store_path: Path,
        origin: outbox.Origin,
        settings: SyncSettings,
        *,
        clock: Clock | None = None,
        on_documents: Callable[[str], None] | None = None,
        peripherals: PeripheralReport | None = None,
        software_version: str = "0",
    ) -> None:
        self.origin = origin
        self.settings = settings
        self._store_path = store_path
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        self.on_documents: Callable[[str], None] = on_documents or (lambda _kind: None)
        self._peripherals = peripherals or (lambda: ())
        self._software_version = software_version
        self._rng = random.Random()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._listening = threading.Event()
        """The broker granted this connection's downlink subscriptions (its SUBACK came)."""
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self.stats = SyncStats()
        self._conn: sqlite3.Connection | None = None
        self._client: mqtt.Client | None = None
        self._inflight: dict[int, int] = {}  # paho mid -> seq
        self._cursor = 1
        self._last_progress = time.monotonic()
        self._next_health = time.monotonic()
        self._attempt = 0
        self._next_connect = 0.0
        self._connack_by = 0.0
        """While a CONNECT is unanswered: when to give up on it and try again."""
        self._connection_no = 0
        self._applier: DocumentApplier | None = None
        self.changed = threading.Condition()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        """True while connected to the broker (the checkout's offline redeem limit uses it)."""
        return self._connected.is_set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def wait_listening(self, timeout: float) -> bool:
        """Block until the broker has granted this connection's downlink subscriptions: a
        document published from then on reaches this till (tests and the demo)."""
        return self._listening.wait(timeout)

    def wait_for(self, predicate: Callable[[SyncStats], bool], timeout: float) -> bool:
        """Block until ``predicate(stats)`` holds (tests and the demo; the till never waits)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self.stats):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True

    # -- the one thread --------------------------------------------------------------------

    def _run(self) -> None:
        self._conn = open_store(self._store_path, check=False)
        self._applier = DocumentApplier(self._conn, self.origin, self.settings, self._clock)
        try:
            while not self._stop.is_set():
                # One connection attempt at a time: a CONNACK may take seconds on a slow
                # store link or a TLS handshake, and a second CONNECT with the same client id
                # makes the broker drop the first — a till that never comes online.
                if self._client is None:
                    self._maybe_connect()
                elif not self._connected.is_set() and time.monotonic() >= self._connack_by:
                    self._lost(f"no answer to CONNECT within {self.settings.connect_timeout_s:g} s")
                client = self._client
                if client is not None:
                    rc = client.loop(timeout=0.02)
                    if rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN):
                        self._lost(f"network loop: {mqtt.error_string(rc)}")
                else:
                    self._stop.wait(0.02)
                if self._connected.is_set():
                    self._drain()
                self._maybe_health()
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        client = self._client
        if client is not None and self._connected.is_set():
            # A clean stop says so itself: the broker drops the Will on a normal DISCONNECT.
            self._publish_status("offline")
            client.disconnect()
            client.loop(timeout=0.2)
        self._connected.clear()
        self._listening.clear()
        if self._conn is not None:
            self._conn.close()

    def _notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    # -- connecting ------------------------------------------------------------------------

    def _maybe_connect(self) -> None:
        now = time.monotonic()
        if now < self._next_connect:
            return
        assert self._conn is not None
        with transaction(self._conn):
            self._connection_no = journal.next_counter(self._conn, "mqtt_connection")
        s = self.settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"tf-{self.origin.store}-{self.origin.device}",
            protocol=mqtt.MQTTv5,
        )
        client.max_inflight_messages_set(s.max_inflight)
        client.max_queued_messages_set(0)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.ca_file is not None:
            client.tls_set(
                ca_certs=str(s.ca_file),
                certfile=str(s.cert_file),
                keyfile=str(s.key_file),
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.will_set(
            self._status_topic(),
            encode_status(DeviceStatus(state="offline", connection=self._connection_no, at=None)),
            qos=1,
            retain=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = s.session_expiry_s
        try:
            client.connect(
                s.host, s.port, keepalive=s.keepalive_s, clean_start=False, properties=props
            )
        except (OSError, ssl.SSLError) as exc:
            self._backoff(f"cannot reach the broker at {s.host}:{s.port}: {exc}")
            return
        self._client = client
        self._connack_by = time.monotonic() + s.connect_timeout_s

    def _backoff(self, why: str) -> None:
        delay = min(30.0, 0.25 * 2 ** min(self._attempt, 8)) * (0.5 + self._rng.random())
        self._attempt += 1
        self._next_connect = time.monotonic() + delay
        if self._attempt == 1 or self._attempt % 10 == 0:
            log.warning("sync offline (%s); retrying in %.1f s", why, delay)

    def _lost(self, why: str) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        self._listening.clear()
        client, self._client = self._client, None
        if client is not None:
            client.on_disconnect = None
            with contextlib.suppress(OSError):
                client.disconnect()
            # The client is dropped here: close its socket now rather than whenever it is
            # collected, so an abandoned attempt does not hold a connection at the broker.
            sock = client.socket()
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        self._inflight.clear()
        self._backoff(why)
        if was:
            self._notify()

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Any
    ) -> None:
        if any(r.is_failure for r in reasons):
            log.warning("downlink subscriptions refused: %s", [str(r) for r in reasons])
        else:
            self._listening.set()

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._lost(f"broker refused the connection: {reason}")
            return
        self._attempt = 0
        self.stats.connects += 1
        client.on_subscribe = self._on_subscribe
        client.subscribe(
            [(flt, 1) for flt in topics.device_subscriptions(self.origin.store, self.origin.device)]
        )
        self._publish_status("online")
        assert self._conn is not None
        self._cursor = outbox.first_seq(self._conn) or 1
        self._inflight.clear()
        self._last_progress = time.monotonic()
        self._connected.set()
        log.info("sync online (connection %d)", self._connection_no)
        self._notify()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if not self._stop.is_set():
            self._lost(f"disconnected: {reason}")

    def _status_topic(self) -> str:
        return topics.status(self.origin.store, self.origin.device)

    def _publish_status(self, state: str) -> None:
        assert self._client is not None
        status = DeviceStatus(
            state="online" if state == "online" else "offline",
            connection=self._connection_no,
            at=self._clock(),
        )
        self._client.publish(self._status_topic(), encode_status(status), qos=1, retain=True)

    # -- uplink ----------------------------------------------------------------------------

    def _drain(self) -> None:
        assert self._conn is not None
        assert self._client is not None
        room = self.settings.max_inflight - len(self._inflight)
        if room > 0:
            rows = outbox.after(self._conn, self._cursor, room)
            if rows and rows[0].seq == outbox.first_seq(self._conn):
                # Nothing older is waiting for an ack: the ack clock starts now, not when the
                # outbox last emptied (a sale after an idle spell is not resent at once).
                self._last_progress = time.monotonic()
            for row in rows:
                topic = topics.uplink(self.origin.store, self.origin.device, row.type)
                info = self._client.publish(topic, row.payload, qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    self._lost(f"publish failed: {mqtt.error_string(info.rc)}")
                    return
                self._inflight[info.mid] = row.seq
                self._cursor = row.seq + 1
                self.stats.published += 1
        if time.monotonic() - self._last_progress > self.settings.ack_timeout_s:
            first = outbox.first_seq(self._conn)
            self._last_progress = time.monotonic()
            if first is not None and first < self._cursor:
                log.info(
                    "no ack from HQ for %.0f s: publishing again from seq %d",
                    self.settings.ack_timeout_s,
                    first,
                )
                self.stats.republished += self._cursor - first
                self._cursor = first

    def _on_publish(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        mid: int,
        _reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self._inflight.pop(mid, None)

    def rewind(self, from_seq: int) -> None:
        """Publish again from ``from_seq`` (HQ's ``resend_from``; rows it acked are gone)."""
        assert self._conn is not None
        first = outbox.first_seq(self._conn)
        if first is None:
            return
        self._cursor = max(first, min(self._cursor, from_seq))

    # -- downlink --------------------------------------------------------------------------

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        assert self._applier is not None
        outcome = self._applier.handle(msg.topic, bytes(msg.payload))
        self._react(outcome)

    def _react(self, outcome: Outcome) -> None:
        if outcome.kind is None:
            return
        if outcome.rejected:
            self.stats.documents_rejected += 1
        elif outcome.applied:
            self.stats.documents_applied += 1
            self.stats.applied.append(outcome.kind)
            if outcome.kind == "ack" and outcome.ack_rows is not None:
                self.stats.acks += 1
                self.stats.acked_rows += outcome.ack_rows
                self.stats.last_ack_seq = max(self.stats.last_ack_seq, outcome.ack_up_to or 0)
                self._last_progress = time.monotonic()
                if outcome.ack_up_to is not None and self._cursor <= outcome.ack_up_to:
                    self._cursor = outcome.ack_up_to + 1
            if outcome.resend_from is not None:
                self.rewind(outcome.resend_from)
            if outcome.kind not in ("ack", "command"):
                self.on_documents(outcome.kind)
        self._notify()

    # -- health ----------------------------------------------------------------------------

    def _maybe_health(self) -> None:
        now = time.monotonic()
        if now < self._next_health:
            return
        assert self._conn is not None
        assert self._applier is not None
        interval = self._applier.health_interval() or self.settings.health_interval_s
        self._next_health = now + interval
        with transaction(self._conn):
            outbox.queue(
                self._conn,
                self.origin,
                self._health(),
                event_id=new_event_id(self._clock()),
                at=self._clock(),
            )

    def _health(self) -> DeviceHealth:
        assert self._conn is not None
        try:
            disk = shutil.disk_usage(self._store_path.parent)
            free, total = disk.free, disk.total
        except OSError:
            free = total = 0
        docs = [
            RunningDocument(kind=k, scope_level=s, version=int(v))
            for k, s, v in self._conn.execute(
                "SELECT kind, scope_level, version FROM documents "
                "WHERE kind NOT IN ('ack', 'command') ORDER BY kind, scope_level"
            )
            if s in ("fleet", "store", "device")
        ]
        return DeviceHealth(
            at=self._clock(),
            uptime_s=int(time.monotonic() - self._started),
            software_version=self._software_version,
            firmware_versions={},
            peripherals=list(self._peripherals()),
            outbox_depth=outbox.depth(self._conn),
            oldest_unacked_seq=outbox.first_seq(self._conn),
            disk_free_bytes=free,
            disk_total_bytes=total,
            clock_synced=Path("/run/systemd/timesync/synchronized").exists(),
            documents=docs,
        )
