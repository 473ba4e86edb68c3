"""The ingest worker: uplink events from the broker into the fleet database, exactly once.

Four processes: a receiver child (``fleet.ingest.receiver``) owns the broker connection and
forwards each PUBLISH over a pipe to a validator child (``fleet.ingest.validator``), which
decodes it strictly and passes it on with its verdict; this process's writer threads take
batches (up to
``batch_max`` messages or ``batch_wait_ms``), store each batch in one transaction, and only
after COMMIT asks the receiver to acknowledge the messages to the broker (``manual_ack``), so a
worker killed mid-batch leaves them to be redelivered — to itself when it comes back (the broker
keeps its persistent session) — and the unique ``event_id`` makes the redelivery harmless. Then
it publishes, per device touched, a signed ``ack`` document with the device's contiguous
high-water mark: that, not the broker's PUBACK, lets the till delete its outbox rows. Receiving
and strict decoding are each a core's worth of Python at a few thousand messages a second, which
is why each has a process (and a GIL) of its own: on two cores they overlap with the writes.

Writers: ``writers`` threads (on PostgreSQL two by default), each with a database connection of
its own, so one builds its next batch while the server stores the other's (one batch at a time
kept the worker and the server taking turns, each idle while the other worked; on SQLite,
whose writers take turns on one lock anyway, one is the default). Messages are dealt to
the writers by device (the ``{store}/{device}`` of their topic): a device's messages are always
one writer's, stored in the order they came, so two batches in flight never share a device —
they never wait for each other's locks, and a device's high-water mark only ever moves forward
within a worker, exactly as with one writer. The first writer also watches gaps and logs the
metrics.

Projection: a batch stores events and queues them; whenever a writer thread has no batch to
store, it asks the projector child (``fleet.ingest.projector``) for a round, which writes up to
``projection_batch`` queued events into the sales, stock and loyalty tables in one transaction
(``fleet.db.projection_queue``) — paced by ``fleet.ingest.pacing``: in a pause of the uplink,
or once stored events have waited ``projection_max_delay_s``. A burst of uplink is thus stored
and acknowledged at the pace the broker delivers it, and the reporting tables catch up in the
pauses and right after.

A packet id is only meaningful on the connection that delivered it: after a reconnect the broker
resends what was unacknowledged under the same ids, so messages of an older connection are
still applied (harmless duplicates) but never acknowledged, lest a recycled id acknowledge a
different message that is not stored yet (the receiver drops such acks).

Gaps: for devices with seqs stored above their mark, a :class:`SeqTracker` and a
:class:`ResendPolicy` wait out the reorder timeout, then — after re-reading the database, since
another worker of the share group may have filled the gap — publish a signed
``command``/``resend_from`` for the missing range.

Each worker also follows every till's retained ``status`` topic into the devices table
(``fleet.ingest.status``), through the same queue, batches and acknowledgements.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import socket
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from typing import Any

from fleet.config import FleetConfig
from fleet.db import (
    Connection,
    DatabaseError,
    DeviceKey,
    SeqState,
    backlog,
    connect,
    seq_state,
)
from fleet.db.events import Outcome
from fleet.ingest import child, receiver
from fleet.ingest.batch import Incoming
from fleet.ingest.downlink import ack_document, resend_document, topic_for
from fleet.ingest.metrics import Metrics
from fleet.ingest.pacing import ProjectionPacer
from fleet.ingest.projector import ProjectorSettings
from fleet.ingest.seqtrack import ResendPolicy, SeqTracker
from fleet.ingest.status import apply_messages
from fleet.ingest.validator import ValidatorSettings, unpack
from fleet.keys import Signer
from protocol.messages.downlink import Ack, Command

_MAX_BACKOFF_S = 5.0
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


_PROJECTION_RETRY_S = 1.0
_START_TIMEOUT_S = 60.0
"""How long a helper may take to import and attach (a few tenths of a second, normally)."""


class ReceiverLostError(RuntimeError):
    """A helper process ended without being asked to (the worker stops: run it again)."""


class _StoppedWhileStartingError(Exception):
    """:meth:`IngestWorker.stop` came while the helpers were starting."""


@dataclass(slots=True)
class _Watch:
    tracker: SeqTracker
    policy: ResendPolicy


@dataclass(slots=True)
class _Lane:
    """One writer's share of the messages: the devices dealt to it, in arrival order."""

    queue: queue.Queue[list[Incoming]]
    carry: list[Incoming]


_LANE_CACHE_MAX = 1 << 16


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
        self._lanes = [_Lane(queue.Queue(), []) for _ in range(config.writers)]
        self._lane_of: dict[str, int] = {}  # topic -> lane, for the reader thread only
        self._order_lock = threading.Lock()  # one message at a time into the receiver's pipe
        self._watch_lock = threading.Lock()  # guards _watches
        self._writer_error: BaseException | None = None
        self._stop = threading.Event()
        self._receiver_stopped = threading.Event()
        self._lost: str | None = None
        self._watches: dict[DeviceKey, _Watch] = {}
        self._pipe: Pipe | None = None
        self._validated: Pipe | None = None
        self._projector: Pipe | None = None
        self._thread: threading.Thread | None = None
        self._reader: threading.Thread | None = None
        self._ttl = dt.timedelta(seconds=config.ingest.ack_ttl_s)
        self._tick = min(0.5, config.ingest.reorder_timeout_s / 4)
        # Projection state, shared by the writer threads and the reader thread.
        self._projection_lock = threading.Lock()
        self._projection_due = True  # events queued by an earlier run may be waiting
        self._projection_idle = threading.Event()
        self._round_out = False
        self._stores = 0  # batches that stored something new, ever
        self._stores_at_go = 0  # ... when the round now out was asked for
        self._projection_retry_at = 0.0
        self._projected_run = 0
        self._pacer = ProjectionPacer(
            quiet_s=config.ingest.batch_wait_ms / 1000,
            max_delay_s=float(config.ingest.projection_max_delay_s),
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self) -> None:
        """Connect, ingest until :meth:`stop`, then finish the batch in hand and disconnect.

        Raises :class:`ReceiverLostError` if the receiver process died under it.
        """
        conns: list[Connection] = []
        try:
            for _ in self._lanes:
                conns.append(connect(self.config.db_url))
            try:
                procs = self._start_children()
            except _StoppedWhileStartingError:
                return  # told to stop before a message was taken: nothing to finish
            try:
                conns = self._write(conns)  # the connections in use at the end, maybe new ones
            finally:
                self._stop_children(procs)
        finally:
            for conn in conns:
                conn.close()
            self.log.info("stopped", extra={"fields": self.metrics.snapshot()})
        if self._writer_error is not None:
            raise self._writer_error
        if self._lost is not None:
            raise ReceiverLostError(f"the {self._lost} process ended unexpectedly; see the log")

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

    def wait_projected(self, timeout: float) -> bool:
        """Block until every event this worker has stored is projected (by it, or by another
        worker that took it first); False if ``timeout`` passed first."""
        return self._projection_idle.wait(timeout)

    # -- the helper processes ------------------------------------------------------------------

    def _start_children(self) -> list[subprocess.Popen[bytes]]:
        ingest = self.config.ingest
        settings = receiver.ReceiverSettings(
            broker=self.config.broker,
            client_id=self.client_id,
            share_group=ingest.share_group,
            session_expiry_s=ingest.session_expiry_s,
            max_inflight=ingest.max_inflight,
        )
        started: list[subprocess.Popen[bytes]] = []
        to_validator, from_receiver = socket.socketpair()
        try:
            vproc, self._validated = child.start(
                "validator",
                ValidatorSettings(tenant=self.config.tenant),
                self.client_id,
                link=from_receiver,
            )
            started.append(vproc)
            from_receiver.close()
            pproc, self._projector = child.start(
                "projector",
                ProjectorSettings(db_url=self.config.db_url, batch=ingest.projection_batch),
                self.client_id,
            )
            started.append(pproc)
            for role, helper in (("validator", self._validated), ("projector", self._projector)):
                if not child.wait_ready(helper, _START_TIMEOUT_S, self._stop):
                    if self._stop.is_set():
                        raise _StoppedWhileStartingError
                    raise ReceiverLostError(f"the {role} process did not start; see the log")
            if self._stop.is_set():  # told meanwhile, after the last look
                raise _StoppedWhileStartingError
            # Only now take messages from the broker: they can be checked and stored at once.
            rproc, self._pipe = child.start("receiver", settings, self.client_id, link=to_validator)
            started.append(rproc)
            to_validator.close()
        except BaseException:
            # Children end when their pipes close; the receiver must not keep our session.
            to_validator.close()
            from_receiver.close()
            for pipe in (self._pipe, self._validated, self._projector):
                if pipe is not None:
                    pipe.close()
            for proc in started:
                child.end(proc, 5.0)
            raise
        self._reader = threading.Thread(target=self._read, name="ingest-from-children", daemon=True)
        self._reader.start()
        return [rproc, vproc, pproc]

    def _stop_children(self, procs: list[subprocess.Popen[bytes]]) -> None:
        """Let the downlinks already handed over leave, then end the children (the validator
        ends with the receiver)."""
        rproc, vproc, pproc = procs
        if self._lost != "receiver":
            self._order(("stop",))
            self._receiver_stopped.wait(receiver.FLUSH_TIMEOUT_S + 5.0)
        if self._projector is not None:
            with contextlib.suppress(OSError):
                self._projector.send(("stop",))
        child.end(rproc, 5.0)
        child.end(vproc, 5.0)
        child.end(pproc, 30.0)  # a round in hand commits first
        if self._reader is not None:
            self._reader.join(5.0)  # it ends on the children's end of file; then close
        for pipe in (self._pipe, self._validated, self._projector):
            if pipe is not None:
                pipe.close()

    def _order(self, order: tuple[Any, ...]) -> None:
        assert self._pipe is not None
        # Writers order at once; a pipe's send is not atomic for a large message.
        with self._order_lock, contextlib.suppress(OSError):  # gone: the reader thread says so
            self._pipe.send(order)

    def _lose(self, which: str) -> None:
        if self._lost is None:
            self._lost = which
            self.log.error(f"{which} process ended unexpectedly")
        self._receiver_stopped.set()
        self._stop.set()
        self._wake_writers()

    def _wake_writers(self) -> None:
        """Each writer waiting for a batch looks up at once (to stop, or to ask for a round)
        instead of at the end of its tick. Not from a signal handler: a queue's lock is not
        reentrant."""
        for lane in self._lanes:
            lane.queue.put([])

    def _read(self) -> None:
        """Reader thread: the children's news, as messages into the queue and lines in the log."""
        assert self._pipe is not None
        assert self._validated is not None
        assert self._projector is not None
        pipes = [self._pipe, self._validated, self._projector]
        while pipes:
            for pipe in wait(pipes):
                assert isinstance(pipe, Pipe)
                try:
                    news = pipe.recv()
                except (EOFError, OSError):
                    pipes.remove(pipe)
                    if pipe is self._projector:
                        if not self._stop.is_set():
                            self._lose("projector")
                    elif not self._receiver_stopped.is_set():
                        self._lose("receiver" if pipe is self._pipe else "validator")
                    continue
                if pipe is self._projector:
                    self._projected(news)
                elif pipe is self._validated:
                    self._pacer.busy(time.monotonic())  # a float store: no lock needed
                    self._deal(_incoming(news[1]))
                elif self._received(news):
                    pipes.remove(pipe)

    def _deal(self, messages: list[Incoming]) -> None:
        """Hand messages to the writers, each device's to one writer, in arrival order."""
        lanes = self._lanes
        if len(lanes) == 1:
            lanes[0].queue.put(messages)
            return
        lane_of = self._lane_of
        dealt: list[list[Incoming]] = [[] for _ in lanes]
        for msg in messages:
            lane = lane_of.get(msg.topic)
            if lane is None:
                lane = writer_for(msg.topic, len(lanes))
                if len(lane_of) >= _LANE_CACHE_MAX:
                    lane_of.clear()
                lane_of[msg.topic] = lane
            dealt[lane].append(msg)
        for target, share in zip(lanes, dealt, strict=True):
            if share:
                target.queue.put(share)

    def _received(self, news: tuple[Any, ...]) -> bool:
        """Handle one message of the receiver; True when it was its last."""
        log = self.log
        kind = news[0]
        if kind == "connected":
            fields = {"client_id": self.client_id, "session": news[2]}
            log.info("connected", extra={"fields": fields})
        elif kind == "subscribed":
            log.info("subscribed", extra={"fields": {"client_id": self.client_id}})
            self.subscribed.set()
        elif kind == "disconnected":
            if not self._stop.is_set():
                log.warning("disconnected", extra={"fields": {"reason": news[1]}})
        elif kind == "connect_refused":
            log.error("connect refused", extra={"fields": {"reason": news[1]}})
        elif kind == "subscribe_refused":
            log.error("subscription refused", extra={"fields": {"reasons": news[1]}})
        elif kind == "not_sent":
            fields = {"kind": news[1], "error": news[2]}
            log.warning("downlink not sent", extra={"fields": fields})
        elif kind == "stopped":
            self._receiver_stopped.set()
            return True
        return False

    def _projected(self, news: tuple[Any, ...]) -> None:
        """A projection round came back: count it, and say once when the queue is empty."""
        caught_up: tuple[int, int] | None = None
        with self._projection_lock:
            self._round_out = False
            if news[0] == "failed":
                self.metrics.add(db_errors=1)
                self.log.error("projection failed", extra={"fields": {"error": news[1]}})
                self._projection_retry_at = time.monotonic() + _PROJECTION_RETRY_S
            else:
                _, projected, failed, left = news
                self.metrics.add(projected=projected, projection_errors=failed)
                self._projected_run += projected + failed
                if failed:
                    self.log.error(
                        "projection failed for some events (see events.projection_error)",
                        extra={"fields": {"events": failed}},
                    )
                if left is not None and self._stores == self._stores_at_go:
                    # Empty, and nothing stored since the round looked: all caught up.
                    self._projection_due = False
                    self._pacer.caught_up()
                    self._projection_idle.set()
                    if self._projected_run:
                        caught_up = (self._projected_run, left)
                        self._projected_run = 0
        if caught_up is not None:
            # ``backlog`` above 0: the rest is locked by another worker, projecting it.
            fields = {"projected": caught_up[0], "backlog": caught_up[1]}
            self.log.debug("projections caught up", extra={"fields": fields})
        self._wake_writers()  # an idle one may ask for the next round

    def _ask_projection(self) -> float | None:
        """A writer is idle: start a projection round if one is due and none is out,
        and the pacer (``fleet.ingest.pacing``) does not hold it back; if it does, returns how
        long to wait before asking again."""
        now = time.monotonic()
        with self._projection_lock:
            if not self._projection_due or self._round_out or now < self._projection_retry_at:
                return None
            hold = self._pacer.hold(now)
            if hold > 0:
                return hold
            self._round_out = True
            self._stores_at_go = self._stores
            self._pacer.started(now)
        assert self._projector is not None
        try:
            self._projector.send(("go",))
        except OSError:
            with self._projection_lock:
                self._round_out = False
        return None

    # -- the writer threads --------------------------------------------------------------------

    def _write(self, conns: list[Connection]) -> list[Connection]:
        """Run the first writer here and the others in threads; each finishes its batch in hand
        once told to stop. Returns the connections in use at the end (some maybe new)."""
        others = [
            threading.Thread(
                target=self._other_writer,
                args=(conns, n),
                name=f"ingest-writer-{n}-{self.client_id}",
            )
            for n in range(1, len(conns))
        ]
        for thread in others:
            thread.start()
        try:
            conns[0] = self._loop(conns[0], self._lanes[0], lead=True)
        finally:
            self._stop.set()  # already, unless the first writer failed: the others stop too
            self._wake_writers()
            for thread in others:
                thread.join()
        return conns

    def _other_writer(self, conns: list[Connection], n: int) -> None:
        try:
            conns[n] = self._loop(conns[n], self._lanes[n], lead=False)
        except BaseException as exc:  # a bug: stop the worker and say what it was
            self._writer_error = exc
            self.log.exception("writer failed")
            self._stop.set()
            self._wake_writers()

    def _loop(self, conn: Connection, lane: _Lane, *, lead: bool) -> Connection:
        interval = self.config.ingest.metrics_interval_s
        next_metrics = time.monotonic() + interval
        while not self._stop.is_set():
            batch = self._take_batch(lane)
            if batch:
                conn = self._process(conn, batch)
            if lead:
                if self._watches:
                    with self._watch_lock:  # held while asking the database: gaps are rare
                        conn = self._check_gaps(conn)
                if time.monotonic() >= next_metrics:
                    self._log_metrics(conn)
                    next_metrics = time.monotonic() + interval
        return conn

    def _log_metrics(self, conn: Connection) -> None:
        fields: dict[str, Any] = dict(self.metrics.snapshot())
        # A database error: the next batch reports it; the counters still go out.
        with contextlib.suppress(DatabaseError):
            fields["projection_backlog"] = backlog(conn)
        self.log.info("metrics", extra={"fields": fields})

    def _take_batch(self, lane: _Lane) -> list[Incoming]:
        """Up to ``batch_max`` messages: waits up to a tick for the first (asking for a
        projection round if there is none yet), then at most ``batch_wait_ms`` for the batch to
        fill. Empty when woken without messages."""
        limit = self.config.ingest.batch_max
        # Asked before every batch, not only when idle: under a load that never leaves the
        # queue empty, an overdue round must still start (the pacer holds it back otherwise).
        held_back = self._ask_projection()
        batch, lane.carry = lane.carry[:limit], lane.carry[limit:]
        if not batch:
            try:
                batch = lane.queue.get_nowait()
            except queue.Empty:
                try:
                    batch = lane.queue.get(
                        timeout=self._tick if held_back is None else min(self._tick, held_back)
                    )
                except queue.Empty:
                    return []
            if not batch:
                return []
        deadline = time.monotonic() + self.config.ingest.batch_wait_ms / 1000
        while len(batch) < limit:
            remaining = deadline - time.monotonic()
            try:
                batch.extend(
                    lane.queue.get(timeout=remaining) if remaining > 0 else lane.queue.get_nowait()
                )
            except queue.Empty:
                break
        if len(batch) > limit:
            batch, lane.carry = batch[:limit], batch[limit:] + lane.carry
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

        self._pacer.busy(time.monotonic())  # a wait for the lock was no pause in the uplink
        by_generation: dict[int, list[tuple[int, int]]] = {}
        for msg in batch:
            by_generation.setdefault(msg.generation, []).append((msg.mid, msg.qos))
        for generation, mids in by_generation.items():
            self._order(("ack", generation, mids))
        stored = result.outcomes[Outcome.STORED]
        if stored:
            with self._projection_lock:
                self._stores += 1
                self._projection_due = True
                self._projection_idle.clear()
                self._pacer.stored(time.monotonic())
        self.metrics.record_lags(result.lags_ms)
        self.metrics.add(
            messages=len(batch),
            batches=1,
            applied=stored,
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
            with self._watch_lock:
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
        """Retained, QoS 1, by the receiver (which reports it if the broker is away)."""
        self._order(("publish", topic_for(key, kind), payload, kind))

    def _reconnect_db(self, conn: Connection) -> Connection:
        conn.close()
        try:
            return connect(self.config.db_url)
        except DatabaseError as exc:
            self.log.error("database unreachable", extra={"fields": {"error": str(exc)[:500]}})
            return conn  # closed: the next attempt fails fast and comes back here


def writer_for(topic: str, writers: int) -> int:
    """The writer a topic's messages go to: by its ``{store}/{device}`` (``tf/v1/{store}/
    {device}/...``), so a device's uplink and status messages share one; a topic of another
    shape (a dead letter to be) goes by the whole topic."""
    parts = topic.split("/", 4)
    name = "/".join(parts[2:4]) if len(parts) == 5 else topic
    # crc32, not hash(): the same deal in every run, so a benchmark's few tills split alike.
    return zlib.crc32(name.encode("utf-8", "surrogatepass")) % writers


def _incoming(forwarded: list[tuple[Any, ...]]) -> list[Incoming]:
    """The validator's hand-over as :class:`Incoming` messages. Messages taken from one read of
    the socket share their arrival time; they share one ``datetime`` too, so it is built once
    and the database adapts it once per run (``fleet.db.engine``)."""
    out: list[Incoming] = []
    last_ns = -1
    received_at = _EPOCH
    for topic, payload, ns, mid, qos, generation, packed in forwarded:
        if ns != last_ns:
            last_ns = ns
            received_at = _EPOCH + dt.timedelta(microseconds=ns // 1000)
        out.append(
            Incoming(
                topic=topic,
                payload=payload,
                received_at=received_at,
                mid=mid,
                qos=qos,
                generation=generation,
                checked=unpack(packed),
            )
        )
    return out
