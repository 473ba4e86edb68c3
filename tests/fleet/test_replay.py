"""Dead letters replayed after a fix: stored once, or kept with today's reason; never both."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from click.testing import CliRunner

from fleet.cli import main
from fleet.db import Connection, DeviceKey, Outcome, record_dead_letter, seq_state
from fleet.ingest import Incoming, apply_batch
from fleet.ingest.replay import ReplayResult, list_letters, replay
from tests.factories import NOW
from tests.fleet import samples
from tests.fleet.readback import project_all

RECEIVED = NOW + dt.timedelta(seconds=3)
TOPIC = "tf/v1/s-001/till-1/up/sale.completed"
KEY = DeviceKey("acme", "s-001", "till-1")
BUG = "internal error while checking: KeyError: 'lines'"


def _dead(conn: Connection, payload: bytes, reason: str = BUG, topic: str = TOPIC) -> int:
    """A dead letter as the validator leaves one; its id."""
    with conn.transaction():
        record_dead_letter(
            conn, received_at=RECEIVED, topic=topic, reason=reason, error_path=None, payload=payload
        )
    return int(conn.scalar("SELECT max(dead_letter_id) AS n FROM dead_letters"))


def _letters(conn: Connection) -> list[tuple[int, str]]:
    return [(d.dead_letter_id, d.reason) for d in list_letters(conn, limit=100)]


def _letters_all(conn: Connection) -> list[tuple[int, str]]:
    return [(d.dead_letter_id, d.reason) for d in list_letters(conn, limit=100_000)]


def test_a_message_refused_by_a_bug_is_stored_once_and_leaves_the_dead_letters(
    fleet_db: Connection,
) -> None:
    _dead(fleet_db, samples.wire(samples.sale(1), 1))
    first = replay(fleet_db, "acme")
    assert (first.stored, first.already_stored, first.still_invalid) == (1, 0, 0)
    assert _letters(fleet_db) == []
    assert fleet_db.scalar("SELECT count(*) AS n FROM events") == 1
    assert seq_state(fleet_db, KEY).hwm == 1  # the till's next ack covers it
    assert first.projected == 1  # not left waiting for a worker to store something
    assert project_all(fleet_db).projected == 0
    assert fleet_db.scalar("SELECT count(*) AS n FROM sales") == 1
    again = replay(fleet_db, "acme")
    assert (again.stored, again.already_stored, again.still_invalid) == (0, 0, 0)
    assert fleet_db.scalar("SELECT count(*) AS n FROM events") == 1


def test_a_message_still_refused_stays_under_its_id_with_todays_reason(
    fleet_db: Connection,
) -> None:
    bad = samples.wire(samples.feedback(), 1).replace(b'"rating":5', b'"rating":5.0')
    letter = _dead(
        fleet_db, bad, reason="an older reason", topic="tf/v1/s-001/till-1/up/feedback.given"
    )
    result = replay(fleet_db, "acme")
    assert (result.stored, result.still_invalid) == (0, 1)
    [(kept, reason)] = _letters(fleet_db)
    assert kept == letter
    assert "Expected `int`" in reason
    assert list(result.reasons) == [reason]
    assert list_letters(fleet_db, limit=1)[0].error_path == "$.body.rating"
    assert fleet_db.scalar("SELECT count(*) AS n FROM events") == 0


def test_a_message_whose_event_was_stored_meanwhile_is_done(fleet_db: Connection) -> None:
    payload = samples.wire(samples.sale(1), 1)
    apply_batch(fleet_db, [Incoming(TOPIC, payload, RECEIVED)], "acme")  # the till resent it
    _dead(fleet_db, payload)
    result = replay(fleet_db, "acme")
    assert (result.stored, result.already_stored) == (0, 1)
    assert _letters(fleet_db) == []
    assert fleet_db.scalar("SELECT count(*) AS n FROM events") == 1


def test_a_message_whose_seq_another_event_took_is_refused_again_once(
    fleet_db: Connection,
) -> None:
    apply_batch(fleet_db, [Incoming(TOPIC, samples.wire(samples.sale(1), 1), RECEIVED)], "acme")
    other = samples.wire(samples.sale(1, till_no=7), 1, eid=samples.event_id(99))
    letter = _dead(fleet_db, other)
    for _ in range(2):
        result = replay(fleet_db, "acme")
        assert (result.stored, result.still_invalid) == (0, 1)
        assert result.reasons == {"its seq is another event's": 1}
        [(kept, reason)] = _letters(fleet_db)  # one letter for it, not two, and replay ended
        assert kept == letter  # the same message keeps its id, however often it is replayed
        assert "is another event's" in reason


def test_replay_by_id_touches_only_those_and_counts_the_missing(fleet_db: Connection) -> None:
    one = _dead(fleet_db, samples.wire(samples.sale(1), 1))
    two = _dead(fleet_db, samples.wire(samples.sale(2), 2))
    result = replay(fleet_db, "acme", [two, two + 100])
    assert (result.stored, result.not_found) == (1, 1)
    assert _letters(fleet_db) == [(one, BUG)]


def test_a_status_letter_is_left_for_the_next_status(fleet_db: Connection) -> None:
    letter = _dead(fleet_db, b"{}", reason="bad status", topic="tf/v1/s-001/till-1/status")
    result = replay(fleet_db, "acme")
    assert (result.skipped_status, result.stored, result.still_invalid) == (1, 0, 0)
    assert _letters(fleet_db) == [(letter, "bad status")]


def test_the_command_line_lists_and_replays(tmp_path: Path, fleet_db_url: str) -> None:
    from fleet.db import connect

    with connect(fleet_db_url) as conn:
        letter = _dead(conn, samples.wire(samples.sale(1), 1))
    config = tmp_path / "fleet.toml"
    config.write_text(
        f'[fleet]\ntenant = "acme"\ndb_url = "{fleet_db_url}"\n'
        '[keys]\ndir = "keys"\nactive = "hq-1"\n'
    )
    runner = CliRunner()
    listed = runner.invoke(main, ["dead-letters", "list", "--config", str(config)])
    assert listed.exit_code == 0, listed.output
    assert listed.output.startswith(f"{letter}\t")
    assert TOPIC in listed.output
    assert BUG in listed.output
    refused = runner.invoke(main, ["dead-letters", "replay", "--config", str(config)])
    assert refused.exit_code == 2
    assert "give dead letter ids, or --all" in refused.output
    done = runner.invoke(main, ["dead-letters", "replay", "--all", "--config", str(config)])
    assert done.exit_code == 0, done.output
    assert done.output.startswith("stored 1, already stored 0, still refused 0")
    assert "\nprojected 1\n" in done.output
    empty = runner.invoke(main, ["dead-letters", "list", "--config", str(config)])
    assert empty.exit_code == 0
    assert "no dead letters" in empty.output


def test_a_letter_refused_again_does_not_stop_the_ones_after_it(fleet_db: Connection) -> None:
    broken = _dead(fleet_db, b"\xff\xfe not json")
    _dead(fleet_db, samples.wire(samples.sale(1), 1))
    result = replay(fleet_db, "acme")
    assert (result.stored, result.still_invalid) == (1, 1)
    assert [letter for letter, _ in _letters(fleet_db)] == [broken]


def test_a_letter_another_replay_took_first_is_neither_stored_again_nor_recorded_again(
    fleet_db: Connection,
) -> None:
    """What the second of two replays at once sees: it read the letters, then the first one
    committed (the lock in ``apply_batch`` makes the second wait for exactly this)."""
    stored = _dead(fleet_db, samples.wire(samples.sale(1), 1))
    apply_batch(fleet_db, [Incoming(TOPIC, samples.wire(samples.sale(2), 2), RECEIVED)], "acme")
    clash = _dead(fleet_db, samples.wire(samples.sale(2, till_no=7), 2, eid=samples.event_id(98)))
    stale = [
        Incoming(TOPIC, bytes(r["payload"]), RECEIVED)
        for r in fleet_db.execute("SELECT payload FROM dead_letters ORDER BY dead_letter_id")
    ]
    replay(fleet_db, "acme")
    again = apply_batch(fleet_db, stale, "acme", letters=[stored, clash])
    assert again.letters_gone == 1  # the stored one: gone, so not looked at
    assert (again.outcomes[Outcome.STORED], again.outcomes[Outcome.DUPLICATE]) == (0, 0)
    assert again.dead_letters == 1  # the clash, refused again under its own id
    assert [letter for letter, _ in _letters(fleet_db)] == [clash]
    assert fleet_db.scalar("SELECT count(*) AS n FROM events") == 2


def test_two_replays_at_once_store_each_letter_once_and_keep_one_letter_per_refusal(
    fleet_db_url: str,
) -> None:
    from fleet.db import connect

    with connect(fleet_db_url) as conn:
        taken = [Incoming(TOPIC, samples.wire(samples.sale(s), s), RECEIVED) for s in range(1, 201)]
        apply_batch(conn, taken, "acme")
        with conn.transaction():
            for s in range(1, 401):
                # 1..200: seqs another event has; 201..400: storable.
                payload = samples.wire(
                    samples.sale(s, till_no=7), s, eid=samples.event_id(s + 1000)
                )
                record_dead_letter(
                    conn,
                    received_at=RECEIVED,
                    topic=TOPIC,
                    reason=BUG,
                    error_path=None,
                    payload=payload,
                )
        before = [letter for letter, _ in _letters_all(conn)]

    start = threading.Barrier(2)
    results: list[ReplayResult] = []

    def one_replay() -> None:
        with connect(fleet_db_url) as conn:
            start.wait()
            results.append(replay(conn, "acme"))

    threads = [threading.Thread(target=one_replay) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(results) == 2
    assert sum(r.stored for r in results) == 200
    assert sum(r.already_stored for r in results) == 0
    with connect(fleet_db_url) as conn:
        assert conn.scalar("SELECT count(*) AS n FROM events") == 400
        left = _letters_all(conn)
        assert [letter for letter, _ in left] == before[:200]  # same ids, none added
        assert all("is another event's" in reason for _, reason in left)


def test_a_letter_id_reused_by_another_message_is_not_taken_for_the_replayed_one(
    fleet_db: Connection,
) -> None:
    """SQLite gives a deleted letter's id to the next letter: a replay still holding what it read
    earlier must not delete (or rewrite) that other message's letter."""
    payload = samples.wire(samples.sale(1), 1)
    letter = _dead(fleet_db, payload)
    stale = [Incoming(TOPIC, payload, RECEIVED)]  # read by a replay that has not locked yet
    replay(fleet_db, "acme")  # another replay stores it and deletes its letter
    apply_batch(fleet_db, [Incoming(TOPIC, b"{not json", RECEIVED)], "acme")  # live: refused
    [other] = list_letters(fleet_db, limit=10)
    again = apply_batch(fleet_db, stale, "acme", letters=[letter])
    assert again.letters_gone == 1
    assert [d.dead_letter_id for d in list_letters(fleet_db, limit=10)] == [other.dead_letter_id]
    assert list_letters(fleet_db, limit=10)[0].reason == other.reason


def test_a_projection_that_fails_after_the_replay_is_reported_not_raised(tmp_path: Path) -> None:
    from fleet.db import connect

    with connect(f"sqlite://{tmp_path / 'fleet.db'}") as conn:
        _dead(conn, samples.wire(samples.sale(1), 1))
        conn.execute(
            "CREATE TRIGGER no_projection BEFORE DELETE ON projection_queue"
            " BEGIN SELECT RAISE(ABORT, 'projection is broken today'); END"
        )
        result = replay(conn, "acme")
        assert result.stored == 1  # committed before projecting
        assert result.projected == 0
        assert result.projection_deferred is not None
        assert "projection is broken today" in result.projection_deferred
        assert _letters(conn) == []
        assert conn.scalar("SELECT count(*) AS n FROM projection_queue") == 1  # for the workers
