"""The wire messages: strict decoding, round trips, version upgrades, fuzzing."""

from __future__ import annotations

import datetime as dt
import json
import typing
import uuid
from typing import Any, ClassVar

import msgspec
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from protocol.errors import MessageError
from protocol.ids import uuid7
from protocol.messages import (
    DOWNLINK,
    UPLINK,
    UPLINK_MAX_BYTES,
    Body,
    DocScope,
    Registry,
    decode_document_payload,
    decode_event,
    encode_event,
    make_document,
    make_event,
)
from protocol.messages.base import Wire
from protocol.messages.uplink import FeedbackGiven, SaleCompleted
from tests.strategies import datetimes, instances_of, uuid7s

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
UPLINK_TYPES = [UPLINK.lookup(n, UPLINK.current(n)).body for n in UPLINK.names()]
DOWNLINK_TYPES = [DOWNLINK.lookup(n, DOWNLINK.current(n)).body for n in DOWNLINK.names()]


def _event(body: Body, seq: int = 1, event_id: uuid.UUID | None = None) -> bytes:
    ev = make_event(
        body,
        event_id=event_id or uuid7(1_700_000_000_000, b"\x01" * 10),
        tenant="acme",
        store="s-001",
        device="till-1",
        seq=seq,
        occurred_at=NOW,
    )
    return encode_event(ev)


def feedback(rating: int = 4) -> FeedbackGiven:
    return FeedbackGiven(
        sale_id=uuid7(1_700_000_000_000, b"\x02" * 10), rating=rating, member_id=None, given_at=NOW
    )


def _mutate(data: bytes, path: list[str | int], value: Any) -> bytes:
    obj = json.loads(data)
    target = obj
    for p in path[:-1]:
        target = target[p]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(obj).encode()


_DELETE = object()


# --- the names the architecture promises exist -------------------------------------------------


def test_every_architecture_event_and_document_is_registered() -> None:
    assert set(UPLINK.names()) >= {
        "sale.completed",
        "sale.voided",
        "refund.completed",
        "stock.delta",
        "shift.closed",
        "member.enrolled",
        "feedback.given",
        "device.health",
        "price.applied",
    }
    assert set(DOWNLINK.names()) >= {
        "price_book",
        "promotion_set",
        "member_cache",
        "device_config",
        "command",
        "ack",
    }


def _walk_types(tp: Any, seen: set[Any]) -> typing.Iterator[Any]:
    if tp in seen:
        return
    seen.add(tp)
    yield tp
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        yield from _walk_types(typing.get_args(tp)[0], seen)
        return
    for arg in typing.get_args(tp):
        yield from _walk_types(arg, seen)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        for hint in typing.get_type_hints(tp, include_extras=True).values():
            yield from _walk_types(hint, seen)


def test_no_float_anywhere_on_the_wire() -> None:
    """Money is integer minor units: no field of any message may be a float."""
    seen: set[Any] = set()
    for tp in UPLINK_TYPES + DOWNLINK_TYPES:
        for t in _walk_types(tp, seen):
            assert t is not float, f"{tp.__name__} has a float field"


@pytest.mark.parametrize("body_type", UPLINK_TYPES + DOWNLINK_TYPES, ids=lambda t: t.TYPE)
def test_every_field_is_required(body_type: type[Body]) -> None:
    """A sender that forgets a field is caught, never silently defaulted."""
    seen: set[Any] = set()
    for t in _walk_types(body_type, seen):
        if isinstance(t, type) and issubclass(t, Wire):
            info = msgspec.inspect.type_info(t)
            assert isinstance(info, msgspec.inspect.StructType)
            optional = [f.name for f in info.fields if not f.required]
            assert optional == [], f"{t.__name__} has optional fields {optional}"
            assert info.forbid_unknown_fields


# --- round trips -----------------------------------------------------------------------------


# Deeply nested generated messages are costly to build; a quarter of the profile per type,
# every type covered every run, keeps the suite in budget (HYPOTHESIS_PROFILE=thorough: more).
ROUND_TRIP = settings(max_examples=max(10, settings().max_examples // 4))


@pytest.mark.parametrize("body_type", UPLINK_TYPES, ids=lambda t: t.TYPE)
@ROUND_TRIP
@given(data=st.data(), seq=st.integers(1, 2**53), event_id=uuid7s(), at=datetimes)
def test_uplink_round_trip(
    body_type: type[Body], data: st.DataObject, seq: int, event_id: uuid.UUID, at: dt.datetime
) -> None:
    body = data.draw(instances_of(body_type))
    ev = make_event(
        body, event_id=event_id, tenant="t", store="s", device="d", seq=seq, occurred_at=at
    )
    wire = encode_event(ev)
    assert decode_event(wire) == ev
    assert decode_event(wire, expect=body_type.TYPE) == ev  # the one-pass route
    assert json.loads(wire)["type"] == body_type.TYPE


@pytest.mark.parametrize("body_type", DOWNLINK_TYPES, ids=lambda t: t.TYPE)
@ROUND_TRIP
@given(data=st.data(), version=st.integers(0, 2**53), doc_id=uuid7s())
def test_downlink_payload_round_trip(
    body_type: type[Body], data: st.DataObject, version: int, doc_id: uuid.UUID
) -> None:
    body = data.draw(instances_of(body_type))
    doc = make_document(
        body,
        doc_id=doc_id,
        scope=DocScope(tenant="t", store="s", device=None),
        version=version,
        issued_at=NOW,
        expires_at=NOW + dt.timedelta(days=1),
    )
    assert decode_document_payload(msgspec.json.encode(doc)) == doc


# --- strictness, each rule with the path it reports ------------------------------------------

GOOD = _event(feedback())


@pytest.mark.parametrize(
    ("path", "value", "expect_path", "fragment"),
    [
        (["body", "rating"], 6, "$.body.rating", "<= 5"),
        (["body", "rating"], "5", "$.body.rating", "Expected `int`, got `str`"),
        (["body", "rating"], 5.0, "$.body.rating", "got `float`"),
        (["body", "rating"], True, "$.body.rating", "got `bool`"),
        (["body", "extra"], 1, "$.body", "unknown field `extra`"),
        (["body", "member_id"], _DELETE, "$.body", "missing required field `member_id`"),
        (["body", "member_id"], "a/b", "$.body.member_id", "matching regex"),
        (["body", "member_id"], "ok\n", "$.body.member_id", "matching regex"),
        (["body", "given_at"], "2026-11-22T12:00:00", "$.body.given_at", "timezone"),
        (["type"], "no.such.type", "$.type", "unknown uplink type"),
        (["schema"], 2, "$.schema", "not accepted"),
        (["seq"], 0, "$.seq", ">= 1"),
        (["event_id"], str(uuid.uuid4()), "$", "version-7"),
        # a valid RFC 3339 time with no UTC instant in Python: HQ could not store it
        (["occurred_at"], "0001-01-01T00:00:00+05:30", "$", "out of range in UTC"),
        (["occurred_at"], "9999-12-31T23:30:00-01:00", "$", "out of range in UTC"),
        (["store"], "", "$.store", "matching regex"),
        (["extra"], None, "$", "unknown field `extra`"),
    ],
)
def test_strict_decode_reports_the_bad_field(
    path: list[str | int], value: Any, expect_path: str, fragment: str
) -> None:
    bad = _mutate(GOOD, path, value)
    with pytest.raises(MessageError) as err:
        decode_event(bad)
    assert err.value.path == expect_path
    assert fragment in str(err.value)


def test_invalid_utf8_inside_a_string_is_a_message_error() -> None:
    bad = GOOD.replace(b'"till-1"', b'"till\xff1"')
    with pytest.raises(MessageError, match="UTF-8"):
        decode_event(bad)


def test_oversize_payload_is_refused_before_parsing() -> None:
    huge = b'{"type":"' + b"x" * UPLINK_MAX_BYTES + b'"}'
    with pytest.raises(MessageError, match="over the limit"):
        decode_event(huge)


def test_encode_refuses_what_hq_would_refuse() -> None:
    with pytest.raises(MessageError):
        make_event(
            feedback(),
            event_id=uuid.uuid4(),  # not a UUIDv7
            tenant="t",
            store="s",
            device="d",
            seq=1,
            occurred_at=NOW,
        )


def test_card_numbers_never_travel_in_full() -> None:
    tender = {
        "kind": "card",
        "amount": 100,
        "tendered": 100,
        "change": 0,
        "reference": None,
        "approval_code": None,
        "card_scheme": None,
        "points": None,
    }
    from protocol.messages.uplink import Tender

    assert msgspec.convert({**tender, "masked_pan": "411111******1111"}, Tender)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({**tender, "masked_pan": "4111111111111111"}, Tender)


# --- versions: current and previous accepted, previous upgraded -------------------------------


class _NoteV1(Body, frozen=True):
    TYPE = "test.note"
    VERSION = 1
    text: str


class _NoteV2(Body, frozen=True):
    TYPE = "test.note"
    VERSION = 2
    text: str
    lang: str


class _NoteV3(Body, frozen=True):
    TYPE = "test.note"
    VERSION = 3
    text: str
    lang: str
    urgent: bool

    UPGRADED: ClassVar[int] = 0


def _note_wire(body: Body) -> bytes:
    """A test note event as bytes, encoded without the current registry's checks."""
    return msgspec.json.encode(
        make_event(
            body,
            event_id=uuid7(5, b"\x00" * 10),
            tenant="t",
            store="s",
            device="d",
            seq=1,
            occurred_at=NOW,
        )
    )


def test_receiver_accepts_current_and_previous_version_and_upgrades() -> None:
    reg = Registry("uplink")
    reg.register(_NoteV1)
    reg.register(_NoteV2, lambda b: _NoteV2(text=b.text, lang="en"))
    reg.register(_NoteV3, lambda b: _NoteV3(text=b.text, lang=b.lang, urgent=False))
    assert reg.accepted("test.note") == (2, 3)

    wire = _note_wire
    old = decode_event(wire(_NoteV2(text="hi", lang="fr")), registry=reg)
    assert old.schema == 3
    assert old.body == _NoteV3(text="hi", lang="fr", urgent=False)
    # Expecting the type takes the one-pass route only at the current version.
    assert (
        decode_event(wire(_NoteV2(text="hi", lang="fr")), registry=reg, expect="test.note") == old
    )
    now = _NoteV3(text="hi", lang="fr", urgent=True)
    assert decode_event(wire(now), registry=reg, expect="test.note").body == now
    with pytest.raises(MessageError, match="not accepted"):
        decode_event(wire(_NoteV1(text="hi")), registry=reg)


def test_a_new_version_registered_replaces_the_one_pass_decoder_of_its_type() -> None:
    reg = Registry("uplink")
    reg.register(_NoteV2)
    v2 = _note_wire(_NoteV2(text="hi", lang="fr"))
    assert decode_event(v2, registry=reg, expect="test.note").body == _NoteV2(text="hi", lang="fr")
    reg.register(_NoteV3, lambda b: _NoteV3(text=b.text, lang=b.lang, urgent=False))
    upgraded = decode_event(v2, registry=reg, expect="test.note")
    assert (upgraded.schema, upgraded.body) == (3, _NoteV3(text="hi", lang="fr", urgent=False))


def test_registry_refuses_a_version_without_its_upgrade() -> None:
    reg = Registry("uplink")
    reg.register(_NoteV1)
    with pytest.raises(ValueError, match="needs an upgrade"):
        reg.register(_NoteV2)
    with pytest.raises(ValueError, match="must follow"):
        reg.register(_NoteV3, lambda b: b)


# --- fuzz: decoders raise only their documented error ------------------------------------------


@given(st.binary(max_size=2000))
def test_decode_event_on_arbitrary_bytes_raises_only_message_error(data: bytes) -> None:
    try:
        ev = decode_event(data)
    except MessageError as exc:
        assert exc.path.startswith("$")
        return
    assert ev.type in UPLINK.names()


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@settings(max_examples=max(10, settings().max_examples // 2))
@given(st.data())
def test_decode_event_on_mutated_events_raises_only_message_error(data: st.DataObject) -> None:
    """Replace any one value of a valid sale with arbitrary JSON: refused cleanly, or valid."""
    from tests.strategies import builtins_for

    body = data.draw(builtins_for(SaleCompleted))
    obj = {
        "type": "sale.completed",
        "schema": 1,
        "event_id": str(uuid7(9, b"\x03" * 10)),
        "tenant": "t",
        "store": "s",
        "device": "d",
        "seq": 1,
        "occurred_at": "2026-11-22T12:00:00Z",
        "body": body,
    }
    paths: list[list[Any]] = []

    def collect(node: Any, path: list[Any]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                collect(v, [*path, k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                collect(v, [*path, i])

    collect(obj, [])
    path = data.draw(st.sampled_from(paths[1:]))
    replacement = data.draw(_json_values)
    note(f"{path} := {replacement!r}")
    target: Any = obj
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = replacement
    wire = json.dumps(obj, allow_nan=True).encode()
    # The one-pass route says exactly what the two passes say, whatever is wrong.
    assert _outcome(wire, expect="sale.completed") == _outcome(wire)
    try:
        ev = decode_event(wire)
    except MessageError as exc:
        assert exc.path.startswith("$")
        return
    assert ev.type == "sale.completed"


def _outcome(data: bytes, **kwargs: Any) -> object:
    """The decoded event, or the refusal's reason and path."""
    try:
        return decode_event(data, **kwargs)
    except MessageError as exc:
        return (exc.reason, exc.path)


@given(st.binary(max_size=2000), st.sampled_from(["sale.completed", "feedback.given", "nope"]))
def test_decoding_with_an_expected_type_changes_no_outcome_on_arbitrary_bytes(
    data: bytes, expect: str
) -> None:
    assert _outcome(data, expect=expect) == _outcome(data)


@given(st.data())
def test_an_event_of_another_type_than_expected_decodes_as_what_it_is(
    data: st.DataObject,
) -> None:
    wire = _event(feedback(data.draw(st.integers(1, 5))))
    assert _outcome(wire, expect="sale.completed") == _outcome(wire)
    assert decode_event(wire, expect="sale.completed").type == "feedback.given"


@given(st.binary(max_size=2000))
def test_decode_document_payload_raises_only_message_error(data: bytes) -> None:
    try:
        doc = decode_document_payload(data)
    except MessageError as exc:
        assert exc.path.startswith("$")
        return
    assert doc.kind in DOWNLINK.names()
