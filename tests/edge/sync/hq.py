"""A small stand-in for HQ on a real broker: collects uplink events, signs acks and documents.

It does what HQ's ingest does on the wire (decode strictly, ack the contiguous high-water mark
with a signed document) without a fleet database, so the till's sync client can be tested on
its own. The fleet's own tests cover the real ingest worker.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from protocol import topics
from protocol.messages import decode_event, make_document
from protocol.messages.base import Body, DocScope, Event
from protocol.messages.downlink import Ack
from protocol.signing import public_key_to_text, sign_document
from tests import mqttclients

TENANT, STORE, DEVICE = "acme", "s-001", "till-1"


class FakeHq:
    """Subscribes to every uplink; acks automatically while :attr:`acking` is set."""

    def __init__(self, host: str, port: int, key_id: str = "hq-1") -> None:
        self.key = Ed25519PrivateKey.generate()
        self.key_id = key_id
        self.events: dict[str, Event[Body]] = {}  # by event_id
        self.copies = 0
        self.by_seq: dict[int, Event[Body]] = {}
        self.acking = True
        self._hwm = 0
        self._version = 0
        self._cond = threading.Condition()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="fake-hq", protocol=mqtt.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topics.uplink_filter(), qos=1)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect(host, port)
        self.client.loop_start()

    @property
    def public_key(self) -> str:
        return public_key_to_text(self.key.public_key())

    def close(self) -> None:
        mqttclients.stop(self.client)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        event = decode_event(msg.payload)
        with self._cond:
            self.copies += 1
            self.events[str(event.event_id)] = event
            self.by_seq[event.seq] = event
            while self._hwm + 1 in self.by_seq:
                self._hwm += 1
            hwm, acking = self._hwm, self.acking
            self._cond.notify_all()
        if acking and hwm:
            self.ack(hwm, wait=False)  # never wait inside paho's own network thread

    def wait(self, predicate: Callable[[FakeHq], bool], timeout: float = 30) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def of_type(self, type_: str) -> list[Event[Body]]:
        with self._cond:
            return sorted((e for e in self.events.values() if e.type == type_), key=lambda e: e.seq)

    def next_version(self) -> int:
        with self._cond:
            self._version += 1
            return self._version

    def sign(
        self,
        body: Body,
        *,
        scope: DocScope | None = None,
        version: int | None = None,
        issued_at: datetime | None = None,
        expires_in: timedelta = timedelta(hours=6),
        key: Ed25519PrivateKey | None = None,
        key_id: str | None = None,
    ) -> bytes:
        now = issued_at or datetime.now(UTC)
        doc = make_document(
            body,
            doc_id=uuid.uuid4(),
            scope=scope or DocScope(tenant=TENANT, store=STORE, device=DEVICE),
            version=version if version is not None else self.next_version(),
            issued_at=now,
            expires_at=now + expires_in,
        )
        return sign_document(doc, key or self.key, key_id or self.key_id)

    def ack(self, up_to: int, *, wait: bool = True) -> None:
        payload = self.sign(Ack(up_to_seq=up_to))
        self.publish(topics.device_downlink(STORE, DEVICE, "ack"), payload, wait=wait)

    def publish(
        self, topic: str, payload: bytes, *, retain: bool = False, wait: bool = True
    ) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if wait:
            info.wait_for_publish(10)
