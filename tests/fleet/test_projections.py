"""Every uplink event type lands in HQ's tables with every field intact, once, on both dialects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fleet.db import (
    Connection,
    DeviceKey,
    Outcome,
    ProjectionRound,
    backlog,
    lock_devices,
    project_pending,
    store_event,
)
from fleet.ingest import Incoming, apply_batch
from protocol.messages import UPLINK, Body, encode_event
from protocol.messages.uplink import SaleCompleted
from tests.factories import NOW
from tests.fleet import readback, samples
from tests.fleet.conftest import empty_database
from tests.strategies import instances_of

UPLINK_TYPES = [UPLINK.lookup(n, UPLINK.current(n)).body for n in UPLINK.names()]
JSON_FIELDS = ("coupons", "firmware_versions", "peripherals", "documents")
"""Fields projected as JSON text (``fleet.db.projections._json``), where a NUL is escaped."""


def _nul_in_a_text_column(body: Body) -> bool:
    """Whether a NUL reaches a plain text column, which both dialects refuse."""
    emptied = {f: type(getattr(body, f))() for f in JSON_FIELDS if hasattr(body, f)}
    return b"\\u0000" in msgspec.json.encode(msgspec.structs.replace(body, **emptied))


TOPIC = "tf/v1/s-001/till-1/up/{}"


@contextmanager
def emptied_afterwards(conn: Connection) -> Iterator[Connection]:
    """Each example starts from an empty database (projection commits in its own transaction,
    so an example cannot simply be rolled back)."""
    try:
        yield conn
    finally:
        empty_database(conn)


def _incoming(body: Body, seq: int, **kwargs: Any) -> Incoming:
    return Incoming(
        topic=TOPIC.format(body.TYPE) if "device" not in kwargs else
        f"tf/v1/{kwargs.get('store', samples.STORE)}/{kwargs['device']}/up/{body.TYPE}",
        payload=samples.wire(body, seq, **kwargs),
        received_at=NOW + dt.timedelta(seconds=5),
    )  # fmt: skip


def test_every_uplink_type_has_a_sample_and_a_reader() -> None:
    assert {type(b) for b in samples.every_type()} == set(UPLINK_TYPES)
    assert set(readback.READERS) == set(UPLINK_TYPES)


@pytest.mark.parametrize("index", range(len(UPLINK_TYPES)), ids=lambda i: UPLINK_TYPES[i].TYPE)
def test_a_sample_of_each_type_is_projected_with_every_field_intact(
    fleet_db: Connection, index: int
) -> None:
    body = samples.every_type()[index]
    result = apply_batch(fleet_db, [_incoming(body, 1)], "acme")
    assert result.outcomes == {Outcome.STORED: 1}
    assert readback.project_all(fleet_db) == ProjectionRound(projected=1)
    assert readback.READERS[type(body)](fleet_db, samples.event_id(1)) == body
    assert fleet_db.scalar("SELECT projection_error FROM events") is None


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_events_are_projected_with_every_field_intact(
    fleet_db: Connection, data: st.DataObject
) -> None:
    body_type = data.draw(st.sampled_from(UPLINK_TYPES))
    body = data.draw(instances_of(body_type))
    if isinstance(body, SaleCompleted):
        assume(len({ln.line_no for ln in body.lines}) == len(body.lines))
    ev = samples.event(body, 1)
    payload = encode_event(ev)
    has_nul = _nul_in_a_text_column(body)
    with emptied_afterwards(fleet_db):
        with fleet_db.transaction():
            lock_devices(fleet_db, {DeviceKey("acme", "s-001", "till-1"): NOW})
            assert store_event(fleet_db, ev, payload, NOW) is Outcome.STORED
        done = project_pending(fleet_db)
        assert backlog(fleet_db) == 0
        if has_nul:
            # the one refusal allowed: PostgreSQL text cannot hold NUL (refused on both dialects)
            assert done == ProjectionRound(failed=1)
            assert "NUL" in fleet_db.scalar("SELECT projection_error FROM events")
        else:
            assert done == ProjectionRound(projected=1)
            assert fleet_db.scalar("SELECT projection_error FROM events") is None
            assert readback.READERS[body_type](fleet_db, ev.event_id) == body


def test_the_same_event_twice_is_applied_once(fleet_db: Connection) -> None:
    sale = samples.sale(1)
    first = apply_batch(fleet_db, [_incoming(sale, 1), _incoming(sale, 1)], "acme")
    again = apply_batch(fleet_db, [_incoming(sale, 1)], "acme")
    assert first.outcomes == {Outcome.STORED: 1, Outcome.DUPLICATE: 1}
    assert again.outcomes == {Outcome.DUPLICATE: 1}
    assert readback.project_all(fleet_db) == ProjectionRound(projected=1)
    counts = {
        t: fleet_db.scalar(f"SELECT count(*) AS n FROM {t}")
        for t in ("events", "sales", "sale_lines", "tenders", "loyalty_ledger", "stock_deltas")
    }
    assert counts == {
        "events": 1,
        "sales": 1,
        "sale_lines": 3,
        "tenders": 2,
        "loyalty_ledger": 2,
        "stock_deltas": 3,
    }


def test_sales_and_refunds_book_loyalty_and_stock(fleet_db: Connection) -> None:
    sale = samples.sale(1)
    ret = samples.refund(sale, 2)
    apply_batch(fleet_db, [_incoming(sale, 1), _incoming(ret, 2)], "acme")
    assert readback.project_all(fleet_db) == ProjectionRound(projected=2)
    ledger = fleet_db.execute(
        "SELECT member_id, kind, points, ref_kind, ref_id FROM loyalty_ledger ORDER BY entry_id"
    )
    assert ledger == [
        {"member_id": "m-42", "kind": "earn", "points": sale.points_earned, "ref_kind": "sale",
         "ref_id": str(sale.sale_id)},
        {"member_id": "m-42", "kind": "redeem", "points": -200, "ref_kind": "sale",
         "ref_id": str(sale.sale_id)},
        {"member_id": "m-42", "kind": "reverse", "points": -ret.points_reversed,
         "ref_kind": "refund", "ref_id": str(ret.refund_id)},
        {"member_id": "m-42", "kind": "return", "points": 50, "ref_kind": "refund",
         "ref_id": str(ret.refund_id)},
    ]  # fmt: skip
    balance = fleet_db.scalar(
        "SELECT SUM(points) AS p FROM loyalty_ledger WHERE tenant = ? AND member_id = ?",
        ["acme", "m-42"],
    )
    assert balance == sale.points_earned - 200 - ret.points_reversed + 50
    stock = fleet_db.execute(
        "SELECT sku, delta, uom, reason, reference FROM stock_deltas ORDER BY delta_id"
    )
    sold = [
        {"sku": ln.sku, "delta": -ln.qty, "uom": ln.uom, "reason": "sale",
         "reference": sale.receipt_no}
        for ln in sale.lines
    ]  # fmt: skip
    returned = {
        "sku": sale.lines[0].sku, "delta": 1234, "uom": "g", "reason": "return",
        "reference": ret.receipt_no,
    }  # fmt: skip
    assert stock == [*sold, returned]


def test_a_sale_without_a_member_books_no_points(fleet_db: Connection) -> None:
    apply_batch(fleet_db, [_incoming(samples.sale(1, member=None), 1)], "acme")
    assert readback.project_all(fleet_db) == ProjectionRound(projected=1)
    assert fleet_db.scalar("SELECT count(*) AS n FROM loyalty_ledger") == 0


def test_devices_show_the_versions_they_run_and_late_reports_do_not_roll_them_back(
    fleet_db: Connection,
) -> None:
    later = NOW + dt.timedelta(hours=1)
    apply_batch(
        fleet_db,
        [
            _incoming(samples.device_health(at=NOW), 1),
            _incoming(samples.price_applied(version=43, at=later), 2),
        ],
        "acme",
    )
    assert readback.project_all(fleet_db) == ProjectionRound(projected=2)
    # a health report from before the price book went live arrives late
    apply_batch(
        fleet_db,
        [_incoming(samples.device_health(at=NOW - dt.timedelta(minutes=5), price_book=41), 3)],
        "acme",
    )
    assert readback.project_all(fleet_db) == ProjectionRound(projected=1)
    row = fleet_db.one(
        "SELECT price_book_version, promotion_set_version, member_cache_version,"
        " device_config_version, versions_reported_at FROM devices"
    )
    assert row == {
        "price_book_version": 43,  # the store-level book (more specific than the fleet one)
        "promotion_set_version": 7,
        "member_cache_version": None,
        "device_config_version": 3,
        "versions_reported_at": later,
    }


def test_a_projection_that_fails_keeps_the_event_and_the_rest_of_the_batch(
    fleet_db: Connection,
) -> None:
    sale = samples.sale(1)
    clash = samples.sale(2)
    clash = msgspec.structs.replace(clash, sale_id=sale.sale_id)  # a till bug: one sale id twice
    result = apply_batch(
        fleet_db,
        [_incoming(sale, 1), _incoming(clash, 2), _incoming(samples.feedback(), 3)],
        "acme",
    )
    assert result.outcomes == {Outcome.STORED: 3}
    assert result.devices[DeviceKey("acme", "s-001", "till-1")].hwm == 3
    assert readback.project_all(fleet_db) == ProjectionRound(projected=2, failed=1)
    assert backlog(fleet_db) == 0
    assert fleet_db.scalar("SELECT count(*) AS n FROM events") == 3
    failed = fleet_db.one(
        "SELECT seq, projection_error FROM events WHERE projection_error IS NOT NULL"
    )
    assert failed is not None
    assert failed["seq"] == 2
    assert "sale_id" in failed["projection_error"] or "UNIQUE" in failed["projection_error"].upper()
    assert fleet_db.scalar("SELECT count(*) AS n FROM sale_lines") == 3
    assert fleet_db.scalar("SELECT count(*) AS n FROM feedback") == 1
