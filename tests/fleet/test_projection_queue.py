"""Projection after acknowledgement: stored events wait in ``projection_queue`` until a round
projects them, each exactly once, in event_id order, on both dialects.

A round is one transaction: its projection rows and the removal of its events from the queue
commit together or not at all. Failures are simulated inside the database itself (a trigger
that raises), never by mocking the code under test.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest

from fleet.db import (
    Connection,
    DatabaseError,
    Dialect,
    Outcome,
    ProjectionRound,
    TransientError,
    backlog,
    connect,
    project_pending,
    requeue_failed,
)
from fleet.ingest import Incoming, IngestWorker, apply_batch
from fleet.keys import Signer
from hil.services.mosquitto import Mosquitto
from protocol.ids import uuid7
from protocol.messages import Body
from protocol.messages.uplink import SaleCompleted
from tests.factories import NOW
from tests.fleet import readback, samples
from tests.fleet.test_ingest import WAIT, FakeTill, _config, running

TENANT = "acme"


def _incoming(body: Body, seq: int, device: str = samples.DEVICE, **kwargs: Any) -> Incoming:
    return Incoming(
        topic=f"tf/v1/{samples.STORE}/{device}/up/{body.TYPE}",
        payload=samples.wire(body, seq, device=device, **kwargs),
        received_at=NOW + dt.timedelta(seconds=5),
    )


def _queued(conn: Connection) -> list[str]:
    return [str(r["event_id"]) for r in conn.execute("SELECT event_id FROM projection_queue")]


def _count(conn: Connection, table: str) -> int:
    return int(conn.scalar(f"SELECT count(*) AS n FROM {table}"))


def _errors(conn: Connection) -> dict[int, str]:
    """seq -> projection_error of every event whose projection failed."""
    rows = conn.execute(
        "SELECT seq, projection_error FROM events WHERE projection_error IS NOT NULL"
    )
    return {int(r["seq"]): str(r["projection_error"]) for r in rows}


# -- the queue -----------------------------------------------------------------------------------


def test_a_stored_event_is_queued_once_and_projected_once(fleet_db: Connection) -> None:
    sale = samples.sale(1)
    first = apply_batch(fleet_db, [_incoming(sale, 1), _incoming(sale, 1)], TENANT)
    assert first.outcomes == {Outcome.STORED: 1, Outcome.DUPLICATE: 1}
    assert _queued(fleet_db) == [str(samples.event_id(1))]
    # stored and acknowledged, not projected yet
    assert _count(fleet_db, "sales") == 0
    again = apply_batch(fleet_db, [_incoming(sale, 1)], TENANT)  # a redelivery
    assert again.outcomes == {Outcome.DUPLICATE: 1}
    assert backlog(fleet_db) == 1

    assert project_pending(fleet_db) == ProjectionRound(projected=1)
    assert backlog(fleet_db) == 0
    assert readback.sale(fleet_db, samples.event_id(1)) == sale
    assert project_pending(fleet_db) == ProjectionRound()

    # a redelivery after projection neither queues nor projects it again
    late = apply_batch(fleet_db, [_incoming(sale, 1)], TENANT)
    assert late.outcomes == {Outcome.DUPLICATE: 1}
    assert backlog(fleet_db) == 0
    assert project_pending(fleet_db) == ProjectionRound()
    assert (_count(fleet_db, "sales"), _count(fleet_db, "sale_lines")) == (1, 3)
    assert fleet_db.scalar("SELECT projection_error FROM events") is None


def test_rounds_take_events_in_event_id_order_and_a_refund_finds_its_sale(
    fleet_db: Connection,
) -> None:
    sale = samples.sale(1)
    # seq order is not event_id order: rounds must follow the event ids (the tills' clocks)
    bodies: list[tuple[int, Body, int]] = [  # (seq, body, position in event_id order)
        (1, sale, 2),
        (2, samples.refund(sale, 2), 4),
        (3, samples.feedback(3), 3),
        (4, samples.feedback(4), 5),
        (5, samples.feedback(5), 1),
    ]
    ids = {seq: uuid7(samples.BASE_MS + pos, bytes([0x70 + seq]) * 10) for seq, _, pos in bodies}
    result = apply_batch(
        fleet_db, [_incoming(body, seq, eid=ids[seq]) for seq, body, _ in bodies], TENANT
    )
    assert result.outcomes == {Outcome.STORED: 5}
    in_order = [str(ids[seq]) for seq in (5, 1, 3, 2, 4)]
    assert sorted(_queued(fleet_db)) == in_order

    assert project_pending(fleet_db, limit=2) == ProjectionRound(projected=2)
    assert sorted(_queued(fleet_db)) == in_order[2:]
    assert (_count(fleet_db, "sales"), _count(fleet_db, "feedback")) == (1, 1)
    assert _count(fleet_db, "refunds") == 0

    assert project_pending(fleet_db, limit=2) == ProjectionRound(projected=2)
    assert sorted(_queued(fleet_db)) == in_order[4:]
    assert (_count(fleet_db, "refunds"), _count(fleet_db, "feedback")) == (1, 2)
    # the refund, projected a round after its sale, booked its stock in the sale line's unit
    returned = fleet_db.one("SELECT sku, delta, uom FROM stock_deltas WHERE reason = 'return'")
    assert returned == {"sku": sale.lines[0].sku, "delta": 1234, "uom": "g"}

    assert project_pending(fleet_db, limit=2) == ProjectionRound(projected=1)
    assert project_pending(fleet_db, limit=2) == ProjectionRound()
    assert _count(fleet_db, "feedback") == 3
    for seq, body, _ in bodies:
        assert readback.READERS[type(body)](fleet_db, ids[seq]) == body
    assert _errors(fleet_db) == {}


def test_a_failing_projection_is_recorded_off_the_queue_and_can_be_queued_again(
    fleet_db: Connection,
) -> None:
    sale = samples.sale(1)
    clash = msgspec.structs.replace(samples.sale(2), sale_id=sale.sale_id)  # a till bug
    result = apply_batch(
        fleet_db,
        [_incoming(sale, 1), _incoming(clash, 2), _incoming(samples.feedback(), 3)],
        TENANT,
    )
    assert result.outcomes == {Outcome.STORED: 3}  # storing never fails on a projection
    assert _errors(fleet_db) == {}

    assert project_pending(fleet_db) == ProjectionRound(projected=2, failed=1)
    assert backlog(fleet_db) == 0
    errors = _errors(fleet_db)
    assert list(errors) == [2]
    assert "sale_id" in errors[2] or "UNIQUE" in errors[2].upper()
    # the others of the round are projected whole
    assert readback.sale(fleet_db, samples.event_id(1)) == sale
    assert readback.feedback(fleet_db, samples.event_id(3)) == samples.feedback()
    assert _count(fleet_db, "sales") == 1
    assert project_pending(fleet_db) == ProjectionRound()  # a failed event is not retried alone

    assert requeue_failed(fleet_db) == 1
    assert _queued(fleet_db) == [str(samples.event_id(2))]
    assert _errors(fleet_db) == {}
    assert requeue_failed(fleet_db) == 0  # nothing failed, nothing queued twice
    assert backlog(fleet_db) == 1
    # the clash is still there: it fails again, the same way, and the sale is untouched
    assert project_pending(fleet_db) == ProjectionRound(failed=1)
    assert _errors(fleet_db) == errors
    assert backlog(fleet_db) == 0
    assert readback.sale(fleet_db, samples.event_id(1)) == sale


@contextmanager
def failing_queue_delete(conn: Connection) -> Iterator[None]:
    """Make the last statement of every round (taking its events off the queue) fail."""
    if conn.dialect is Dialect.SQLITE:
        conn.execute(
            "CREATE TRIGGER tf_test_crash BEFORE DELETE ON projection_queue"
            " BEGIN SELECT RAISE(ABORT, 'simulated crash'); END"
        )
        drop = ["DROP TRIGGER tf_test_crash"]
    else:
        conn.execute(
            "CREATE FUNCTION tf_test_crash() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'simulated crash'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER tf_test_crash BEFORE DELETE ON projection_queue"
            " FOR EACH STATEMENT EXECUTE FUNCTION tf_test_crash()"
        )
        drop = ["DROP TRIGGER tf_test_crash ON projection_queue", "DROP FUNCTION tf_test_crash()"]
    try:
        yield
    finally:
        for sql in drop:  # the PostgreSQL database is shared by the session's tests
            conn.execute(sql)


def test_a_round_that_fails_before_commit_leaves_every_event_queued_and_nothing_projected(
    fleet_db: Connection,
) -> None:
    sales = [samples.sale(n) for n in range(1, 4)]
    apply_batch(fleet_db, [_incoming(s, n) for n, s in enumerate(sales, start=1)], TENANT)
    queued = sorted(_queued(fleet_db))
    assert len(queued) == 3
    with failing_queue_delete(fleet_db):
        # every projection of the round is written, then its last statement fails
        with pytest.raises(DatabaseError, match="simulated crash"):
            project_pending(fleet_db)
        assert not fleet_db.in_transaction
    assert sorted(_queued(fleet_db)) == queued
    for table in ("sales", "sale_lines", "tenders", "loyalty_ledger", "stock_deltas"):
        assert _count(fleet_db, table) == 0, table
    assert _errors(fleet_db) == {}
    # the next round projects them, once
    assert project_pending(fleet_db) == ProjectionRound(projected=3)
    for n, s in enumerate(sales, start=1):
        assert readback.sale(fleet_db, samples.event_id(n)) == s
    assert (_count(fleet_db, "sales"), _count(fleet_db, "sale_lines")) == (3, 9)


# -- PostgreSQL: concurrency and transient failures ----------------------------------------------

ON_POSTGRES = pytest.mark.parametrize(
    "fleet_db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@ON_POSTGRES
def test_a_transient_error_mid_round_aborts_the_round_instead_of_failing_an_event(
    fleet_db: Connection,
) -> None:
    apply_batch(
        fleet_db,
        [_incoming(samples.sale(1), 1), _incoming(samples.feedback(), 2)],
        TENANT,
    )
    fleet_db.execute(
        "CREATE FUNCTION tf_test_conflict() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " RAISE EXCEPTION 'simulated conflict' USING ERRCODE = 'serialization_failure';"
        " END $$"
    )
    fleet_db.execute(
        "CREATE TRIGGER tf_test_conflict BEFORE INSERT ON sale_lines"
        " FOR EACH STATEMENT EXECUTE FUNCTION tf_test_conflict()"
    )
    try:
        with pytest.raises(TransientError, match="simulated conflict"):
            project_pending(fleet_db)
    finally:
        fleet_db.execute("DROP TRIGGER tf_test_conflict ON sale_lines")
        fleet_db.execute("DROP FUNCTION tf_test_conflict()")
    # not recorded as the sale's projection error: the round is run again, and succeeds
    assert _errors(fleet_db) == {}
    assert backlog(fleet_db) == 2
    assert (_count(fleet_db, "sales"), _count(fleet_db, "feedback")) == (0, 0)
    assert project_pending(fleet_db) == ProjectionRound(projected=2)
    assert readback.sale(fleet_db, samples.event_id(1)) == samples.sale(1)


@ON_POSTGRES
def test_two_connections_projecting_at_once_project_each_event_exactly_once(
    fleet_db: Connection, fleet_db_url: str
) -> None:
    devices = [f"till-{n}" for n in range(1, 5)]
    per_till = 30
    batch = [
        _incoming(samples.sale(seq, lines=2, till_no=n), seq, device=device)
        for n, device in enumerate(devices)
        for seq in range(1, per_till + 1)
    ]
    total = len(batch)
    assert apply_batch(fleet_db, batch, TENANT).outcomes == {Outcome.STORED: total}

    start = threading.Barrier(2)
    done: list[list[ProjectionRound]] = [[], []]
    failures: list[BaseException] = []

    def project(rounds: list[ProjectionRound]) -> None:
        try:
            with connect(fleet_db_url) as conn:
                start.wait(WAIT)
                while (got := project_pending(conn, limit=3)).taken:
                    rounds.append(got)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=project, args=(rounds,)) for rounds in done]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    projected = [sum(r.projected for r in rounds) for rounds in done]
    assert sum(r.failed for rounds in done for r in rounds) == 0  # a second insert would fail
    assert sum(projected) == total
    assert all(p > 0 for p in projected), projected  # both took part
    assert backlog(fleet_db) == 0
    assert _errors(fleet_db) == {}
    assert fleet_db.one("SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM sales") == {
        "n": total,
        "d": total,
    }
    assert _count(fleet_db, "sale_lines") == 2 * total


# -- the ingest worker ---------------------------------------------------------------------------


@contextmanager
def fake_till(broker: Mosquitto, signer: Signer) -> Iterator[FakeTill]:
    till = FakeTill(broker, signer)
    try:
        yield till
    finally:
        till.close()


@pytest.mark.mqtt
def test_the_worker_acknowledges_then_projects_what_it_stored(
    mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer
) -> None:
    sales = [samples.sale(seq) for seq in range(1, 6)]
    clash = msgspec.structs.replace(samples.sale(6), sale_id=sales[0].sale_id)
    worker = IngestWorker(_config(mosquitto, fleet_db_url, key_dir), signer)
    with fake_till(mosquitto, signer) as till, running(worker):
        for seq, sale in enumerate([*sales, clash], start=1):
            till.publish(sale, seq)
        till.wait_acked(6)
        assert worker.wait_projected(WAIT)
        snap = worker.metrics.snapshot()
    assert (snap["applied"], snap["projected"], snap["projection_errors"]) == (6, 5, 1)
    with connect(fleet_db_url) as db:
        assert backlog(db) == 0
        for seq, sale in enumerate(sales, start=1):
            assert readback.sale(db, samples.event_id(seq)) == sale
        assert _count(db, "sales") == 5
        assert list(_errors(db)) == [6]


@pytest.mark.mqtt
def test_a_starting_worker_projects_what_an_earlier_run_left_queued(
    mosquitto: Mosquitto, fleet_db_url: str, key_dir: Path, signer: Signer
) -> None:
    sales: list[SaleCompleted] = [samples.sale(seq) for seq in range(1, 4)]
    with connect(fleet_db_url) as db:  # stored and acked by a run that stopped before projecting
        apply_batch(db, [_incoming(s, seq) for seq, s in enumerate(sales, start=1)], TENANT)
        assert backlog(db) == 3
    worker = IngestWorker(_config(mosquitto, fleet_db_url, key_dir), signer)
    with running(worker):
        assert worker.wait_projected(WAIT)
        snap = worker.metrics.snapshot()
    assert (snap["applied"], snap["projected"]) == (0, 3)
    with connect(fleet_db_url) as db:
        assert backlog(db) == 0
        for seq, sale in enumerate(sales, start=1):
            assert readback.sale(db, uuid.UUID(str(samples.event_id(seq)))) == sale
