"""A real till (checkout + sync client) against the real HQ ingest worker, over a real broker,
on SQLite and on PostgreSQL: sales arrive with every field intact, exactly once, and the till's
outbox empties only through HQ's signed acks — also after the broker was down for 500 sales.

HQ acks an event once it is stored; its rows in ``sales`` follow when the worker projects it, so
the tests wait for :meth:`IngestWorker.wait_projected` before reading them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest

from edge.checkout import commands as cmd
from edge.checkout.till import Till
from edge.store import outbox
from edge.store.db import open_store
from edge.sync.client import SyncClient
from edge.sync.settings import SyncSettings
from fleet.db import connect
from fleet.ingest import IngestWorker
from fleet.keys import Signer
from hil.services.mosquitto import Mosquitto
from hil.services.slow_link import SlowLink, slow_link
from tests.edge.tillkit import config, ok, open_till, ready
from tests.fleet import readback
from tests.fleet.test_ingest import _config
from tests.silentbroker import leave_unanswered, silent_port

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]

WAIT = 60.0


@contextmanager
def running(worker: IngestWorker) -> Iterator[IngestWorker]:
    worker.start()
    try:
        assert worker.subscribed.wait(WAIT), "the ingest worker's subscription was not granted"
        yield worker
    finally:
        worker.stop()
        worker.join(WAIT)


@contextmanager
def syncing(
    path: Path,
    broker: Mosquitto | SlowLink,
    signer: Signer,
    *,
    ack_timeout_s: float = 5,
    **settings: Any,
) -> Iterator[SyncClient]:
    """The till's sync client for the store at ``path``; ``settings``: more SyncSettings."""
    c = config()
    sync = SyncClient(
        path,
        outbox.Origin(c.tenant, c.store, c.device),
        SyncSettings(
            host=broker.host,
            port=broker.port,
            trusted_keys=((signer.key_id, signer.public_key_text),),
            health_interval_s=3600,
            ack_timeout_s=ack_timeout_s,
            **settings,
        ),
    )
    sync.start()
    try:
        yield sync
    finally:
        sync.stop()


def _depth(path: Path) -> int:
    conn = open_store(path)
    try:
        return outbox.depth(conn)
    finally:
        conn.close()


def _sell(till: Till, n: int) -> None:
    for i in range(n):
        ok(till, cmd.AddItem(code="4006381333931"))  # milk 1.19
        if i % 3 == 0:
            ok(till, cmd.AddItem(sku="COLA", qty=3))  # 3 for 5.00: a discount on the record
        ok(till, cmd.Tender(kind="cash", amount=1000))


def _till_records(path: Path) -> dict[str, object]:
    conn = open_store(path)
    try:
        return {
            sale_id: msgspec.json.decode(record)
            for sale_id, record in conn.execute(
                "SELECT sale_id, record FROM sales WHERE status = 'completed'"
            )
        }
    finally:
        conn.close()


def test_sales_arrive_intact_once_and_the_outbox_empties(
    tmp_path: Path, mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer
) -> None:
    path = tmp_path / "till.db"
    till = ready(open_till(path))
    _sell(till, 6)
    with (
        running(IngestWorker(_config(mosquitto, fleet_db_url, key_dir), signer)) as worker,
        syncing(path, mosquitto, signer) as sync,
    ):
        assert sync.wait_for(lambda _s: _depth(path) == 0, WAIT), sync.stats
        assert worker.wait_projected(WAIT)
    records = _till_records(path)
    with connect(fleet_db_url) as hq:
        ids = [
            r["event_id"]
            for r in hq.execute("SELECT event_id FROM events WHERE type = 'sale.completed'")
        ]
        assert len(ids) == len(records) == 6
        for event_id in ids:
            body = readback.sale(hq, uuid.UUID(str(event_id)))
            assert msgspec.to_builtins(body) == records[str(body.sale_id)]


def test_500_sales_while_the_broker_is_down_arrive_exactly_once(
    tmp_path: Path, mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer
) -> None:
    path = tmp_path / "till.db"
    till = ready(open_till(path))
    with (
        running(IngestWorker(_config(mosquitto, fleet_db_url, key_dir), signer)) as worker,
        syncing(path, mosquitto, signer) as sync,
    ):
        assert sync.wait_connected(WAIT)
        mosquitto.stop()
        assert sync.wait_for(lambda _s: not sync.online, WAIT)
        _sell(till, 500)
        assert _depth(path) >= 500
        mosquitto.start()
        assert sync.wait_for(lambda _s: _depth(path) == 0, 180), sync.stats
        assert worker.wait_projected(WAIT)
        metrics = worker.metrics.snapshot()
    # every event stored was projected once, none failed
    assert (metrics["projected"], metrics["projection_errors"]) == (metrics["applied"], 0)
    with connect(fleet_db_url) as hq:
        count = hq.scalar("SELECT COUNT(*) FROM sales")
        distinct = hq.scalar("SELECT COUNT(DISTINCT receipt_no) FROM sales")
        assert count == distinct == 500
        seqs = [int(r["seq"]) for r in hq.execute("SELECT seq FROM events ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))


def test_a_till_behind_a_slow_link_comes_online_once_and_syncs(
    tmp_path: Path, mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer
) -> None:
    """A shop on 4G: every byte 250 ms late each way, so a CONNACK takes half a second. The till
    waits for it instead of connecting again (which made the broker drop the first attempt,
    forever)."""
    path = tmp_path / "till.db"
    _sell(ready(open_till(path)), 5)
    with (
        slow_link((mosquitto.host, mosquitto.port), delay_s=0.25) as link,
        running(IngestWorker(_config(mosquitto, fleet_db_url, key_dir), signer)) as worker,
        syncing(path, link, signer) as sync,
    ):
        assert sync.wait_for(lambda _s: _depth(path) == 0, WAIT), sync.stats
        assert sync.stats.connects == 1
        assert worker.wait_projected(WAIT)
    with connect(fleet_db_url) as hq:
        assert hq.scalar("SELECT COUNT(*) FROM sales") == 5


def test_a_connect_nobody_answers_is_given_up_and_tried_again(tmp_path: Path) -> None:
    """A broker port that accepts and then says nothing (a hung broker, a captive portal): after
    ``connect_timeout_s`` the till closes that connection and tries again."""
    from edge.sync.settings import SyncSettings
    from tests.edge.tillkit import config

    path = tmp_path / "till.db"
    ready(open_till(path))
    c = config()
    with silent_port(WAIT) as silent:
        sync = SyncClient(
            path,
            outbox.Origin(c.tenant, c.store, c.device),
            SyncSettings(
                host="127.0.0.1",
                port=silent.getsockname()[1],
                health_interval_s=3600,
                connect_timeout_s=1,
            ),
        )
        sync.start()
        try:
            first, held_s = leave_unanswered(silent, WAIT)
            # Not before its timeout (the old loop connected again after 20 ms, again and again).
            assert held_s >= 0.8
            second, _ = silent.accept()  # and then it tries again, once
            silent.setblocking(False)
            with pytest.raises(BlockingIOError):
                silent.accept()  # no third attempt queued behind the second
            second.close()
            first.close()
            assert sync.stats.connects == 0
        finally:
            sync.stop()
