"""The ingest worker's MQTT side, in a process of its own.

Why a process: receiving is Python — all a bare subscriber does, and with paho's own packet
handling a whole core at full rate (the receiver parses plain PUBLISHes itself,
``fastpublish.py``, and still spends tens of microseconds a message on reading, forwarding and
acknowledging). Checking and storing in the same interpreter would share that core through
the GIL; in processes of their own the stages run on separate cores, so the worker keeps up
with the broker instead of the broker's queue growing behind it.

The child owns the broker connection and nothing else: it forwards what arrives to the worker
(the parent) over a pipe and does what the parent asks — acknowledge these packet ids, publish
this downlink, stop. It keeps no state that matters: it acknowledges nothing on its own
(``manual_ack``), so if either process dies, the broker redelivers every message not yet
stored, and the event ids make the redelivery harmless. What it does keep is the order
messages came in, so that acknowledgements leave in that order however the parent's writers
finish (``ackorder.py``).

One thread does it all, selecting on the broker socket and the pipe and driving the reads
(:meth:`~fleet.ingest.fastpublish.FastPublishClient.read`) and paho's
``loop_write``/``loop_misc`` itself: no thread hand-over per message, no lock
around paho. Messages are forwarded as soon as the socket has nothing more to read at once, so
batches grow with the load and a lone message leaves immediately.

A packet id is only meaningful on the connection that delivered it, so each message carries
its connection's number (``generation``) and an ack for an older connection is dropped here.

Started by ``fleet.ingest.child`` with a link to the validator, which gets the messages:
``("msgs", [(topic, payload, received_at_ns, mid, qos, generation), ...])``. To the parent:
``("connected", generation, session_present)``,
``("connect_refused", reason)``, ``("subscribed",)``, ``("subscribe_refused", reasons)``,
``("disconnected", reason)``, ``("not_sent", kind, error)`` and, last, ``("stopped",)``. From
the parent: ``("ack", generation, [(mid, qos), ...])``, ``("publish", topic, payload, kind)``
(QoS 1, retained) and ``("stop",)``.
"""

from __future__ import annotations

import collections
import contextlib
import os
import random
import select
import ssl
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from fleet.config import BrokerConfig
from fleet.ingest import child, lean_properties, puback
from fleet.ingest.ackorder import AckOrder
from fleet.ingest.fastpublish import BAD_TOPIC, FastPublishClient, Received
from protocol import topics

FLUSH_TIMEOUT_S = 5.0
"""How long a stopping receiver waits for the downlinks already handed to it to leave."""


@dataclass(frozen=True, slots=True)
class ReceiverSettings:
    """What the child needs: the broker, its identity there and its subscriptions."""

    broker: BrokerConfig
    client_id: str
    share_group: str
    session_expiry_s: int
    max_inflight: int


def main() -> None:
    """The child process: receive until the parent says stop or goes away."""
    pipe, settings = child.attach()
    assert isinstance(settings, ReceiverSettings)
    lean_properties.install()  # a quarter less CPU per message; paho's own if it cannot
    _Receiver(pipe, child.linked(), settings).run()


_FORWARD_MAX = 500
"""Messages per hand-over at most (a long burst still reaches the worker in pieces)."""
_TICK_S = 1.0
"""Longest sleep in select: keepalive pings and reconnects are looked after this often."""
_MAX_BACKOFF_S = 30.0
_PENDING_SCAN_AT = 1024
"""Downlinks waiting on the broker beyond which a publish looks through all of them."""


class _Receiver:
    def __init__(self, pipe: Connection, out: Connection, settings: ReceiverSettings) -> None:
        self.pipe = pipe
        self.out = out
        """Where PUBLISHes go: the validator, which passes them on to the worker."""
        self.settings = settings
        self.generation = 0
        self.connected = False
        self._buffer: list[Received] = []
        self._acks = AckOrder()
        """The current connection's acknowledgements, released in arrival order."""
        self._pending: collections.deque[mqtt.MQTTMessageInfo] = collections.deque()
        self._stopping = False
        self._stop_by = 0.0
        self._up = False
        """A socket is open (connecting or connected)."""
        self._ever_connected = False
        self._attempt = 0
        self._next_connect = 0.0
        self._connack_by: float | None = None
        """While a CONNECT is unanswered: when it is given up (``connect_timeout_s``)."""
        self._rng = random.Random()
        self.client = self._make_client()

    # -- to the parent ----------------------------------------------------------------------

    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            self.pipe.send(message)
        except OSError:
            os._exit(0)  # the parent is gone: what it did not store, the broker redelivers

    def _forward(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, []
            gen = self.generation  # a message of an older connection is never acknowledged
            self._acks.arrived(m[3] for m in batch if m[4] and m[5] == gen)
            try:
                self.out.send(("msgs", batch))
            except OSError:
                os._exit(0)  # the validator is gone, so the worker stops: nothing was acked

    def _generation(self) -> int:
        return self.generation

    # -- paho callbacks (called from loop_read, in this thread) ---------------------------------

    def _make_client(self) -> FastPublishClient:
        client = FastPublishClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.settings.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        b = self.settings.broker
        if b.username is not None:
            client.username_pw_set(b.username, b.password)
        if b.tls:
            client.tls_set(
                ca_certs=None if b.ca_file is None else str(b.ca_file),
                certfile=None if b.cert_file is None else str(b.cert_file),
                keyfile=None if b.key_file is None else str(b.key_file),
            )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self._connack_by = None
        if reason.is_failure:
            self._send(("connect_refused", str(reason)))
            return  # the broker closes the connection; loop_read then reports it
        self.connected = True
        self._attempt = 0
        self.generation += 1
        self._acks.reset()
        self._send(("connected", self.generation, bool(flags.session_present)))
        # Status is not shared: a $share subscription never gets retained messages.
        client.subscribe(
            [(topics.uplink_filter(self.settings.share_group), 1), (topics.status_filter(), 1)]
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
            self._send(("subscribe_refused", str(reasons)))
        else:
            self._send(("subscribed",))

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if not self._stopping:
            self._send(("disconnected", str(reason)))

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = BAD_TOPIC
        self._buffer.append(
            (topic, bytes(msg.payload), time.time_ns(), msg.mid, msg.qos, self.generation)
        )

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> None:
        next_misc = 0.0
        while not self._stopping or self._pending_publishes():
            if not self._up and not self._stopping:
                self._maybe_connect()
            sock = self.client.socket() if self._up else None
            readable: list[Any] = [self.pipe]
            writable: list[Any] = []
            if sock is not None:
                readable.append(sock)
                if self.client.want_write():
                    writable.append(sock)
            # Bytes already read (by TLS, or ahead by the client) are not seen by select.
            pending = sock is not None and (
                self.client.ready() or (isinstance(sock, ssl.SSLSocket) and sock.pending() > 0)
            )
            timeout = 0.0 if self._buffer or pending else self._timeout()
            try:
                r, w, _ = select.select(readable, writable, [], timeout)
            except (OSError, ValueError):
                self._lost()  # the socket broke under us; reconnect() replaces it
                continue
            if sock is not None and (sock in r or pending):
                self._check(self.client.read(self._buffer, _FORWARD_MAX, self._generation))
            elif self._buffer:
                self._forward()  # nothing more to read at once: hand over what came
            if sock is not None and sock in w and self._up:
                self._check(self.client.loop_write())
            if len(self._buffer) >= _FORWARD_MAX:
                self._forward()
            if self.pipe in r:
                self._orders()
            now = time.monotonic()
            if self._connack_by is not None and now >= self._connack_by:
                self._connect_unanswered()
            if now >= next_misc and self._up:
                next_misc = now + _TICK_S
                self._check(self.client.loop_misc())
        self._finish()

    def _timeout(self) -> float:
        if not self._up:
            return max(0.0, min(_TICK_S, self._next_connect - time.monotonic()))
        if self._connack_by is not None:  # give an unanswered CONNECT up on time
            return max(0.0, min(_TICK_S, self._connack_by - time.monotonic()))
        return _TICK_S

    def _maybe_connect(self) -> None:
        if time.monotonic() < self._next_connect:
            return
        b = self.settings.broker
        try:
            if self._ever_connected:
                self.client.reconnect()  # same host, port and CONNECT properties
            else:
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = self.settings.session_expiry_s
                props.ReceiveMaximum = self.settings.max_inflight
                self.client.connect(
                    b.host, b.port, b.keepalive_s, clean_start=False, properties=props
                )
                self._ever_connected = True
        except (OSError, ssl.SSLError) as exc:
            self._send(("disconnected", f"cannot reach the broker at {b.host}:{b.port}: {exc}"))
            self._retry_later()
            return
        self._up = True
        self._connack_by = time.monotonic() + b.connect_timeout_s

    def _connect_unanswered(self) -> None:
        """A broker that accepts the connection and never answers the CONNECT (hung, or not a
        broker at all) would otherwise hold the worker until paho's keepalive check, twice as
        long by default; close the attempt now and try again after the backoff."""
        # Set only while a socket is up and its CONNECT unanswered (CONNACK and _lost clear it).
        self._connack_by = None
        b = self.settings.broker
        self._send(("disconnected", f"no answer to CONNECT within {b.connect_timeout_s} s"))
        sock = self.client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()  # the broker sees the attempt end now, not at the next one
        self._lost()

    def _check(self, rc: int) -> None:
        """After paho's loop calls: any error means paho has closed the connection."""
        if rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN) or self.client.socket() is None:
            self._lost()

    def _lost(self) -> None:
        """The connection is gone: messages not handed over are dropped (the broker redelivers
        what was not acknowledged), then reconnect after a jittered backoff."""
        if not self._up:
            return
        self._up = False
        self.connected = False
        self._connack_by = None
        self._buffer.clear()
        self._retry_later()

    def _retry_later(self) -> None:
        """Jittered exponential backoff, so a fleet of workers (and tills) reconnecting after
        a broker restart do not arrive together, and a refused connect never spins."""
        delay = min(_MAX_BACKOFF_S, 0.25 * 2 ** min(self._attempt, 8))
        self._attempt += 1
        self._next_connect = time.monotonic() + delay * (0.5 + self._rng.random())

    # -- the parent's orders ---------------------------------------------------------------------

    def _orders(self) -> None:
        while True:
            try:
                if not self.pipe.poll():
                    return
                order = self.pipe.recv()
            except (EOFError, OSError):
                os._exit(0)  # the parent is gone (killed): the broker redelivers what is unstored
            kind = order[0]
            if kind == "ack":
                if order[1] == self.generation and self.connected:
                    puback.ack_all(self.client, self._acks.stored(order[2]))
            elif kind == "publish":
                self._publish(order[1], order[2], order[3])
            elif kind == "stop":
                self._stopping = True
                self._stop_by = time.monotonic() + FLUSH_TIMEOUT_S
                self._buffer.clear()  # not acknowledged: the broker redelivers them next time
                return

    def _publish(self, topic: str, payload: bytes, kind: str) -> None:
        if not self.connected:
            self._send(("not_sent", kind, "not connected to the broker"))
            return
        info = self.client.publish(topic, payload, qos=1, retain=True)
        self._drop_settled(whole=len(self._pending) > _PENDING_SCAN_AT)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            # Nothing is lost: acks are cumulative and the till publishes again when none comes;
            # a resend request is asked again after the reorder timeout.
            self._send(("not_sent", kind, mqtt.error_string(info.rc)))
            return
        self._pending.append(info)

    def _pending_publishes(self) -> bool:
        """While stopping: downlinks handed over still on their way (for a few seconds)."""
        self._drop_settled(whole=True)
        return bool(self._pending) and self.connected and time.monotonic() < self._stop_by

    def _drop_settled(self, *, whole: bool) -> None:
        """Forget downlinks paho is done with. From the front only, normally: the broker
        acknowledges in order, so that is a step or two a publish, where filtering the whole
        list on every publish grew with it. The whole list once it is long, so that one stuck
        at the front (its connection lost) does not keep every later one."""
        if whole:
            self._pending = collections.deque(p for p in self._pending if not _settled(p))
            return
        pending = self._pending
        while pending and _settled(pending[0]):
            pending.popleft()

    def _finish(self) -> None:
        self._buffer.clear()
        if self._up and self.client.socket() is not None:
            self.client.disconnect()
            with contextlib.suppress(OSError):
                self.client.loop_write()
        self._send(("stopped",))


def _settled(info: mqtt.MQTTMessageInfo) -> bool:
    """True once paho is done with ``info``: published, or failed (it raises then)."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return True
