"""Simulated tills for the fleet benchmark: many tills per process, one MQTT connection each.

Each simulated till behaves on the wire as ``edge.sync.client.SyncClient`` does, without the
checkout or a SQLite store (a till's CPU and disk are not what the fleet benchmark measures):

* it makes a ``sale.completed`` every ``uniform(lo, hi)`` seconds with its own ``seq`` (1, 2, ...)
  and keeps it in an in-memory outbox;
* publishes the outbox in ``seq`` order, QoS 1, at most ``max_inflight`` without a PUBACK;
* deletes rows only when HQ's *signed* ``ack`` verifies (``protocol.signing``) and covers them;
* publishes again from the oldest unacked row when no ack progress was made for
  ``ack_timeout_s`` since that row went out, on every new connection, and on HQ's signed
  ``resend_from`` command.

One connection per till — 2,000 tills are 2,000 broker connections, as in a real fleet — but
not one thread per till: one process multiplexes its tills' sockets with :mod:`selectors`,
driving paho's external-loop API (``loop_read``/``loop_write``/``loop_misc`` and the socket
callbacks), so a few processes carry the whole fleet.

Run by ``bench_fleet_sim.py``; the conversation is JSON lines on stdout (``ready``,
``progress``, ``done`` with the results) and one ``go`` line on stdin, so every process starts
selling at the same moment.
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import json
import random
import selectors
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from benchkit import connect_props, raise_fd_limit, sale_payload
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from protocol import topics
from protocol.errors import ProtocolError
from protocol.messages.downlink import Ack, Command, ResendFrom
from protocol.messages.uplink import SaleCompleted
from protocol.signing import (
    DeviceIdentity,
    DocumentRejectedError,
    Keyring,
    public_key_from_text,
    verify_document,
)

TENANT = "acme"
TILLS_PER_STORE = 4
CONNECT_CHUNK = 50
"""Connections opened before waiting for their CONNACKs (the broker's listen backlog is small)."""


def till_name(n: int) -> tuple[str, str]:
    """Store and device of simulated till ``n`` (0-based): four tills per store."""
    return f"s-{n // TILLS_PER_STORE + 1:04d}", f"till-{n % TILLS_PER_STORE + 1}"


@dataclass
class Counters:
    published: int = 0
    republished: int = 0
    ack_timeouts: int = 0
    resend_commands: int = 0
    acks: int = 0
    rejected_documents: int = 0
    disconnects: int = 0
    reconnects: int = 0


@dataclass
class SimTill:
    """One till's sync state; its socket events are driven by :class:`Fleet`."""

    no: int
    store: str
    device: str
    client: mqtt.Client
    outbox: dict[int, tuple[bytes, float]] = field(default_factory=dict)
    """seq -> (payload, occurred_at as Unix seconds), oldest first."""
    next_seq: int = 1
    acked: int = 0
    cursor: int = 1
    inflight: dict[int, int] = field(default_factory=dict)
    connected: bool = False
    subscribed: bool = False
    progress_at: float = 0.0
    """Monotonic time of the last ack progress, or of the first publish of a row since."""
    reconnect_at: float | None = None

    @property
    def made(self) -> int:
        return self.next_seq - 1


class Fleet:
    """Every till of this process, one selector, one thread."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.host, _, port = args.broker.rpartition(":")
        self.port = int(port)
        key_id, _, key_text = args.hq_key.partition(":")
        self.keyring = Keyring({key_id: public_key_from_text(key_text)})
        self.sel = selectors.DefaultSelector()
        self.rng = random.Random(args.seed)
        self.counters = Counters()
        self.lags: list[tuple[float, float]] = []
        """(occurred_at, ack arrival - occurred_at) in seconds, one per sale."""
        self.inbox: list[tuple[SimTill, str, bytes]] = []
        self.pending: set[int] = set()
        self.go: str | None = None
        self.started = time.monotonic()
        self.tills = [self._make(args.first + i) for i in range(args.count)]

    # -- paho wiring --------------------------------------------------------------------------

    def _make(self, no: int) -> SimTill:
        store, device = till_name(no)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"tf-{store}-{device}", protocol=mqtt.MQTTv5
        )
        client.max_inflight_messages_set(self.args.max_inflight)
        client.max_queued_messages_set(0)
        till = SimTill(no, store, device, client)
        client.user_data_set(till)
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return till

    def _on_socket_open(self, _c: mqtt.Client, till: SimTill, sock: Any) -> None:
        self.sel.register(sock, selectors.EVENT_READ, till)

    def _on_socket_close(self, _c: mqtt.Client, _till: SimTill, sock: Any) -> None:
        self.sel.unregister(sock)

    def _on_register_write(self, _c: mqtt.Client, till: SimTill, sock: Any) -> None:
        self.sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, till)

    def _on_unregister_write(self, _c: mqtt.Client, till: SimTill, sock: Any) -> None:
        self.sel.modify(sock, selectors.EVENT_READ, till)

    def _on_connect(
        self, client: mqtt.Client, till: SimTill, _f: object, rc: ReasonCode, _p: object
    ) -> None:
        if rc.is_failure:
            self._lost(till)
            return
        till.connected = True
        client.subscribe(
            [(topics.device_downlink(till.store, till.device, k), 1) for k in ("ack", "command")]
        )
        # A new connection: publish again from the oldest unacked row (HQ drops copies).
        till.cursor = next(iter(till.outbox), till.next_seq)
        till.inflight.clear()
        till.progress_at = time.monotonic()
        if till.outbox:
            self.pending.add(till.no)

    def _on_subscribe(
        self, _c: mqtt.Client, till: SimTill, _mid: int, rcs: list[ReasonCode], _p: object
    ) -> None:
        if any(rc.is_failure for rc in rcs):
            raise SystemExit(f"{till.store}/{till.device}: subscription refused: {rcs}")
        till.subscribed = True

    def _on_disconnect(self, _c: mqtt.Client, till: SimTill, *_a: object) -> None:
        self.counters.disconnects += 1
        self._lost(till)

    def _lost(self, till: SimTill) -> None:
        till.connected = False
        till.inflight.clear()
        till.reconnect_at = time.monotonic() + 1 + self.rng.random()

    def _on_publish(self, _c: mqtt.Client, till: SimTill, mid: int, *_a: object) -> None:
        if till.inflight.pop(mid, None) is not None and till.outbox:
            self.pending.add(till.no)

    def _on_message(self, _c: mqtt.Client, till: SimTill, msg: mqtt.MQTTMessage) -> None:
        self.inbox.append((till, msg.topic, bytes(msg.payload)))  # handled after the select

    # -- the till's side of the protocol -------------------------------------------------------

    def _sell(self, till: SimTill) -> None:
        seq = till.next_seq
        till.next_seq += 1
        at = dt.datetime.now(dt.UTC)
        if not till.outbox:
            till.progress_at = time.monotonic()  # the ack clock starts with the oldest row
        till.outbox[seq] = (sale_payload(till.store, till.device, till.no, seq, at), at.timestamp())
        self.pending.add(till.no)

    def _drain(self, till: SimTill, now: float) -> None:
        """Publish what the window allows; rewind when HQ has not acked for too long."""
        if not till.connected:
            return
        topic = topics.uplink(till.store, till.device, SaleCompleted.TYPE)
        while len(till.inflight) < self.args.max_inflight and till.cursor < till.next_seq:
            seq = till.cursor
            row = till.outbox.get(seq)
            if row is not None:
                info = till.client.publish(topic, row[0], qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    return  # the connection is going; on_disconnect schedules a reconnect
                till.inflight[info.mid] = seq
                self.counters.published += 1
            till.cursor += 1
        if till.outbox and now - till.progress_at > self.args.ack_timeout:
            first = next(iter(till.outbox))
            if first < till.cursor:
                self.counters.ack_timeouts += 1
                self.counters.republished += till.cursor - first
                till.cursor = first
            till.progress_at = now
        if till.cursor >= till.next_seq:
            self.pending.discard(till.no)  # the 1 s tick brings it back for the ack timeout

    def _handle(self, till: SimTill, topic: str, payload: bytes) -> None:
        try:
            doc = verify_document(
                payload,
                keyring=self.keyring,
                identity=DeviceIdentity(TENANT, till.store, till.device),
                now=dt.datetime.now(dt.UTC),
                running_version=lambda _k, _s: None,  # acks are idempotent: a stale one is moot
            )
        except (DocumentRejectedError, ProtocolError) as exc:
            self.counters.rejected_documents += 1
            print(f"{topic}: rejected: {exc}", file=sys.stderr)
            return
        if isinstance(doc.body, Ack):
            self.counters.acks += 1
            up_to = doc.body.up_to_seq
            if up_to <= till.acked:
                return
            arrived = time.time()
            for seq in range(till.acked + 1, min(up_to, till.made) + 1):
                row = till.outbox.pop(seq, None)
                if row is not None:
                    self.lags.append((row[1], arrived - row[1]))
            till.acked = up_to
            till.cursor = max(till.cursor, up_to + 1)
            till.progress_at = time.monotonic()
            if till.outbox:
                self.pending.add(till.no)
        elif isinstance(doc.body, Command) and isinstance(doc.body.command, ResendFrom):
            self.counters.resend_commands += 1
            first = next(iter(till.outbox), None)
            if first is not None:
                till.cursor = max(first, min(till.cursor, doc.body.command.from_seq))
                self.pending.add(till.no)

    # -- the loop -----------------------------------------------------------------------------

    def _pump(self, timeout: float) -> None:
        for key, mask in self.sel.select(timeout):
            if key.data is None:  # stdin: the parent's "go"
                self.go = sys.stdin.readline().strip()
                self.sel.unregister(sys.stdin)
                continue
            till: SimTill = key.data
            if mask & selectors.EVENT_READ:
                till.client.loop_read()
            if mask & selectors.EVENT_WRITE and till.client.socket() is not None:
                till.client.loop_write()
        inbox, self.inbox = self.inbox, []
        for till, topic, payload in inbox:
            self._handle(till, topic, payload)

    def connect_all(self, timeout: float) -> None:
        """Open every till's connection, a chunk at a time, and wait for its subscriptions."""
        deadline = time.monotonic() + timeout
        for start in range(0, len(self.tills), CONNECT_CHUNK):
            chunk = self.tills[start : start + CONNECT_CHUNK]
            for till in chunk:
                till.client.connect(
                    self.host,
                    self.port,
                    keepalive=self.args.keepalive,
                    clean_start=False,
                    properties=connect_props(session_expiry_s=7 * 24 * 3600),
                )
            while not all(t.subscribed for t in chunk):
                if time.monotonic() > deadline:
                    raise SystemExit(f"tills {start}..: not all connected within {timeout}s")
                self._pump(0.05)

    def wait_for_go(self) -> bool:
        """Keep the connections alive (keepalive pings) until the parent says ``go``."""
        self.sel.register(sys.stdin, selectors.EVENT_READ, None)
        next_misc = time.monotonic() + 1.0
        while self.go is None:
            self._pump(0.5)
            if time.monotonic() >= next_misc:
                next_misc = time.monotonic() + 1.0
                for till in self.tills:
                    if till.connected:
                        till.client.loop_misc()
        return self.go == "go"

    def run(self, seconds: float, lo: float, hi: float, drain_timeout: float) -> None:
        """Sell for ``seconds``, then keep going until every sale is acked (or the timeout)."""
        self.started = start = time.monotonic()
        stop_selling = start + seconds
        # First sales spread over one mean interval: the fleet sells at its steady rate from
        # the start instead of ramping up over the longest interval.
        due = [(start + self.rng.uniform(0, (lo + hi) / 2), t.no) for t in self.tills]
        heapq.heapify(due)
        by_no = {t.no: t for t in self.tills}
        next_misc = start + 1.0
        next_progress = start + 10.0
        drain_deadline: float | None = None
        while True:
            now = time.monotonic()
            wake = min(next_misc, due[0][0] if due else next_misc)
            self._pump(max(0.0, min(0.05, wake - now)))
            now = time.monotonic()
            while due and due[0][0] <= now:
                at, no = heapq.heappop(due)
                if at < stop_selling:
                    self._sell(by_no[no])
                    heapq.heappush(due, (at + self.rng.uniform(lo, hi), no))
            for no in list(self.pending):
                self._drain(by_no[no], now)
            if now >= next_misc:
                next_misc = now + 1.0
                for till in self.tills:
                    if till.connected:
                        till.client.loop_misc()
                    elif till.reconnect_at is not None and now >= till.reconnect_at:
                        self._reconnect(till)
                    if till.outbox:
                        self.pending.add(till.no)  # lets _drain check the ack timeout
            if now >= next_progress:
                next_progress = now + 10.0
                self._say("progress", **self._summary())
            if now >= stop_selling:
                if drain_deadline is None:
                    drain_deadline = now + drain_timeout
                if not any(t.outbox for t in self.tills) or now >= drain_deadline:
                    return

    def _reconnect(self, till: SimTill) -> None:
        till.reconnect_at = None
        self.counters.reconnects += 1
        try:
            till.client.reconnect()
        except OSError:
            self._lost(till)

    def _summary(self) -> dict[str, Any]:
        return {
            "elapsed_s": round(time.monotonic() - self.started, 1),
            "made": sum(t.made for t in self.tills),
            "unacked": sum(len(t.outbox) for t in self.tills),
            "connected": sum(t.connected for t in self.tills),
            **self.counters.__dict__,
        }

    def close(self) -> None:
        for till in self.tills:
            if till.connected:
                till.client.disconnect()
                self._pump(0)
        self.sel.close()

    @staticmethod
    def _say(msg: str, **fields: Any) -> None:
        print(json.dumps({"msg": msg, **fields}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True, help="host:port")
    parser.add_argument("--hq-key", required=True, help="key_id:public_key HQ signs acks with")
    parser.add_argument("--first", type=int, required=True, help="number of the first till")
    parser.add_argument("--count", type=int, required=True, help="how many tills")
    parser.add_argument("--seconds", type=float, required=True, help="how long to sell")
    parser.add_argument("--interval", default="30,60", help="seconds between sales: lo,hi")
    parser.add_argument("--max-inflight", type=int, default=50)
    parser.add_argument("--ack-timeout", type=float, default=15.0)
    parser.add_argument("--keepalive", type=int, default=60)
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    lo, hi = (float(x) for x in args.interval.split(","))

    limit = raise_fd_limit()
    if limit < args.count + 64:
        raise SystemExit(f"open-file limit {limit} is too low for {args.count} connections")
    fleet = Fleet(args)
    try:
        fleet.connect_all(timeout=120)
        Fleet._say("ready", tills=len(fleet.tills), fd_limit=limit)
        if not fleet.wait_for_go():
            return 2
        fleet.run(args.seconds, lo, hi, args.drain_timeout)
        Fleet._say(
            "done",
            tills=[[t.store, t.device, t.made, t.acked] for t in fleet.tills],
            lags=[[round(at, 3), round(lag, 4)] for at, lag in fleet.lags],
            **fleet._summary(),
        )
    finally:
        fleet.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
