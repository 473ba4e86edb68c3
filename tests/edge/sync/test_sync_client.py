"""The till's sync client against a real Mosquitto and a stand-in HQ that signs acks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.checkout import commands as cmd
from edge.checkout.till import Till
from edge.store import outbox
from edge.store.db import open_store
from edge.sync.client import SyncClient
from edge.sync.settings import SyncSettings
from hil.services.mosquitto import Mosquitto
from protocol import topics
from protocol.messages.base import DocScope
from protocol.messages.downlink import Command, PriceBook, ResendFrom, TaxClass
from protocol.messages.uplink import SaleCompleted
from tests.edge.sync.hq import DEVICE, STORE, TENANT, FakeHq
from tests.edge.tillkit import CATALOG, ok, open_till, ready

pytestmark = [pytest.mark.mqtt]


@pytest.fixture
def hq(mosquitto: Mosquitto) -> Iterator[FakeHq]:
    fake = FakeHq(mosquitto.host, mosquitto.port)
    yield fake
    fake.close()


def _sync(path: Path, broker: Mosquitto, hq: FakeHq, **kw: float) -> SyncClient:
    settings = SyncSettings(
        host=broker.host,
        port=broker.port,
        trusted_keys=((hq.key_id, hq.public_key),),
        health_interval_s=3600,
        **kw,  # type: ignore[arg-type]
    )
    return SyncClient(path, outbox.Origin(TENANT, STORE, DEVICE), settings)


def _sell(till: Till, n: int) -> None:
    for _ in range(n):
        ok(till, cmd.AddItem(code="4006381333931"))  # milk 1.19
        ok(till, cmd.Tender(kind="cash", amount=200))


def _outbox_depth(path: Path) -> int:
    conn = open_store(path)
    try:
        return outbox.depth(conn)
    finally:
        conn.close()


def test_sales_arrive_intact_and_leave_the_outbox_only_on_hq_ack(
    tmp_path: Path, mosquitto: Mosquitto, hq: FakeHq
) -> None:
    path = tmp_path / "till.db"
    till = ready(open_till(path))
    _sell(till, 3)
    hq.acking = False
    sync = _sync(path, mosquitto, hq)
    sync.start()
    try:
        assert hq.wait(lambda h: len(h.of_type("sale.completed")) == 3)
        # The broker has them (PUBACK), HQ did not say it stored them: nothing leaves.
        assert _outbox_depth(path) >= 3
        # Every field intact: what HQ decoded is the record the till committed.
        conn = open_store(path)
        records = {
            r[0]: msgspec.json.decode(r[1])
            for r in conn.execute("SELECT sale_id, record FROM sales WHERE status = 'completed'")
        }
        conn.close()
        for event in hq.of_type("sale.completed"):
            body = event.body
            assert isinstance(body, SaleCompleted)
            assert msgspec.to_builtins(body) == records[str(body.sale_id)]
        # Everything the till queued (the sales, and its first health report, queued once the
        # sync thread's first round is done) reaches HQ...
        assert hq.wait(lambda h: bool(h.of_type("device.health")))
        conn = open_store(path)
        last = int(conn.execute("SELECT MAX(seq) FROM outbox").fetchone()[0])
        conn.close()
        assert hq.wait(lambda h: last in h.by_seq)
        # ... and only HQ's ack of all of it empties the outbox.
        hq.acking = True
        hq.ack(last)
        assert sync.wait_for(lambda s: s.last_ack_seq >= last, 20)
        conn = open_store(path)
        left = conn.execute("SELECT seq, type FROM outbox").fetchall()
        conn.close()
        assert left == [], (left, last, sync.stats)
    finally:
        sync.stop()


def test_broker_down_while_500_sales_are_made_then_all_arrive(
    tmp_path: Path, mosquitto: Mosquitto, hq: FakeHq
) -> None:
    path = tmp_path / "till.db"
    till = ready(open_till(path))
    sync = _sync(path, mosquitto, hq)
    sync.start()
    try:
        assert sync.wait_connected(20)
        mosquitto.stop()
        assert sync.wait_for(lambda _s: not sync.online, 20)
        _sell(till, 500)
        assert _outbox_depth(path) >= 500
        mosquitto.start()
        arrived = hq.wait(lambda h: len(h.of_type("sale.completed")) == 500, 120)
        assert arrived, (len(hq.of_type("sale.completed")), sync.stats, sync.online)
        assert sync.wait_for(lambda _s: _outbox_depth(path) == 0, 60)
        seqs = sorted(hq.by_seq)
        assert seqs == list(range(1, len(seqs) + 1))  # gapless at HQ
        receipts = {e.body.receipt_no for e in hq.of_type("sale.completed")}  # type: ignore[attr-defined]
        assert len(receipts) == 500
    finally:
        sync.stop()


def test_without_an_ack_the_till_publishes_again(
    tmp_path: Path, mosquitto: Mosquitto, hq: FakeHq
) -> None:
    path = tmp_path / "till.db"
    till = ready(open_till(path))
    _sell(till, 2)
    hq.acking = False
    sync = _sync(path, mosquitto, hq, ack_timeout_s=0.5)
    sync.start()
    try:
        assert hq.wait(lambda h: len(h.of_type("sale.completed")) == 2)
        assert sync.wait_for(lambda s: s.published >= 3, 10)  # two sales and one health report
        first = hq.copies
        # HQ never said it stored them: after ack_timeout_s they are sent again.
        assert sync.wait_for(lambda s: s.republished >= 3, 20)
        assert hq.wait(lambda h: h.copies >= first + 3, 20)
        assert _outbox_depth(path) >= 2
    finally:
        sync.stop()


def test_resend_from_command_republishes_from_that_seq(
    tmp_path: Path, mosquitto: Mosquitto, hq: FakeHq
) -> None:
    path = tmp_path / "till.db"
    till = ready(open_till(path))
    _sell(till, 3)
    hq.acking = False
    sync = _sync(path, mosquitto, hq)
    sync.start()
    try:
        assert hq.wait(lambda h: len(h.of_type("sale.completed")) == 3)
        top = max(hq.by_seq)
        before = hq.copies
        hq.publish(
            topics.device_downlink(STORE, DEVICE, "command"),
            hq.sign(Command(command=ResendFrom(from_seq=top - 1, to_seq=None))),
        )
        assert hq.wait(lambda h: h.copies >= before + 2)
        assert sync.wait_for(lambda s: "command" in s.applied, 10)
    finally:
        sync.stop()


def _price_book(milk_price: int) -> PriceBook:
    milk = next(i for i in CATALOG if i.sku == "MILK")
    return PriceBook(
        mode="delta",
        base_version=1,
        currency="EUR",
        prices_include_tax=True,
        tax_classes=[TaxClass(id="red", name="Reduced", rate_ppm=70_000)],
        items=[msgspec.structs.replace(milk, unit_price=milk_price)],
        removed=[],
    )


def test_bad_documents_are_rejected_with_their_reason_and_a_good_one_applies(
    tmp_path: Path, mosquitto: Mosquitto, hq: FakeHq
) -> None:
    path = tmp_path / "till.db"
    till = ready(open_till(path))
    ok(till, cmd.AddItem(code="4006381333931"))  # an open sale at the old price: 1.19
    sync = _sync(path, mosquitto, hq)
    sync.start()
    topic = topics.store_downlink(STORE, "price_book")
    store_scope = DocScope(tenant=TENANT, store=STORE, device=None)
    now = datetime.now(UTC)
    try:
        assert sync.wait_connected(20)
        assert sync.wait_listening(20)  # else the first documents can precede the SUBSCRIBE
        stranger = Ed25519PrivateKey.generate()
        bad = {
            "unknown_key": hq.sign(_price_book(99), scope=store_scope, key_id="someone"),
            "bad_signature": hq.sign(_price_book(99), scope=store_scope, key=stranger),
            "expired": hq.sign(
                _price_book(99),
                scope=store_scope,
                issued_at=now - timedelta(days=2),
                expires_in=timedelta(days=1),
            ),
            "wrong_scope": hq.sign(
                _price_book(99), scope=DocScope(tenant=TENANT, store="s-002", device=None)
            ),
        }
        tampered = bytearray(hq.sign(_price_book(99), scope=store_scope))
        at = tampered.index(b'"unit_price":') + len(b'"unit_price":')
        tampered[at : at + 2] = b"11"
        bad["bad_signature "] = bytes(tampered)
        for payload in bad.values():
            hq.publish(topic, payload)
        assert hq.wait(lambda h: len(h.of_type("document.rejected")) >= 4)
        reasons = {e.body.reason for e in hq.of_type("document.rejected")}  # type: ignore[attr-defined]
        assert {"unknown_key", "bad_signature", "expired", "wrong_scope"} <= reasons

        good_version = hq.next_version() + 10
        hq.publish(topic, hq.sign(_price_book(149), scope=store_scope, version=good_version))
        assert hq.wait(lambda h: len(h.of_type("price.applied")) == 1)
        applied = hq.of_type("price.applied")[0].body
        assert applied.version == good_version  # type: ignore[attr-defined]

        # Older than what runs now: a rollback, refused.
        hq.publish(topic, hq.sign(_price_book(50), scope=store_scope, version=good_version - 1))
        assert hq.wait(
            lambda h: any(
                e.body.reason == "rollback"  # type: ignore[attr-defined]
                for e in h.of_type("document.rejected")
            )
        )
        # The open sale keeps its price; the next sale sells at the new one.
        ok(till, cmd.Tender(kind="cash", amount=200))
        conn = open_store(path)
        prices = [r[0] for r in conn.execute("SELECT total FROM sales WHERE status = 'completed'")]
        conn.close()
        assert prices == [119]
        ok(till, cmd.AddItem(code="4006381333931"))
        ok(till, cmd.Tender(kind="cash", amount=200))
        conn = open_store(path)
        totals = [
            r[0]
            for r in conn.execute(
                "SELECT total FROM sales WHERE status = 'completed' ORDER BY closed_at, rowid"
            )
        ]
        conn.close()
        assert totals == [119, 149]
    finally:
        sync.stop()
