"""A batch into the database: refusals become dead letters; any order or repeat applies once."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.db import Connection, DeviceKey, Outcome, connect, seq_state
from fleet.ingest import Incoming, Invalid, SeqTracker, apply_batch, check
from protocol.ids import uuid7
from tests.concurrently import errors_running_together
from tests.factories import NOW
from tests.fleet import samples
from tests.fleet.readback import project_all

RECEIVED = NOW + dt.timedelta(seconds=3)


def _msg(topic: str, payload: bytes) -> Incoming:
    return Incoming(topic=topic, payload=payload, received_at=RECEIVED)


def _feedback(seq: int, device: str = "till-1") -> Incoming:
    body = samples.feedback()
    return _msg(f"tf/v1/s-001/{device}/up/feedback.given", samples.wire(body, seq, device=device))


GOOD = samples.wire(samples.feedback(), 1)
TOPIC = "tf/v1/s-001/till-1/up/feedback.given"


@pytest.mark.parametrize(
    ("topic", "payload", "reason", "path"),
    [
        (TOPIC, b"\x00\xffgarbage", "", "$"),
        (TOPIC, b'{"type": "feedback.given"}', "missing required field", "$"),
        (TOPIC, GOOD.replace(b'"rating":5', b'"rating":5.0'), "Expected `int`", "$.body.rating"),
        ("tf/v1/all/till-1/up/feedback.given", GOOD, "bad topic", None),
        ("tf/v1/s-001/up/up/feedback.given", GOOD, "bad topic", None),
        ("tf/v1/s-002/till-1/up/feedback.given", GOOD, "envelope store 's-001'", "$.store"),
        ("tf/v1/s-001/till-2/up/feedback.given", GOOD, "envelope device 'till-1'", "$.device"),
        ("tf/v1/s-001/till-1/up/sale.completed", GOOD, "envelope type", "$.type"),
    ],
    ids=["garbage", "truncated", "float", "store-all", "reserved-id", "other-store",
         "other-device", "other-type"],
)  # fmt: skip
def test_messages_that_can_never_apply_are_refused_with_a_reason(
    topic: str, payload: bytes, reason: str, path: str | None
) -> None:
    got = check(topic, payload, "acme")
    assert isinstance(got, Invalid)
    assert reason in got.reason
    assert got.path == path


def test_another_tenants_event_is_refused() -> None:
    payload = samples.wire(samples.feedback(), 1, tenant="globex")
    assert check(TOPIC, payload, "acme") == Invalid(
        "tenant 'globex' is not this fleet's ('acme')", "$.tenant"
    )


def test_dead_letters_keep_topic_reason_path_and_raw_bytes(fleet_db: Connection) -> None:
    forged = samples.wire(samples.feedback(), 1, device="till-9")
    batch = [
        _msg(TOPIC, b"\x00\xffgarbage"),
        _msg(TOPIC, forged),
        _feedback(1),
        _msg(TOPIC, samples.wire(samples.feedback(2), 1, eid=uuid7(samples.BASE_MS, b"\x99" * 10))),
    ]
    result = apply_batch(fleet_db, batch, "acme")
    assert result.outcomes == {Outcome.STORED: 1, Outcome.SEQ_TAKEN: 1}
    assert result.dead_letters == 3
    rows = fleet_db.execute(
        "SELECT topic, reason, error_path, payload, received_at FROM dead_letters"
        " ORDER BY dead_letter_id"
    )
    assert [(r["topic"], r["error_path"], r["payload"]) for r in rows] == [
        (TOPIC, "$", b"\x00\xffgarbage"),
        (TOPIC, "$.device", forged),
        (TOPIC, "$.seq", batch[3].payload),
    ]
    assert "another event's" in rows[2]["reason"]
    assert all(r["received_at"] == RECEIVED for r in rows)
    assert fleet_db.scalar("SELECT count(*) AS n FROM events") == 1
    assert fleet_db.scalar("SELECT count(*) AS n FROM projection_queue") == 1


def test_gaps_hold_the_mark_until_filled(fleet_db: Connection) -> None:
    key = DeviceKey("acme", "s-001", "till-1")
    first = apply_batch(fleet_db, [_feedback(s) for s in (1, 2, 5, 6, 9)], "acme")
    assert first.devices[key].hwm == 2
    assert first.devices[key].gap == (3, 4)
    assert first.devices[key].max_seq == 9
    apply_batch(fleet_db, [_feedback(4), _feedback(3)], "acme")
    assert seq_state(fleet_db, key).hwm == 6
    assert seq_state(fleet_db, key).gap == (7, 8)
    row = fleet_db.one("SELECT acked_seq, max_seq, last_seen_at FROM devices")
    assert row == {"acked_seq": 6, "max_seq": 9, "last_seen_at": RECEIVED}


@pytest.mark.parametrize(("acked", "max_seq"), [(2, 2), (2, 3)], ids=["level", "between"])
def test_a_max_seq_fallen_behind_the_table_is_walked_past_not_trusted(
    fleet_db: Connection, acked: int, max_seq: int
) -> None:
    """``devices.max_seq`` spares a till's batch a walk of the table, which only holds while it
    is the highest seq stored. Set behind by hand (a fix, a partial restore), a redelivered
    event above the mark shows it: the till walks, its mark and max_seq come back whole, and
    no batch is refused by ``max_seq >= acked_seq``."""
    key = DeviceKey("acme", "s-001", "till-1")
    sent = [_feedback(s) for s in range(1, 6)]
    apply_batch(fleet_db, sent, "acme")
    fleet_db.execute("UPDATE devices SET acked_seq = ?, max_seq = ?", [acked, max_seq])
    again = apply_batch(fleet_db, [sent[3]], "acme")  # seq 4, stored already
    assert again.outcomes[Outcome.DUPLICATE] == 1
    assert (again.devices[key].hwm, again.devices[key].max_seq) == (5, 5)
    assert fleet_db.one("SELECT acked_seq, max_seq FROM devices") == {
        "acked_seq": 5,
        "max_seq": 5,
    }


def test_a_gap_filled_late_moves_the_mark_over_everything_stored_behind_it(
    fleet_db: Connection,
) -> None:
    """The walk looks a few seqs ahead first, then further each time: a mark held by a gap
    stays put however much is stored past it, and moves over all of it (1,300 seqs, more than
    any one look) once the gap is filled."""
    key = DeviceKey("acme", "s-001", "till-1")
    behind = [_feedback(s) for s in range(3, 1303)]
    for start in range(0, len(behind), 500):
        held = apply_batch(fleet_db, behind[start : start + 500], "acme").devices[key]
        assert (held.hwm, held.gap) == (0, (1, 2))
    apply_batch(fleet_db, [_feedback(1)], "acme")
    assert seq_state(fleet_db, key).gap == (2, 2)
    filled = apply_batch(fleet_db, [_feedback(2)], "acme").devices[key]
    assert (filled.hwm, filled.max_seq, filled.gap) == (1302, 1302, None)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    order=st.permutations(list(range(1, 16))),
    dups=st.lists(st.integers(1, 15), max_size=10),
    cuts=st.lists(st.integers(0, 25), max_size=5),
)
def test_any_order_duplication_and_batching_applies_each_event_once_with_the_right_mark(
    fleet_db: Connection, order: list[int], dups: list[int], cuts: list[int]
) -> None:
    device = f"t-{uuid.uuid4().hex[:12]}"  # a fresh till per example: examples share the database
    key = DeviceKey("acme", "s-001", device)
    stream = [*order, *dups]
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    tracker = SeqTracker()
    for lo, hi in itertools.pairwise(bounds):
        seqs = stream[lo:hi]
        result = apply_batch(fleet_db, [_feedback(s, device) for s in seqs], "acme")
        for s in seqs:
            tracker.observe(s)
        state = result.devices[key]
        assert state.hwm == tracker.hwm
        assert state.max_seq == max(stream[:hi])
        gap = tracker.first_gap()
        assert state.gap == (None if gap is None else (gap.first, gap.last))
    counts = fleet_db.one(
        "SELECT count(*) AS n, count(DISTINCT seq) AS d FROM events WHERE device = ?", [device]
    )
    assert counts == {"n": 15, "d": 15}
    project_all(fleet_db)
    assert fleet_db.scalar("SELECT count(*) AS n FROM feedback WHERE device = ?", [device]) == 15
    assert seq_state(fleet_db, key).hwm == 15


def test_the_raw_payload_is_kept_byte_for_byte(fleet_db: Connection) -> None:
    payload = samples.wire(samples.feedback(3), 1).replace(b"{", b"{ ", 1)  # any valid spelling
    apply_batch(fleet_db, [_msg(TOPIC, payload)], "acme")
    assert fleet_db.scalar("SELECT payload FROM events") == payload


def test_workers_storing_the_same_tills_at_once_store_each_event_once_with_exact_marks(
    fleet_db_url: str,
) -> None:
    """Three writers, each with its own connection, store overlapping shares of four tills'
    events at once — every batch carries every till, and a third of the events reach two
    writers (a redelivery) — as two workers on one share group do. On PostgreSQL they insert
    side by side and queue only for the marks: no deadlock, no event twice, no mark short."""
    devices = [f"till-{n}" for n in range(1, 5)]
    events = [_feedback(seq, device) for seq in range(1, 61) for device in devices]
    shares: list[list[Incoming]] = [[], [], []]
    for n, msg in enumerate(events):
        shares[n % 3].append(msg)
        if n % 3 == 0:
            shares[(n // 3) % 2 + 1].append(msg)  # the same message again, to another writer
    lock = threading.Lock()

    def store_a_share() -> None:
        with lock:
            share = shares.pop()
        with connect(fleet_db_url) as conn, connect(fleet_db_url) as look:
            for start in range(0, len(share), 16):
                result = apply_batch(conn, share[start : start + 16], "acme")
                for key, state in result.devices.items():  # committed: never past a hole
                    below = "SELECT count(*) AS n FROM events WHERE device = ? AND seq <= ?"
                    assert look.scalar(below, [key.device, state.hwm]) == state.hwm

    assert errors_running_together(store_a_share, 3) == []
    with connect(fleet_db_url) as db:
        assert db.one("SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events") == {
            "n": 240,
            "d": 240,
        }
        assert db.scalar("SELECT count(*) AS n FROM dead_letters") == 0
        for device in devices:
            state = seq_state(db, DeviceKey("acme", "s-001", device))
            assert (state.hwm, state.max_seq, state.gap) == (60, 60, None)
