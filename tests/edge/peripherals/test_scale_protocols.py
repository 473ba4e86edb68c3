"""Scale codecs and weight conversion: pure, property-tested, against independent encoders.

Frames come from the HIL emulator's encoders (written from the manuals separately from the
decoders) and from replies quoted in the sources the codecs cite.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.peripherals.scale import (
    Reading,
    ScaleState,
    SubGram,
    Unit,
    WeightError,
    codec,
    to_grams,
)
from edge.peripherals.scale.adam import Adam
from edge.peripherals.scale.protocols import ReplyDecoder
from edge.peripherals.scale.toledo8217 import Toledo8217
from hil.devices.scale_emulator import (
    adam_status,
    adam_status_reply,
    adam_weight,
    even_parity,
    toledo_status,
    toledo_weight,
)

GRAMS = st.integers(min_value=0, max_value=99_999)
CUTS = st.lists(st.integers(min_value=0, max_value=1000), max_size=6)


def _chunked(decoder: ReplyDecoder, data: bytes, cuts: list[int]) -> list[Reading]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    out: list[Reading] = []
    for a, b in itertools.pairwise(points):
        out += decoder.feed(data[a:b])
    return out


# -- to_grams ----------------------------------------------------------------------------------


@given(
    units=st.integers(min_value=-(10**8), max_value=10**8),
    decimals=st.integers(min_value=0, max_value=6),
    unit=st.sampled_from(Unit),
    policy=st.sampled_from(SubGram),
)
def test_to_grams_is_exact_against_fractions(
    units: int, decimals: int, unit: Unit, policy: SubGram
) -> None:
    sign = "-" if units < 0 else ""
    digits = str(abs(units)).rjust(decimals + 1, "0")
    text = sign + (digits[:-decimals] + "." + digits[-decimals:] if decimals else digits)
    if len(digits) > 9:
        with pytest.raises(WeightError, match="digits"):
            to_grams(text, unit, policy)
        return
    exact = Fraction(text) * (1000 if unit is Unit.KG else 1)
    if exact.denominator == 1:
        assert to_grams(text, unit, policy) == exact
    elif policy is SubGram.REJECT:
        with pytest.raises(WeightError, match="finer than a gram"):
            to_grams(text, unit, policy)
    else:
        got = to_grams(text, unit, policy)
        assert abs(got) <= abs(exact) < abs(got) + 1  # towards zero, never up
        assert got == 0 or (got < 0) == (exact < 0)


@pytest.mark.parametrize(
    ("text", "unit", "grams"),
    [("1.005", Unit.KG, 1005), ("01.234", Unit.KG, 1234), ("0.1", Unit.KG, 100),
     (".5", Unit.KG, 500), ("12.", Unit.KG, 12000), ("250", Unit.G, 250), ("-0.020", Unit.KG, -20)],
)  # fmt: skip
def test_to_grams_examples(text: str, unit: Unit, grams: int) -> None:
    assert to_grams(text, unit) == grams


@pytest.mark.parametrize("text", ["", ".", "1.2.3", "1,5", "+1", " 1", "1e3", "0x10", "١٢"])
def test_to_grams_refuses_what_is_not_a_weight(text: str) -> None:
    with pytest.raises(WeightError):
        to_grams(text, Unit.KG)


def test_sub_gram_policy() -> None:
    assert to_grams("1.2345", Unit.KG, SubGram.ROUND_DOWN) == 1234
    assert to_grams("-1.2345", Unit.KG, SubGram.ROUND_DOWN) == -1234
    with pytest.raises(WeightError, match=r"1\.2345 kg is finer than a gram"):
        to_grams("1.2345", Unit.KG)
    assert to_grams("1.2340", Unit.KG) == 1234  # trailing zeros are not extra precision


# -- Toledo 8217 -------------------------------------------------------------------------------


@given(
    grams=GRAMS,
    decimals=st.integers(min_value=0, max_value=3),
    net=st.booleans(),
    parity=st.booleans(),
    cuts=CUTS,
)
def test_toledo_weight_records_decode_to_their_grams(
    grams: int, decimals: int, net: bool, parity: bool, cuts: list[int]
) -> None:
    frame = toledo_weight(grams, decimals, net=net)
    frame = even_parity(frame) if parity else frame
    shown = grams // 10 ** (3 - decimals) * 10 ** (3 - decimals)  # what such a display shows
    got = _chunked(Toledo8217().decoder(), frame, cuts)
    assert got == [Reading(ScaleState.STABLE, shown, net=net)]


@given(motion=st.booleans(), over=st.booleans(), under=st.booleans(), center=st.booleans())
def test_toledo_status_records(motion: bool, over: bool, under: bool, center: bool) -> None:
    frame = toledo_status(motion=motion, over=over, under=under, center=center)
    [reading] = Toledo8217().decoder().feed(frame)
    want = (
        ScaleState.OVER_CAPACITY if over
        else ScaleState.UNDER_ZERO if under
        else ScaleState.MOTION if motion
        else ScaleState.STABLE
    )  # fmt: skip
    assert reading == Reading(want)


@given(garbage=st.binary(max_size=100), grams=GRAMS)
def test_toledo_reads_the_next_record_after_any_garbage(garbage: bytes, grams: int) -> None:
    decoder = Toledo8217().decoder()
    out = decoder.feed(garbage + toledo_weight(grams))
    assert out[-1] == Reading(ScaleState.STABLE, grams)


@given(data=st.binary(max_size=500))
def test_toledo_decoder_survives_anything(data: bytes) -> None:
    for reading in Toledo8217().decoder().feed(data):
        assert reading.grams is None or 0 <= reading.grams < 10**9


@pytest.mark.parametrize(
    ("frame", "want"),
    [
        (b"\x0201.234\r", Reading(ScaleState.STABLE, 1234)),
        (b"\x02 1.234N\r", Reading(ScaleState.STABLE, 1234, net=True)),
        (b"\x02?D\r", Reading(ScaleState.UNDER_ZERO)),  # Odoo's quoted reply: 0x44, bit 2
        (b"\x02?a\r", Reading(ScaleState.MOTION)),
        (b"\x02?h\r", Reading(ScaleState.ERROR, detail="zero outside the capture range")),
        (b"\x02?p\r", Reading(ScaleState.STABLE)),  # centre of zero: the answer to Z
        (b"\x021.2345\r", Reading(ScaleState.ERROR, detail="1.2345 kg is finer than a gram")),
    ],
)
def test_toledo_recorded_replies(frame: bytes, want: Reading) -> None:
    assert Toledo8217().decoder().feed(frame) == [want]


def test_toledo_counts_what_it_skips() -> None:
    decoder = Toledo8217().decoder()
    out = decoder.feed(b"noise\x0201.2\x02?\r\x02?ab\r\x02" + b"9" * 40 + b"\r\x02E\r\x0201.000\r")
    assert out == [Reading(ScaleState.STABLE, 1000)]
    assert dict(decoder.counters) == {
        "garbage": 5 + 23 + 1,  # "noise", and the over-long run past 16 + 1 bytes with its CR
        "truncated": 1,
        "bad_status": 2,
        "too_long": 1,
        "bad_record": 1,
    }


def test_toledo_in_grams_and_commands() -> None:
    toledo = codec("toledo8217", unit=Unit.G)
    assert toledo.decoder().feed(b"\x02001250\r") == [Reading(ScaleState.STABLE, 1250)]
    assert (toledo.request_weight(), toledo.request_zero(), toledo.request_tare()) == (
        b"W",
        b"Z",
        None,
    )
    assert not toledo.has_tare


# -- Adam --------------------------------------------------------------------------------------


@given(
    grams=st.integers(min_value=-9_999, max_value=99_999),
    motion=st.booleans(),
    net=st.booleans(),
    decimals=st.integers(min_value=0, max_value=3),
    parity=st.booleans(),
    cuts=CUTS,
)
def test_adam_weight_replies_decode(
    grams: int, motion: bool, net: bool, decimals: int, parity: bool, cuts: list[int]
) -> None:
    step = 10 ** (3 - decimals)
    shown = abs(grams) // step * step * (-1 if grams < 0 else 1)
    frame = adam_weight(grams, adam_status(motion=motion, at_zero=grams == 0, net=net), decimals)
    frame = even_parity(frame) if parity else frame
    state = (
        ScaleState.UNDER_ZERO if shown < 0 else ScaleState.MOTION if motion else ScaleState.STABLE
    )
    assert _chunked(Adam().decoder(), frame, cuts) == [Reading(state, shown, net=net)]


@given(over=st.booleans(), net=st.booleans())
def test_adam_out_of_range_fields(over: bool, net: bool) -> None:
    status = adam_status(over=over, under=not over, net=net)
    [reading] = Adam().decoder().feed(adam_weight(20_000, status))
    want = ScaleState.OVER_CAPACITY if over else ScaleState.UNDER_ZERO
    assert reading == Reading(want, net=net)


@given(garbage=st.binary(max_size=100), grams=GRAMS)
def test_adam_reads_the_next_reply_after_garbage_and_an_etx(garbage: bytes, grams: int) -> None:
    decoder = Adam().decoder()
    out = decoder.feed(garbage + b"\x03" + adam_weight(grams, adam_status()))
    assert out[-1] == Reading(ScaleState.STABLE, grams)


@given(data=st.binary(max_size=500))
def test_adam_decoder_survives_anything(data: bytes) -> None:
    for reading in Adam().decoder().feed(data):
        assert isinstance(reading.state, ScaleState)


@pytest.mark.parametrize(
    ("frame", "want"),
    [
        (b"\n    1.235kg\r\n0p1\r\x03", Reading(ScaleState.STABLE, 1235)),
        (b"\n-   0.020kg\r\n0p5\r\x03", Reading(ScaleState.UNDER_ZERO, -20, net=True)),
        (b"\n      250g \r\n1p1\r\x03", Reading(ScaleState.MOTION, 250)),
        (b"\n---------kg\r\n0p1\r\x03", Reading(ScaleState.ERROR, detail="zero-point error")),
        (b"\n1p1\r\x03", Reading(ScaleState.MOTION)),
        (b"\n8p1\r\x03", Reading(ScaleState.ERROR, detail="scale EEPROM error")),
        (b"\n?\r\x03", Reading(ScaleState.ERROR, detail="the scale refused the command")),
        (
            b"\n    2.500lb\r\n0p1\r\x03",
            Reading(ScaleState.ERROR, detail="the scale weighs in 'lb', set it to kg or g"),
        ),
    ],
)
def test_adam_recorded_replies(frame: bytes, want: Reading) -> None:
    assert Adam().decoder().feed(frame) == [want]


def test_adam_counts_what_it_skips() -> None:
    decoder = Adam().decoder()
    bad_status = b"\n    1.000kg\r\n001\r\x03"  # H2 without bit 6
    short_field = b"\n1.000kg\r\n0p1\r\x03"
    out = decoder.feed(b"junk" + bad_status + short_field + b"\n" + b"7" * 40 + b"\x03")
    out += decoder.feed(adam_status_reply(adam_status(at_zero=True)))
    assert out == [Reading(ScaleState.STABLE)]
    # "junk", then the over-long run past 32 + 1 bytes with its ETX
    assert dict(decoder.counters) == {"garbage": 4 + 7 + 1, "bad_reply": 2, "too_long": 1}


def test_adam_commands_and_unknown_protocols() -> None:
    adam = codec("adam")
    assert (adam.request_weight(), adam.request_zero(), adam.request_tare()) == (
        b"W\r",
        b"Z\r",
        b"T\r",
    )
    with pytest.raises(ValueError, match="unknown scale protocol 'dialog06'"):
        codec("dialog06")
