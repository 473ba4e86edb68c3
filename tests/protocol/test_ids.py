"""UUIDv7 event identifiers."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ProtocolError
from protocol.ids import is_uuid7, text, uuid7, uuid7_unix_ms


def test_rfc9562_example_layout() -> None:
    # RFC 9562 appendix A.6: 017F22E2-79B0-7CC3-98C4-DC0C0C07398F for 2022-02-22 14:22:22 UTC.
    rand = bytes.fromhex("0cc3") + bytes.fromhex("18c4dc0c0c07398f")
    u = uuid7(0x017F22E279B0, rand)
    assert str(u) == "017f22e2-79b0-7cc3-98c4-dc0c0c07398f"
    assert uuid7_unix_ms(u) == 0x017F22E279B0


@given(st.integers(0, 2**48 - 1), st.binary(min_size=10, max_size=10))
def test_version_variant_and_time(ms: int, rand: bytes) -> None:
    u = uuid7(ms, rand)
    assert is_uuid7(u)
    assert uuid7_unix_ms(u) == ms


@given(
    st.integers(0, 2**48 - 2),
    st.binary(min_size=10, max_size=10),
    st.binary(min_size=10, max_size=10),
)
def test_ids_sort_by_time(ms: int, r1: bytes, r2: bytes) -> None:
    assert uuid7(ms, r1) < uuid7(ms + 1, r2)


def test_bad_inputs() -> None:
    with pytest.raises(ProtocolError):
        uuid7(-1, bytes(10))
    with pytest.raises(ProtocolError):
        uuid7(1, bytes(9))
    with pytest.raises(ProtocolError):
        uuid7_unix_ms(uuid.uuid4())


@given(st.integers(0, 2**128 - 1))
def test_the_version_check_and_the_text_form_are_the_standard_librarys(n: int) -> None:
    u = uuid.UUID(int=n)
    assert is_uuid7(u) == (u.version == 7 and u.variant == uuid.RFC_4122)
    assert text(u) == str(u)


@given(st.integers(0, 2**48 - 1), st.binary(min_size=10, max_size=10))
def test_the_text_of_a_uuid7_is_the_standard_form(ms: int, rand: bytes) -> None:
    u = uuid7(ms, rand)
    assert text(u) == str(u)
    assert is_uuid7(uuid.UUID(text(u)))
