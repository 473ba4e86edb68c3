"""Acknowledgements leave in arrival order, whatever order the writers store in."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from fleet.ingest.ackorder import AckOrder


@st.composite
def arrivals_and_stores(draw: st.DrawFn) -> tuple[list[tuple[int, int]], list[list[int]]]:
    """Distinct packet ids with their QoS, in arrival order, and the order writers store them
    in: the arrivals shuffled and cut into batches."""
    mids = draw(st.lists(st.integers(1, 65_535), unique=True, max_size=60))
    msgs = [(mid, draw(st.sampled_from((1, 1, 2)))) for mid in mids]
    order = draw(st.permutations(range(len(msgs))))
    cuts = sorted(draw(st.sets(st.integers(0, len(msgs)), max_size=10)))
    bounds = [0, *cuts, len(msgs)]
    batches = [list(order[a:b]) for a, b in itertools.pairwise(bounds) if b > a]
    return msgs, batches


@given(arrivals_and_stores())
def test_acks_leave_in_arrival_order_as_soon_as_nothing_earlier_is_outstanding(
    case: tuple[list[tuple[int, int]], list[list[int]]],
) -> None:
    msgs, batches = case
    acks = AckOrder()
    for start in range(0, len(msgs), 7):  # handed on a few at a time, as reads come
        acks.arrived(mid for mid, _qos in msgs[start : start + 7])
    sent: list[tuple[int, int]] = []
    stored: set[int] = set()
    for batch in batches:
        sent += acks.stored([msgs[i] for i in batch])
        stored.update(batch)
        assert sent == msgs[: len(sent)]  # a prefix of the arrivals, with their QoS
        assert set(range(len(sent))) <= stored  # nothing acknowledged before it was stored
        # ... and nothing held that could go: the next one is not stored yet
        assert len(sent) == len(msgs) or len(sent) not in stored
        assert acks.held == len(stored) - len(sent)
    assert sent == msgs


def test_qos_0_takes_no_place_in_the_line() -> None:
    acks = AckOrder()
    acks.arrived([7])
    assert acks.stored([(3, 0)]) == []  # a QoS 0 message was never in line
    assert acks.stored([(7, 1)]) == [(7, 1)]
    assert acks.held == 0


def test_a_new_connection_drops_what_was_held() -> None:
    acks = AckOrder()
    acks.arrived([1, 2])
    assert acks.stored([(2, 1)]) == []
    acks.reset()
    assert acks.held == 0
    acks.arrived([2])  # the broker may use the id again on the new connection
    assert acks.stored([(2, 1)]) == [(2, 1)]
