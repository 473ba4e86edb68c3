"""The seq tracker and the resend policy: pure, so checked against a plain model for any input."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.ingest.seqtrack import ResendPolicy, SeqRange, SeqTracker


def _model(seen: set[int], hwm: int = 0) -> tuple[int, list[SeqRange]]:
    """The obvious, slow answer: walk up from the mark, then list the holes below the maximum."""
    while hwm + 1 in seen:
        hwm += 1
    above = sorted(s for s in seen if s > hwm)
    gaps: list[SeqRange] = []
    prev = hwm
    for s in above:
        if s > prev + 1:
            gaps.append(SeqRange(prev + 1, s - 1))
        prev = s
    return hwm, gaps


seq_lists = st.lists(st.integers(1, 60), max_size=80)


@given(seq_lists)
def test_any_order_and_duplication_gives_the_mark_and_the_gaps(seqs: list[int]) -> None:
    tracker = SeqTracker()
    seen: set[int] = set()
    for seq in seqs:
        assert tracker.observe(seq) == (seq not in seen)
        seen.add(seq)
        hwm, gaps = _model(seen)
        assert tracker.hwm == hwm
        assert tracker.gaps() == gaps
        assert tracker.first_gap() == (gaps[0] if gaps else None)
        assert tracker.max_seen == max(seen)


@given(st.permutations(list(range(1, 41))), st.lists(st.integers(1, 40), max_size=20))
def test_every_permutation_with_redeliveries_ends_contiguous(
    order: list[int], redelivered: list[int]
) -> None:
    tracker = SeqTracker()
    for seq in [*order[:20], *redelivered, *order[20:]]:
        tracker.observe(seq)
    assert tracker.hwm == 40
    assert tracker.gaps() == []
    assert tracker.runs() == []


@given(seq_lists, st.integers(0, 70), seq_lists)
def test_advancing_the_mark_from_outside_agrees_with_having_seen_everything_below_it(
    before: list[int], mark: int, after: list[int]
) -> None:
    tracker = SeqTracker()
    for seq in before:
        tracker.observe(seq)
    tracker.advance_to(mark)
    for seq in after:
        tracker.observe(seq)
    seen = {*before, *after, *range(1, mark + 1)}
    hwm, gaps = _model(seen)
    assert (tracker.hwm, tracker.gaps()) == (hwm, gaps)


def test_a_tracker_starts_from_a_stored_mark() -> None:
    tracker = SeqTracker(hwm=100, seen=[105, 103, 101])
    assert tracker.hwm == 101
    assert tracker.gaps() == [SeqRange(102, 102), SeqRange(104, 104)]
    assert not tracker.observe(50)
    with pytest.raises(ValueError, match="seq must be"):
        tracker.observe(0)


def test_the_policy_waits_out_the_timeout_and_does_not_nag() -> None:
    policy = ResendPolicy(timeout=10)
    assert policy.update(hwm=5, gap=SeqRange(6, 7), now=100)  # newly detected
    assert not policy.update(hwm=5, gap=SeqRange(6, 7), now=101)
    assert not policy.due(109.9)
    assert policy.due(110)
    policy.requested(110)
    assert not policy.due(115)
    assert policy.due(120)
    # the mark moved but a gap remains: a new wait starts
    assert policy.update(hwm=9, gap=SeqRange(10, 10), now=121)
    assert not policy.due(125)
    assert policy.due(131)
    # filled
    assert not policy.update(hwm=12, gap=None, now=132)
    assert not policy.due(1000)
    assert not policy.waiting


@given(st.lists(st.tuples(st.integers(0, 5), st.booleans(), st.floats(0, 3)), max_size=40))
def test_the_policy_never_asks_twice_within_one_timeout(
    steps: list[tuple[int, bool, float]],
) -> None:
    policy = ResendPolicy(timeout=2)
    now = 0.0
    asked: list[float] = []
    for hwm, gap, dt_ in steps:
        now += dt_
        policy.update(hwm, SeqRange(hwm + 1, hwm + 1) if gap else None, now)
        if policy.due(now):
            policy.requested(now)
            asked.append(now)
    assert all(b - a >= 2 for a, b in itertools.pairwise(asked))
