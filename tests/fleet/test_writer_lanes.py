"""How a worker deals messages to its writer threads (``fleet.ingest.worker.writer_for``).

The promise the writers rest on: every message of one device goes to one writer, so a device's
batches are never in flight twice at once and are stored in the order they came.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from fleet.ingest.worker import writer_for
from protocol import topics
from protocol.errors import TopicError


def _valid_store(value: str) -> bool:
    try:
        topics.validate_store(value)
    except TopicError:
        return False
    return True


_IDENT = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True).filter(_valid_store)
_EVENT_TYPE = st.sampled_from(["sale.completed", "refund.completed", "device.health", "x.y"])


@given(
    store=_IDENT, device=_IDENT, kinds=st.lists(_EVENT_TYPE, max_size=5), writers=st.integers(1, 8)
)
def test_every_topic_of_a_device_goes_to_one_writer(
    store: str, device: str, kinds: list[str], writers: int
) -> None:
    targets = {writer_for(topics.status(store, device), writers)}
    targets |= {writer_for(topics.uplink(store, device, kind), writers) for kind in kinds}
    assert len(targets) == 1
    assert 0 <= targets.pop() < writers


@given(topic=st.text(max_size=80), writers=st.integers(1, 8))
def test_any_topic_at_all_goes_to_a_writer_and_always_the_same(topic: str, writers: int) -> None:
    """Garbage topics (dead letters to be) and lone surrogates included."""
    first = writer_for(topic, writers)
    assert 0 <= first < writers
    assert writer_for(topic, writers) == first


def test_a_fleet_of_tills_is_spread_over_the_writers() -> None:
    """Not a hash-quality test: a sanity bound, so a deal that sends everything to one writer
    (the worker would then store one batch at a time again) fails here."""
    deal = Counter(
        writer_for(topics.uplink(f"s-{n // 4:03d}", f"till-{n % 4 + 1}", "sale.completed"), 2)
        for n in range(2000)
    )
    assert min(deal.values()) > 800
