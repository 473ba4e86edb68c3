"""Delivering documents: publish retained at QoS 1 and wait for the broker's PUBACK.

One short-lived connection per ``fleet publish`` run (publishing is its own process, never a
web worker's). paho's network thread only records PUBACKs; the caller's thread waits on them,
so :meth:`MqttPublisher.send` returns only once the broker holds the document — retained, so a
till that connects later still gets it — and raises if the broker refused it (an MQTT 5 PUBACK
reason code, e.g. an ACL that does not let HQ write there) or did not answer in time.
"""

from __future__ import annotations

import os
import ssl
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from fleet.config import BrokerConfig
from fleet.publish.documents import PublishError


class MqttPublisher:
    """A connection to the broker that publishes documents; use as a context manager."""

    def __init__(
        self, broker: BrokerConfig, *, client_id: str | None = None, timeout_s: float = 30.0
    ) -> None:
        self.broker = broker
        self.timeout_s = timeout_s
        self._cond = threading.Condition()
        self._connected = False
        self._refused: str | None = None
        self._acks: dict[int, ReasonCode | None] = {}
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"fleet-publish-{os.urandom(6).hex()}",
            protocol=mqtt.MQTTv5,
        )
        if broker.username is not None:
            self._client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            self._client.tls_set(
                ca_certs=None if broker.ca_file is None else str(broker.ca_file),
                certfile=None if broker.cert_file is None else str(broker.cert_file),
                keyfile=None if broker.key_file is None else str(broker.key_file),
            )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish

    def __enter__(self) -> MqttPublisher:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Connect, or raise :class:`PublishError` saying why not."""
        b = self.broker
        try:
            self._client.connect(b.host, b.port, b.keepalive_s, clean_start=True)
        except (OSError, ssl.SSLError) as exc:
            raise PublishError(f"cannot reach the broker at {b.host}:{b.port}: {exc}") from None
        self._client.loop_start()
        wait_s = min(self.timeout_s, b.connect_timeout_s)  # [broker] governs every HQ client
        with self._cond:
            self._cond.wait_for(lambda: self._connected or self._refused, wait_s)
            refused, connected = self._refused, self._connected
        # close() outside the lock: it joins paho's thread, whose callbacks take that lock
        # (closing under it deadlocked the first time a CONNECT went unanswered).
        if refused is not None:
            self.close()
            raise PublishError(f"the broker at {b.host}:{b.port} refused: {refused}")
        if not connected:
            self.close()
            raise PublishError(f"no CONNACK from {b.host}:{b.port} in {wait_s:g} s")

    def send(self, topic: str, payload: bytes) -> None:
        """Publish retained at QoS 1; return once the broker acknowledged it."""
        info = self._client.publish(topic, payload, qos=1, retain=True)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise PublishError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        deadline = time.monotonic() + self.timeout_s
        with self._cond:
            while info.mid not in self._acks:
                left = deadline - time.monotonic()
                if left <= 0 or not self._connected:
                    why = "connection lost" if not self._connected else "no PUBACK"
                    raise PublishError(f"{why} for {topic} within {self.timeout_s} s")
                self._cond.wait(left)
            reason = self._acks.pop(info.mid)
        if reason is not None and reason.is_failure:
            raise PublishError(f"the broker refused {topic}: {reason}")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        # paho closes its wake-up socket pair only when the client is freed; its callbacks are
        # bound to this publisher, a reference cycle that left the pair to some later GC pass.
        self._client.on_connect = None
        self._client.on_disconnect = None
        self._client.on_publish = None

    # -- paho's network thread: record and notify, nothing else ------------------------------

    def _on_connect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        with self._cond:
            if reason.is_failure:
                self._refused = str(reason)
            else:
                self._connected = True
            self._cond.notify_all()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        _reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        with self._cond:
            self._connected = False
            self._cond.notify_all()

    def _on_publish(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        with self._cond:
            self._acks[mid] = reason
            self._cond.notify_all()
