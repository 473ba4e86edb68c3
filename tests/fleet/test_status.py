"""HQ's view of which tills are online, from the retained status topic and the tills' Wills.

The end-to-end test runs the real till sync client in its own process and kills it with SIGKILL,
so the socket drops without a DISCONNECT and the broker publishes the Will — exactly what a
power cut does. HQ's view is read from the database after the worker's metrics say a batch was
committed (a condition, never a sleep).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.db import Connection, DeviceKey, backlog, connect
from fleet.db.events import Outcome
from fleet.ingest import Incoming, IngestWorker
from fleet.ingest.status import (
    StatusOutcome,
    StatusView,
    apply_messages,
    apply_statuses,
    device_status,
)
from fleet.keys import Signer
from protocol import topics
from protocol.messages.status import DeviceStatus, encode_status, supersedes
from tests.edge.tillkit import seed_store
from tests.fleet import samples
from tests.fleet.test_broker_acl import (
    ACCEPTED,
    DEVICES,
    TENANT,
    TILL_1,
    TILL_2,
    WAIT,
    AclBroker,
    ingest_config,
    start_acl_broker,
)

ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
STATUS_1 = topics.status(TILL_1.store, TILL_1.device)


def _status(state: str, connection: int, at: dt.datetime | None = None) -> bytes:
    return encode_status(
        DeviceStatus(
            state="online" if state == "online" else "offline", connection=connection, at=at
        )
    )


def _msg(payload: bytes, minute: int, topic: str = STATUS_1) -> Incoming:
    return Incoming(topic=topic, payload=payload, received_at=T0 + dt.timedelta(minutes=minute))


def _view(conn: Connection, key: DeviceKey = TILL_1) -> StatusView:
    view = device_status(conn, key)
    assert view is not None
    return view


# -- the fold, without MQTT ----------------------------------------------------------------------


def test_hq_follows_each_connection_and_ignores_late_wills(fleet_db: Connection) -> None:
    steps = [
        (_status("online", 1, T0), StatusOutcome.CHANGED, ("online", 1)),
        (_status("online", 1, T0), StatusOutcome.SAME, ("online", 1)),  # retained, again
        (_status("offline", 1), StatusOutcome.CHANGED, ("offline", 1)),  # its Will
        (_status("online", 2, T0), StatusOutcome.CHANGED, ("online", 2)),
        (_status("offline", 1), StatusOutcome.STALE, ("online", 2)),  # a late Will of 1
        (_status("online", 1, T0), StatusOutcome.STALE, ("online", 2)),
        (_status("online", 3, T0), StatusOutcome.CHANGED, ("online", 3)),  # Will of 2 missed
        (_status("offline", 3, T0), StatusOutcome.CHANGED, ("offline", 3)),  # a clean stop
        (_status("online", 3, T0), StatusOutcome.STALE, ("offline", 3)),
    ]
    changed_at = None
    for minute, (payload, outcome, expected) in enumerate(steps):
        result = apply_statuses(fleet_db, [_msg(payload, minute)], TENANT)
        assert result.outcomes == {outcome: 1}, (minute, result)
        view = _view(fleet_db)
        assert (view.state, view.connection) == expected
        if outcome is StatusOutcome.CHANGED:
            changed_at = T0 + dt.timedelta(minutes=minute)
        assert view.changed_at == changed_at
    # last_seen_at moved with the last online HQ accepted (minute 6), not with Wills after it.
    assert _view(fleet_db).last_seen_at == T0 + dt.timedelta(minutes=6)


def test_bad_status_messages_are_dead_letters_and_an_emptied_status_is_ignored(
    fleet_db: Connection,
) -> None:
    apply_statuses(fleet_db, [_msg(_status("online", 4), 0)], TENANT)
    bad = [
        _msg(b"garbage", 1),
        _msg(b'{"state":"online","connection":0,"at":null}', 2),
        _msg(b'{"state":"online","connection":5}', 3),
        _msg(b'{"state":"asleep","connection":5,"at":null}', 4),
        _msg(_status("online", 5), 5, topic="tf/v1/s-001/status"),
        _msg(b"x" * 600, 6),
    ]
    result = apply_statuses(fleet_db, [*bad, _msg(b"", 7)], TENANT)
    assert result.dead_letters == len(bad)
    assert result.outcomes == {StatusOutcome.CLEARED: 1}
    assert (_view(fleet_db).state, _view(fleet_db).connection) == ("online", 4)
    rows = fleet_db.execute("SELECT topic, error_path FROM dead_letters ORDER BY received_at")
    assert [r["error_path"] for r in rows] == ["$", "$.connection", "$", "$.state", None, "$"]


def test_a_mixed_batch_applies_statuses_and_uplink_events(fleet_db: Connection) -> None:
    batch = [
        _msg(_status("online", 1), 0),
        _msg(samples.wire(samples.feedback(), 1), 0, topics.uplink("s-001", "till-1", "x.y")),
        _msg(
            samples.wire(samples.feedback(), 1),
            0,
            topics.uplink("s-001", "till-1", "feedback.given"),
        ),
        _msg(_status("online", 1), 0, topics.status("s-001", "till-2")),
    ]
    result = apply_messages(fleet_db, batch, TENANT)
    assert result.outcomes == {Outcome.STORED: 1}
    assert backlog(fleet_db) == 1  # stored and queued for projection, not projected
    assert result.dead_letters == 1  # the uplink event on the wrong type's topic
    assert _view(fleet_db).state == "online"
    assert _view(fleet_db, TILL_2).state == "online"  # a device HQ had not seen gets its row
    assert fleet_db.scalar("SELECT acked_seq FROM devices WHERE device = 'till-1'") == 1


_statuses = st.lists(
    st.builds(
        lambda state, n: DeviceStatus(state=state, connection=n, at=None),
        st.sampled_from(["online", "offline"]),
        st.integers(min_value=1, max_value=4),
    ),
    min_size=1,
    max_size=12,
)


def _latest(statuses: list[DeviceStatus]) -> tuple[str, int]:
    best = max(statuses, key=lambda s: (s.connection, s.state == "offline"))
    return best.state, best.connection


@given(_statuses)
def test_supersedes_makes_the_order_of_arrival_irrelevant(statuses: list[DeviceStatus]) -> None:
    held: DeviceStatus | None = None
    for status in statuses:
        if supersedes(status, held):
            held = status
    assert held is not None
    assert (held.state, held.connection) == _latest(statuses)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_statuses, st.data())
def test_hqs_view_is_the_same_whatever_the_order_and_batching(
    tmp_path: Path, statuses: list[DeviceStatus], data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(0, len(statuses)), max_size=4)))
    with connect(f"sqlite://{tmp_path / 'fold.db'}") as conn:
        with conn.transaction():
            conn.execute("DELETE FROM dead_letters")
            conn.execute("DELETE FROM devices")
        messages = [_msg(encode_status(s), i) for i, s in enumerate(statuses)]
        for start, end in zip([0, *cuts], [*cuts, len(messages)], strict=True):
            if start < end:
                apply_statuses(conn, messages[start:end], TENANT)
        view = _view(conn)
    assert (view.state, view.connection) == _latest(statuses)


# -- a real till, killed and reconnecting --------------------------------------------------------

_TILL = r"""
import sys
from pathlib import Path
from edge.store import outbox
from edge.sync.client import SyncClient
from edge.sync.settings import SyncSettings

path, host, port, user, password, key_id, public_key = sys.argv[1:8]
settings = SyncSettings(
    host=host, port=int(port), username=user, password=password,
    trusted_keys=((key_id, public_key),), health_interval_s=3600,
)
sync = SyncClient(Path(path), outbox.Origin("acme", "s-001", user), settings)
sync.start()
if not sync.wait_connected(30):
    print("offline", flush=True)
    sys.exit(1)
print("online", flush=True)
sys.stdin.readline()  # until the test closes stdin (or kills this process)
sync.stop()
print("stopped", flush=True)
"""


class TillProcess:
    """The till's sync client in a process of its own, so it can be killed like a till."""

    def __init__(self, store: Path, acl: AclBroker, signer: Signer, log: Path) -> None:
        self._log = log.open("a")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _TILL,
                str(store),
                acl.broker.host,
                str(acl.broker.port),
                TILL_1.device,
                acl.password(TILL_1.device),
                signer.key_id,
                signer.public_key_text,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self._lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        stdout: IO[str] = self.proc.stdout
        self._reader = threading.Thread(target=self._read, args=(stdout,), daemon=True)
        self._reader.start()

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            self._lines.put(line.strip())

    def expect(self, line: str) -> None:
        try:
            got = self._lines.get(timeout=WAIT)
        except queue.Empty:
            got = "<nothing>"
        assert got == line, f"the till said {got!r}, see {self._log.name}"

    def kill(self) -> None:
        """SIGKILL: the kernel closes the socket, no DISCONNECT reaches the broker."""
        self.proc.kill()
        self.close()

    def stop(self) -> None:
        """A clean stop: the till publishes ``offline`` itself and disconnects."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.expect("stopped")
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(WAIT)
        self._reader.join(WAIT)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self._log.close()


def _moved_past(seen: int, metrics: dict[str, int]) -> bool:
    return metrics["messages"] > seen


def wait_view(
    worker: IngestWorker,
    conn: Connection,
    key: DeviceKey,
    wanted: Callable[[StatusView], bool],
) -> StatusView:
    """Re-read HQ's view after each batch the worker commits until ``wanted`` holds."""
    deadline = time.monotonic() + WAIT
    while True:
        seen = worker.metrics.snapshot()["messages"]  # before the read: no batch slips by
        view = device_status(conn, key)
        if view is not None and wanted(view):
            return view
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"HQ's view of {key.device} stayed {view}"
        worker.metrics.wait_until(functools.partial(_moved_past, seen), remaining)


@pytest.fixture
def acl(tmp_path: Path, fleet_db: Connection) -> Iterator[AclBroker]:
    made = start_acl_broker(tmp_path, fleet_db, DEVICES)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def worker(
    acl: AclBroker, fleet_db_url: str, key_dir: Path, signer: Signer
) -> Iterator[IngestWorker]:
    running = IngestWorker(ingest_config(acl, fleet_db_url, key_dir, "ingest-status"), signer)
    running.start()
    try:
        assert running.subscribed.wait(WAIT), "the worker's subscriptions were not granted"
        yield running
    finally:
        running.stop()
        running.join(WAIT)


@pytest.mark.mqtt
def test_a_killed_till_shows_offline_and_its_late_will_cannot_hide_it_once_back(
    tmp_path: Path, acl: AclBroker, worker: IngestWorker, fleet_db: Connection, signer: Signer
) -> None:
    store = tmp_path / "till.db"
    seed_store(store)
    log = tmp_path / "till.log"

    till = TillProcess(store, acl, signer, log)
    till.expect("online")
    first = wait_view(worker, fleet_db, TILL_1, lambda v: v.state == "online")
    till.kill()
    dead = wait_view(worker, fleet_db, TILL_1, lambda v: v.state == "offline")
    assert dead.connection == first.connection  # the broker published that connection's Will

    till = TillProcess(store, acl, signer, log)
    till.expect("online")
    back = wait_view(
        worker,
        fleet_db,
        TILL_1,
        lambda v: v.state == "online" and (v.connection or 0) > (first.connection or 0),
    )

    # The first connection's Will arrives again, late (a bridge, a slow broker, a replay); the
    # till's own credentials may publish on its status topic, so the ACL lets it through.
    replay = acl.peer(TILL_1.device, client_id="replay").ready()
    stale = _status("offline", first.connection or 0)
    assert replay.publish(STATUS_1, stale, retain=True) in ACCEPTED
    # A sentinel after it: once HQ shows till-2 online, the stale Will has been applied too.
    other = acl.peer(TILL_2.device).ready()
    assert other.publish(topics.status("s-001", "till-2"), _status("online", 1)) in ACCEPTED
    wait_view(worker, fleet_db, TILL_2, lambda v: v.state == "online")
    now = _view(fleet_db)
    assert (now.state, now.connection, now.changed_at) == (
        back.state,
        back.connection,
        back.changed_at,
    )  # last_seen_at moves on with the till's own uplink, which is right

    till.stop()
    gone = wait_view(worker, fleet_db, TILL_1, lambda v: v.state == "offline")
    assert gone.connection == back.connection


@pytest.mark.mqtt
def test_a_new_hq_database_learns_who_is_online_from_the_retained_status(
    tmp_path: Path, acl: AclBroker, fleet_db_url: str, key_dir: Path, signer: Signer
) -> None:
    store = tmp_path / "till.db"
    seed_store(store)
    till = TillProcess(store, acl, signer, tmp_path / "till.log")
    try:
        till.expect("online")
        # Once another reader has the status, the broker holds it retained.
        observer = acl.peer("hq-ingest", subscribe=[STATUS_1]).ready()
        assert observer.until(STATUS_1) == []
        hq = IngestWorker(ingest_config(acl, fleet_db_url, key_dir, "ingest-late"), signer)
        hq.start()
        try:
            assert hq.subscribed.wait(WAIT)
            with connect(fleet_db_url) as conn:
                view = wait_view(hq, conn, TILL_1, lambda v: v.state == "online")
            assert view.connection == 1
        finally:
            hq.stop()
            hq.join(WAIT)
    finally:
        till.stop()
