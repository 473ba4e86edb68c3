"""The receiver's cheaper PUBLISH properties decode exactly as paho's own."""

from __future__ import annotations

import paho.mqtt._packet as paho_packet
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from fleet.ingest.lean_properties import SharedTableProperties, install

_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20)


@st.composite
def publish_properties(draw: st.DrawFn) -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if draw(st.booleans()):
        props.PayloadFormatIndicator = draw(st.integers(0, 1))
    if draw(st.booleans()):
        props.MessageExpiryInterval = draw(st.integers(0, 2**32 - 1))
    if draw(st.booleans()):
        props.ContentType = draw(_text)
    if draw(st.booleans()):
        props.ResponseTopic = draw(_text.filter(bool))
    if draw(st.booleans()):
        props.CorrelationData = draw(st.binary(max_size=20))
    if draw(st.booleans()):
        props.TopicAlias = draw(st.integers(1, 65535))
    for pair in draw(st.lists(st.tuples(_text, _text), max_size=3)):
        props.UserProperty = pair
    return props


@given(publish_properties())
def test_shared_table_properties_unpack_exactly_like_paho(props: Properties) -> None:
    wire = props.pack()  # type: ignore[no-untyped-call]
    theirs = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    ours = SharedTableProperties(PacketTypes.PUBLISH)
    ours_read = ours.unpack(wire)[1]  # type: ignore[no-untyped-call]
    assert ours_read == theirs.unpack(wire)[1] == len(wire)  # type: ignore[no-untyped-call]
    assert ours.json() == theirs.json()  # type: ignore[no-untyped-call]
    assert ours.pack() == wire  # type: ignore[no-untyped-call]


@given(publish_properties(), publish_properties())
def test_unpacking_again_forgets_the_earlier_values_like_paho(
    first: Properties, second: Properties
) -> None:
    ours = SharedTableProperties(PacketTypes.PUBLISH)
    theirs = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    for props in (ours, theirs):
        props.unpack(first.pack())  # type: ignore[no-untyped-call]
        props.unpack(second.pack())  # type: ignore[no-untyped-call]
    assert ours.json() == theirs.json() == second.json()  # type: ignore[no-untyped-call]
    assert ours.types is theirs.types or ours.types == theirs.types  # the tables survive
    assert ours.pack() == second.pack()  # type: ignore[no-untyped-call]


def test_new_objects_start_empty_and_do_not_share_values() -> None:
    first = SharedTableProperties(PacketTypes.PUBLISH)
    first.ContentType = "text/plain"
    second = SharedTableProperties(PacketTypes.PUBLISH)
    assert second.isEmpty()  # type: ignore[no-untyped-call]
    assert not hasattr(second, "ContentType")


def test_install_patches_paho_publish_decoding_only_once_and_only_there() -> None:
    original = paho_packet.Properties  # type: ignore[attr-defined]
    try:
        assert install() is True
        decoded = paho_packet.decode_publish(
            0x32,  # PUBLISH, QoS 1
            b"\x00\x03a/b\x00\x07" + b"\x02\x01\x01" + b"payload",  # topic, mid, props
            MQTTProtocolVersion.MQTTv5,
        )
        assert isinstance(decoded.properties, SharedTableProperties)
        assert decoded.properties.json() == {"PayloadFormatIndicator": 1}  # type: ignore[no-untyped-call]
        assert decoded.payload == b"payload"
        assert install() is False  # already ours: paho is not what it was written for
    finally:
        paho_packet.Properties = original  # type: ignore[attr-defined]
