"""The topic scheme: builders and the parser agree, and nothing outside the scheme parses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import topics
from protocol.errors import TopicError
from protocol.topics import Direction, Scope, Topic

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True).filter(
    lambda s: s not in ("up", "down", "status")
)
stores = ids.filter(lambda s: s != "all")
names = st.from_regex(r"[a-z][a-z0-9_]{0,10}(\.[a-z][a-z0-9_]{0,10}){0,2}", fullmatch=True)


def test_the_architecture_examples() -> None:
    assert topics.uplink("s1", "t1", "sale.completed") == "tf/v1/s1/t1/up/sale.completed"
    assert topics.status("s1", "t1") == "tf/v1/s1/t1/status"
    assert topics.device_downlink("s1", "t1", "ack") == "tf/v1/s1/t1/down/ack"
    assert topics.store_downlink("s1", "price_book") == "tf/v1/s1/down/price_book"
    assert topics.fleet_downlink("promotion_set") == "tf/v1/all/down/promotion_set"
    assert topics.uplink_filter("ingest") == "$share/ingest/tf/v1/+/+/up/+"
    assert topics.device_subscriptions("s1", "t1") == (
        "tf/v1/s1/t1/down/#",
        "tf/v1/s1/down/#",
        "tf/v1/all/down/#",
    )


@given(stores, ids, names)
def test_build_then_parse_round_trips(store: str, device: str, name: str) -> None:
    cases = [
        (
            topics.uplink(store, device, name),
            Topic(Direction.UP, Scope.DEVICE, store, device, name),
        ),
        (topics.status(store, device), Topic(Direction.STATUS, Scope.DEVICE, store, device, None)),
        (
            topics.device_downlink(store, device, name),
            Topic(Direction.DOWN, Scope.DEVICE, store, device, name),
        ),
        (topics.store_downlink(store, name), Topic(Direction.DOWN, Scope.STORE, store, None, name)),
        (topics.fleet_downlink(name), Topic(Direction.DOWN, Scope.FLEET, None, None, name)),
    ]
    for text, expected in cases:
        assert topics.parse(text) == expected
        assert str(expected) == text


@pytest.mark.parametrize(
    "bad",
    ["", "a/b", "s+1", "s#", "a\x00b", "x" * 65, "-lead", "up", "down", "status", "é", "a b"],
)
def test_bad_ids_are_refused(bad: str) -> None:
    with pytest.raises(TopicError):
        topics.uplink(bad, "t1", "sale.completed")
    with pytest.raises(TopicError):
        topics.uplink("s1", bad, "sale.completed")


def test_all_is_not_a_store() -> None:
    with pytest.raises(TopicError, match="reserved"):
        topics.store_downlink("all", "price_book")
    assert topics.validate_id("all") == "all"  # a device may be called all: no ambiguity


@pytest.mark.parametrize(
    "bad",
    [
        "tf/v1/s1/t1/up/#",
        "tf/v1/+/t1/status",
        "tf/v2/s1/t1/status",
        "tf/v1/s1/t1/sideways/x",
        "tf/v1/s1/t1/up/Sale",
        "tf/v1/s1/t1/up/sale.completed/extra",
        "tf/v1/all/t1/status",
        "tf/v1",
        "/tf/v1/s1/t1/status",
    ],
)
def test_parse_refuses_topics_outside_the_scheme(bad: str) -> None:
    with pytest.raises(TopicError):
        topics.parse(bad)


@given(st.text(max_size=300))
def test_parse_raises_only_topic_error(text: str) -> None:
    try:
        t = topics.parse(text)
    except TopicError:
        return
    assert str(t) == text
