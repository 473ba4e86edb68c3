"""The set-based batch path writes exactly what storing the events one at a time would."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

import fleet.db.engine
from fleet.db import Connection, DeviceKey, Outcome, ProjectionRound, backlog
from fleet.ingest import Incoming, apply_batch
from protocol.messages import Body
from protocol.messages.uplink import SaleCompleted
from tests.factories import NOW
from tests.fleet import readback, samples

KEY = DeviceKey("acme", samples.STORE, samples.DEVICE)


def _incoming(body: Body, seq: int, **kwargs: Any) -> Incoming:
    return Incoming(
        topic=f"tf/v1/{samples.STORE}/{samples.DEVICE}/up/{body.TYPE}",
        payload=samples.wire(body, seq, **kwargs),
        received_at=NOW + dt.timedelta(seconds=5),
    )


def test_every_type_in_one_batch_is_projected_with_every_field_intact(
    fleet_db: Connection,
) -> None:
    bodies = samples.every_type()  # the refund's sale is in the same batch, before it
    result = apply_batch(
        fleet_db, [_incoming(b, seq) for seq, b in enumerate(bodies, start=1)], "acme"
    )
    assert result.outcomes == {Outcome.STORED: len(bodies)}
    assert result.devices[KEY].hwm == len(bodies)
    assert readback.project_all(fleet_db) == ProjectionRound(projected=len(bodies))
    for seq, body in enumerate(bodies, start=1):
        assert readback.READERS[type(body)](fleet_db, samples.event_id(seq)) == body
    assert (
        fleet_db.scalar("SELECT count(*) AS n FROM events WHERE projection_error IS NOT NULL") == 0
    )
    # the refund line took its unit from the sale line projected earlier in the batch
    assert fleet_db.scalar("SELECT uom FROM stock_deltas WHERE reason = 'return'") == "g"


def test_one_failing_projection_among_many_keeps_the_others_and_records_its_error(
    fleet_db: Connection,
) -> None:
    bodies = samples.every_type()
    sale = bodies[0]
    assert isinstance(sale, SaleCompleted)
    clash = msgspec.structs.replace(samples.sale(20), sale_id=sale.sale_id)
    msgs = [_incoming(b, seq) for seq, b in enumerate(bodies, start=1)]
    msgs.insert(3, _incoming(clash, len(bodies) + 1))
    msgs.append(msgs[0])  # a redelivery in the same batch
    taken = samples.wire(samples.feedback(2), 2, eid=samples.event_id(99))
    msgs.append(Incoming(msgs[2].topic.replace("refund.completed", "feedback.given"),
                         taken, NOW))  # fmt: skip
    result = apply_batch(fleet_db, msgs, "acme")
    assert result.outcomes == {
        Outcome.STORED: len(bodies) + 1,
        Outcome.DUPLICATE: 1,
        Outcome.SEQ_TAKEN: 1,
    }
    assert result.dead_letters == 1
    assert result.devices[KEY].hwm == len(bodies) + 1
    assert backlog(fleet_db) == len(bodies) + 1
    assert readback.project_all(fleet_db) == ProjectionRound(projected=len(bodies), failed=1)
    assert backlog(fleet_db) == 0
    for seq, body in enumerate(bodies, start=1):
        assert readback.READERS[type(body)](fleet_db, samples.event_id(seq)) == body
    failed = fleet_db.execute(
        "SELECT seq, projection_error FROM events WHERE projection_error IS NOT NULL"
    )
    assert [r["seq"] for r in failed] == [len(bodies) + 1]
    error = failed[0]["projection_error"]
    assert "sale_id" in error or "UNIQUE" in error.upper()
    assert fleet_db.scalar("SELECT count(*) AS n FROM sales") == 1
    assert fleet_db.scalar("SELECT count(*) AS n FROM events") == len(bodies) + 1


def test_a_batch_larger_than_one_statement_is_split(
    fleet_db: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet.db.engine, "MAX_PARAMS", 40)  # a few rows per statement
    sales = [samples.sale(n, lines=2) for n in range(1, 13)]
    result = apply_batch(fleet_db, [_incoming(s, n) for n, s in enumerate(sales, start=1)], "acme")
    assert result.outcomes == {Outcome.STORED: 12}
    assert result.devices[KEY].hwm == 12
    assert readback.project_all(fleet_db) == ProjectionRound(projected=12)
    for n, s in enumerate(sales, start=1):
        assert readback.sale(fleet_db, samples.event_id(n)) == s
    assert fleet_db.scalar("SELECT count(*) AS n FROM sale_lines") == 24


@pytest.mark.parametrize(
    ("bad", "message"),
    [(1.5, "floats"), ("a\x00b", "NUL"), (dt.datetime(2026, 1, 1), "naive")],
    ids=["float", "nul", "naive"],
)
def test_many_rows_refuse_what_one_row_refuses(
    fleet_db: Connection, bad: object, message: str
) -> None:
    columns = ("received_at", "topic", "reason", "error_path", "payload")
    good = (NOW, "t", "r", None, b"\x00raw")
    with fleet_db.transaction():
        fleet_db.insert_rows("dead_letters", columns, [good, good])
    with pytest.raises(fleet.db.engine.DatabaseError, match=message), fleet_db.transaction():
        fleet_db.insert_rows("dead_letters", columns, [good, (NOW, "t", "r", bad, b"")])
    rows = fleet_db.execute("SELECT error_path, payload, received_at FROM dead_letters")
    assert rows == [{"error_path": None, "payload": b"\x00raw", "received_at": NOW}] * 2
