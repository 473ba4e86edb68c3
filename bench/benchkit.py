"""What the sync benchmarks share: realistic uplink payloads, fleet databases, ingest processes.

The sync benchmarks run the real parts, as they run in production: a private Mosquitto, the
fleet database (a fresh SQLite file, or a PostgreSQL database created for the run and dropped
after it) and ``fleet ingest`` worker *processes* (one interpreter each, so two workers really
use two cores; two :class:`~fleet.ingest.IngestWorker` threads in one interpreter would share
one through the GIL and measure Python's lock, not the ingest). Nothing waits by sleeping:
waits are on log lines of the workers, on conditions set by MQTT callbacks, or on process exit.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pytest_benchmark.fixture import BenchmarkFixture

from fleet.db import connect
from hil.services.mosquitto import Mosquitto
from protocol import topics
from protocol.errors import ProtocolError
from protocol.ids import uuid7
from protocol.messages import encode_event, make_event
from protocol.messages.downlink import Ack
from protocol.messages.uplink import SaleCompleted
from protocol.signing import DeviceIdentity, DocumentRejectedError, Keyring, verify_document
from tests.fleet import samples

ROOT = Path(__file__).resolve().parents[1]
FLEET_BIN = Path(sys.executable).parent / "fleet"
TENANT = "acme"
WAIT = 60.0
"""Upper bound on any single wait for a service; a run that needs longer has failed."""

# Sales of 2, 3, 4 and 6 lines, with and without a member: card + points tenders, discounts, a
# coupon and a weighed line (tests.fleet.samples.sale), 2-4 KiB on the wire each.
_TEMPLATES: tuple[SaleCompleted, ...] = tuple(
    samples.sale(1, member=member, lines=lines)
    for lines in (2, 3, 4, 6)
    for member in ("m-42", None)
)


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit and return the new soft limit.

    Every MQTT connection is a file descriptor, in the simulated tills and in Mosquitto, which
    inherits the limit of the process that starts it — so call this before starting the broker.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def run_once(benchmark: BenchmarkFixture, fn: Callable[[], None]) -> None:
    """Time one call of ``fn``; its failure is raised after the timer has stopped.

    pytest-benchmark cannot write its JSON for a benchmark whose only round raised, and its
    crash at the end of the session hides the test's own failure; so the round always ends, and
    the failure is then reported like any test's.
    """
    failures: list[BaseException] = []

    def round_() -> None:
        try:
            fn()
        except BaseException as exc:
            failures.append(exc)

    benchmark.pedantic(round_, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    if failures:
        raise failures[0]


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``values`` (0.0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


def sale_payload(
    store: str, device: str, device_no: int, seq: int, occurred_at: dt.datetime
) -> bytes:
    """An encoded ``sale.completed`` of ``device`` with ``seq``, unique ids and a real timestamp.

    ``event_id`` and ``sale_id`` carry ``device_no`` and ``seq`` in their random bits, so they are
    unique across every simulated till without a random source (``tests.fleet.samples`` derives
    them from a 2-byte device hash, which collides among thousands of tills).
    """
    template = _TEMPLATES[(device_no + seq) % len(_TEMPLATES)]
    ms = int(occurred_at.timestamp() * 1000)
    tail = device_no.to_bytes(4, "big") + seq.to_bytes(4, "big")
    body = msgspec.structs.replace(
        template,
        sale_id=uuid7(ms, b"\x05\x01" + tail),
        receipt_no=f"{store}-{device}-{seq:06d}"[-40:],
        opened_at=occurred_at - dt.timedelta(seconds=90),
        completed_at=occurred_at,
    )
    event = make_event(
        body,
        event_id=uuid7(ms, b"\x0e\x01" + tail),
        tenant=TENANT,
        store=store,
        device=device,
        seq=seq,
        occurred_at=occurred_at,
    )
    return encode_event(event)


# -- the fleet side ---------------------------------------------------------------------------


@contextmanager
def fleet_database(dialect: str, workdir: Path) -> Iterator[str]:
    """A fresh, migrated fleet database: a new SQLite file, or a PostgreSQL database that is
    created for the run and dropped after it (server and credentials as the fleet tests use)."""
    if dialect == "sqlite":
        url = f"sqlite://{workdir / 'fleet.db'}"
        connect(url).close()
        yield url
        return
    from tests.fleet.conftest import postgres_database

    with postgres_database() as url:
        connect(url).close()
        yield url


def write_fleet_config(
    path: Path, broker: Mosquitto, db_url: str, key_dir: Path, **ingest: int | float | str
) -> Path:
    """A ``fleet ingest`` TOML file; ``[ingest]`` holds only what the caller overrides, so the
    benchmarks run the production defaults unless they say otherwise."""
    lines = [
        "[fleet]",
        f'tenant = "{TENANT}"',
        f'db_url = "{db_url}"',
        "[broker]",
        f'host = "{broker.host}"',
        f"port = {broker.port}",
        "[keys]",
        f'dir = "{key_dir}"',
        'active = "hq-1"',
        "[ingest]",
        *(f"{k} = {json.dumps(v)}" for k, v in ingest.items()),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class IngestProcess:
    """One ``fleet ingest`` process; its JSON log lines are kept in a file and read as they come."""

    def __init__(self, config: Path, client_id: str, log_path: Path) -> None:
        self.client_id = client_id
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.log_path = log_path
        self.proc = subprocess.Popen(
            # DEBUG: the benchmarks wait on "projections caught up", which is a debug line.
            [
                str(FLEET_BIN),
                "ingest",
                "--config",
                str(config),
                "--client-id",
                client_id,
                "--log-level",
                "DEBUG",
            ],
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
        with self.log_path.open("a", encoding="utf-8") as log:
            for line in self.proc.stderr:
                log.write(line)
                try:
                    parsed = json.loads(line)
                except json.JSONDecodeError:
                    parsed = {"msg": "raw", "line": line}
                self.lines.put(parsed if isinstance(parsed, dict) else {"msg": "raw"})

    def wait_for(self, msg: str, timeout: float = WAIT) -> dict[str, Any]:
        """The next log line whose ``msg`` is ``msg``; fails if the process says nothing like it."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.client_id} never logged {msg!r}; see {self.log_path}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line.get("msg") == msg:
                return line
            if line.get("level") == "error" or self.proc.poll() is not None:
                raise AssertionError(f"{self.client_id}: {line}; see {self.log_path}")

    def cpu_seconds(self) -> dict[str, float]:
        """User + system CPU time used so far by the worker and each of its child processes
        (receiver, validator, projector), by role (Linux ``/proc``)."""
        used = {"writer": _cpu_s(self.proc.pid)}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if int(_stat(int(entry.name))[1]) != self.proc.pid:
                    continue
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                role = argv[3].decode() if len(argv) > 3 else entry.name  # -m fleet.ingest ROLE
                used[role] = _cpu_s(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue  # a process that ended meanwhile
        return used

    def stop(self) -> dict[str, Any]:
        """SIGTERM (the worker finishes its batch and keeps its broker session); its final
        counters (the ``stopped`` log line) plus ``cpu_s``, the CPU time it and its child
        processes used, and ``cpu_by_process_s``."""
        cpu = self.cpu_seconds()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(WAIT)
        self._pump_thread.join(WAIT)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        assert code == 0, f"{self.client_id} exited with {code}; see {self.log_path}"
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                raise AssertionError(f"{self.client_id} did not log 'stopped'") from None
            if line.get("msg") == "stopped":
                return {
                    **line,
                    "cpu_s": round(sum(cpu.values()), 2),
                    "cpu_by_process_s": {k: round(v, 2) for k, v in sorted(cpu.items())},
                }

    def kill(self) -> None:
        """For cleanup after a failure only."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT)
        self._pump_thread.join(WAIT)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def machine_cpu() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs so far (``/proc/stat``): two readings give how
    busy the machine was in between — whether a run was bound by CPU or waited on something."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(fields)
    return total - fields[3] - fields[4], total  # minus idle and iowait


def busy_pct(before: tuple[int, int], after: tuple[int, int]) -> int:
    return round(100 * (after[0] - before[0]) / max(1, after[1] - before[1]))


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (state, ppid, ...)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_s(pid: int) -> float:
    stat = _stat(pid)
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def wait_caught_up(workers: list[IngestProcess], events: int, timeout: float) -> float:
    """When (wall clock, the worker's log time) the workers had projected ``events`` events.

    A worker logs "projections caught up" with how many events it ``projected`` since its
    previous such line, when a round finds the queue empty and nothing was stored since the
    round was asked for; so the sum over all workers' lines reaches the number stored exactly
    when the last of them is projected. Count only lines of workers started for this run.
    """
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        for worker in workers:
            try:
                line = worker.lines.get(timeout=0.05)  # waits on the worker's log, not a clock
            except queue.Empty:
                continue
            if line.get("level") == "error":
                raise AssertionError(f"{worker.client_id}: {line}; see {worker.log_path}")
            if line.get("msg") != "projections caught up":
                continue
            done += int(line["projected"])
            if done >= events:
                assert done == events, f"{done} events projected of {events} stored"
                return dt.datetime.fromisoformat(str(line["ts"])).timestamp()
    raise AssertionError(f"{done} of {events} events projected within {timeout:.0f} s")


@contextmanager
def ingest_workers(
    config: Path, count: int, logdir: Path, *, wait_subscribed: bool = True
) -> Iterator[list[IngestProcess]]:
    """``count`` workers of one share group (client ids ``ingest-1``...), stopped on exit."""
    workers: list[IngestProcess] = []
    try:
        for n in range(1, count + 1):
            workers.append(IngestProcess(config, f"ingest-{n}", logdir / f"ingest-{n}.log"))
        if wait_subscribed:
            for worker in workers:
                worker.wait_for("subscribed")
        yield workers
    finally:
        for worker in workers:
            worker.kill()


def end_sessions(broker: Mosquitto, client_ids: list[str]) -> None:
    """End the broker sessions of these (stopped) clients, so the broker stops queueing for
    them: a clean start discards a session, a disconnect with expiry 0 leaves none behind."""
    for client_id in client_ids:
        _end_session(broker, client_id)


def _end_session(broker: Mosquitto, client_id: str) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    answered = threading.Event()
    refused: list[str] = []

    def on_connect(_c: object, _u: object, _f: object, reason: ReasonCode, *_a: object) -> None:
        if reason.is_failure:
            refused.append(str(reason))
        answered.set()

    client.on_connect = on_connect
    client.connect(broker.host, broker.port, clean_start=True, properties=connect_props())
    client.loop_start()
    try:
        assert answered.wait(WAIT), f"could not end the session of {client_id}"
        assert not refused, f"the broker refused {client_id}: {refused[0]}"
    finally:
        client.disconnect()
        client.loop_stop()


# -- watching HQ's acks -----------------------------------------------------------------------


class AckWatcher:
    """Listens to every till's ``down/ack`` as the tills would, verifying HQ's signature.

    An ack is HQ saying "stored up to seq N", published right after the COMMIT that stored N, so
    the moment it arrives here is the moment HQ's commit became visible to a till (plus one
    loopback hop and a signature). :attr:`covered_at` keeps, per device, when each new mark
    arrived (wall-clock seconds).
    """

    def __init__(self, broker: Mosquitto, keyring: Keyring) -> None:
        self.keyring = keyring
        self.hwm: dict[tuple[str, str], int] = {}
        self.covered_at: dict[tuple[str, str], list[tuple[int, float]]] = {}
        self.rejected: list[str] = []
        self.last_change = 0.0
        self._since: dt.datetime | None = None
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-ack-watcher", protocol=mqtt.MQTTv5
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(WAIT), "the ack watcher's subscription was not granted"

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object
    ) -> None:
        if not rc.is_failure:
            client.subscribe(f"{topics.PREFIX}/+/+/down/{Ack.TYPE}", qos=1)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        at = time.time()
        try:
            parsed = topics.parse(msg.topic)
            assert parsed.store is not None
            assert parsed.device is not None
            doc = verify_document(
                msg.payload,
                keyring=self.keyring,
                identity=DeviceIdentity(TENANT, parsed.store, parsed.device),
                now=dt.datetime.now(dt.UTC),
                running_version=lambda _k, _s: None,
            )
        except (ProtocolError, DocumentRejectedError, AssertionError) as exc:
            with self._cond:
                self.rejected.append(f"{msg.topic}: {exc}")
                self._cond.notify_all()
            return
        assert isinstance(doc.body, Ack)
        key = (parsed.store, parsed.device)
        with self._cond:
            if self._since is not None and doc.issued_at < self._since:
                return  # an earlier round's ack (same tills, same seqs): not this round's
            if doc.body.up_to_seq > self.hwm.get(key, 0):
                self.hwm[key] = doc.body.up_to_seq
                self.covered_at.setdefault(key, []).append((doc.body.up_to_seq, at))
                self.last_change = at
                self._cond.notify_all()

    def reset(self) -> None:
        """Forget every mark, and any ack issued before now: a new round stores the same tills'
        seqs again, into a fresh database."""
        with self._cond:
            self.hwm.clear()
            self.covered_at.clear()
            self.last_change = 0.0
            self._since = dt.datetime.now(dt.UTC)

    def wait_for(self, targets: dict[tuple[str, str], int], timeout: float) -> bool:
        """Block until every device's mark is at least its target."""

        def reached() -> bool:
            return all(self.hwm.get(k, 0) >= v for k, v in targets.items())

        with self._cond:
            return self._cond.wait_for(reached, timeout)

    def ack_time(self, key: tuple[str, str], seq: int) -> float | None:
        """When the first ack covering ``seq`` of ``key`` arrived."""
        with self._cond:
            for up_to, at in self.covered_at.get(key, []):
                if up_to >= seq:
                    return at
        return None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# -- publishing as tills do -------------------------------------------------------------------


def connect_props(*, session_expiry_s: int = 0, receive_maximum: int | None = None) -> Properties:
    """CONNECT properties: a session kept while away, and the in-flight window we accept."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry_s
    if receive_maximum is not None:
        props.ReceiveMaximum = receive_maximum
    return props


def publish_all(
    broker: Mosquitto, per_device: dict[tuple[str, str], list[bytes]], *, inflight: int = 100
) -> float:
    """Publish each device's payloads (seq 1, 2, ...) from its own connection, QoS 1, devices
    interleaved as a fleet would; return once the broker has PUBACKed every one (seconds taken).
    """
    clients: list[mqtt.Client] = []
    infos: list[mqtt.MQTTMessageInfo] = []
    start = time.monotonic()
    try:
        for store, device in per_device:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=f"pub-{store}-{device}", protocol=mqtt.MQTTv5
            )
            client.max_inflight_messages_set(inflight)
            client.max_queued_messages_set(0)
            client.connect(broker.host, broker.port)
            client.loop_start()
            clients.append(client)
        longest = max(len(v) for v in per_device.values())
        for i in range(longest):
            for client, ((store, device), payloads) in zip(
                clients, per_device.items(), strict=True
            ):
                if i < len(payloads):
                    topic = topics.uplink(store, device, SaleCompleted.TYPE)
                    infos.append(client.publish(topic, payloads[i], qos=1))
        for info in infos:
            info.wait_for_publish(WAIT)
            assert info.is_published(), "the broker did not take a pre-loaded message"
        return time.monotonic() - start
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()
