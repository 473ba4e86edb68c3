"""Phone normalisation and keyed hashing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ProtocolError
from protocol.phones import PhoneError, normalise_phone, phone_hash

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("text", "cc", "e164"),
    [
        ("0151 234 5678", "49", "+491512345678"),
        ("+49 (151) 234-5678", "49", "+491512345678"),
        ("0049 151 2345678", "49", "+491512345678"),
        ("151/2345678", "49", "+491512345678"),
        ("020 7946 0018", "44", "+442079460018"),
        ("+1 415.555.0100", "44", "+14155550100"),
    ],
)
def test_the_same_number_keyed_differently_is_one_number(text: str, cc: str, e164: str) -> None:
    assert normalise_phone(text, cc) == e164


@pytest.mark.parametrize(
    "text", ["", "abc", "+0123456789", "12", "+4915123456789012345", "٠١٥١٢٣٤٥٦٧٨"]
)
def test_not_numbers_are_refused(text: str) -> None:
    with pytest.raises(PhoneError):
        normalise_phone(text, "49")


def test_hash_is_keyed_and_stable() -> None:
    h = phone_hash(KEY, "+491512345678")
    assert len(h) == 64
    assert h == phone_hash(KEY, "+491512345678")
    assert h != phone_hash(b"x" * 32, "+491512345678")
    assert h == phone_hash(KEY, normalise_phone("0151 2345678", "49"))


@given(st.text(max_size=50), st.sampled_from(["1", "44", "49", "352"]))
def test_normalise_raises_only_phone_error(text: str, cc: str) -> None:
    try:
        e164 = normalise_phone(text, cc)
    except ProtocolError:
        return
    assert normalise_phone(e164, cc) == e164
