"""DLE EOT replies: the fixed-bit check, each condition, and the reason shown to a cashier."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.peripherals.printer.status import (
    Paper,
    PrinterStatus,
    is_status_byte,
    no_answer,
    parse,
    reply_byte,
)

OK = {1: 0x12, 2: 0x12, 4: 0x12}


def test_a_healthy_printer_is_ready() -> None:
    status = parse(OK)
    assert status.ready
    assert status.reason == ""


@pytest.mark.parametrize(
    ("replies", "field", "reason"),
    [
        ({1: 0x1A, 2: 0x16, 4: 0x12}, "cover_open", "printer cover open - close it"),
        ({1: 0x1A, 2: 0x32, 4: 0x7E}, "paper", "printer paper out - load a new roll"),
        ({1: 0x1A, 2: 0x52, 3: 0x1A, 4: 0x12}, "cutter_error", "printer cutter jammed"),
        ({1: 0x1A, 2: 0x52, 3: 0x32, 4: 0x12}, "unrecoverable_error", "switch the printer off"),
        ({1: 0x1A, 2: 0x52, 3: 0x52, 4: 0x12}, "recoverable_error", "overheated"),
        ({1: 0x1A, 2: 0x1A, 4: 0x12}, "feeding", "printer feeding paper"),
        ({1: 0x1A, 2: 0x12, 4: 0x12}, "offline", "printer offline"),
    ],
)
def test_conditions_that_stop_printing(replies: dict[int, int], field: str, reason: str) -> None:
    status = parse(replies)
    assert getattr(status, field) not in (False, Paper.OK)
    assert not status.ready
    assert reason in status.reason


def test_paper_near_end_is_a_warning_not_a_stop() -> None:
    status = parse({1: 0x12, 2: 0x12, 4: 0x1E})
    assert status.paper is Paper.NEAR_END
    assert status.ready
    assert status.reason == "printer paper low"
    assert status.reason_blocking == ""


def test_drawer_pin_is_reported_as_is() -> None:
    assert parse({**OK, 1: 0x16}).drawer_pin3_high
    assert not parse(OK).drawer_pin3_high


def test_no_answer_is_not_ready_and_says_why() -> None:
    status = no_answer("connection lost: EIO")
    assert not status.ready
    assert status.reason == "printer not answering: connection lost: EIO"


@given(st.integers(0, 255))
def test_only_bytes_with_the_fixed_bits_are_replies(value: int) -> None:
    fixed = (value & 0x01, value & 0x02, value & 0x10, value & 0x80) == (0, 2, 0x10, 0)
    assert is_status_byte(value) == fixed
    if not fixed:
        with pytest.raises(ValueError, match="not a DLE EOT"):
            parse({1: value})


def test_the_printer_status_byte_is_required() -> None:
    with pytest.raises(ValueError, match="DLE EOT 1"):
        parse({2: 0x12})


statuses = st.builds(
    PrinterStatus,
    answered=st.just(True),
    offline=st.booleans(),
    cover_open=st.booleans(),
    paper=st.sampled_from(Paper),
    feeding=st.booleans(),
    cutter_error=st.booleans(),
    unrecoverable_error=st.booleans(),
    recoverable_error=st.booleans(),
    drawer_pin3_high=st.booleans(),
)


@given(statuses)
def test_replies_built_from_a_status_parse_back_to_it(status: PrinterStatus) -> None:
    replies = {n: reply_byte(n, status) for n in (1, 2, 3, 4)}
    assert all(is_status_byte(v) for v in replies.values())
    back = parse(replies)
    assert back.cover_open == status.cover_open
    assert back.paper is status.paper
    assert (back.cutter_error, back.unrecoverable_error, back.recoverable_error) == (
        status.cutter_error,
        status.unrecoverable_error,
        status.recoverable_error,
    )
    assert back.drawer_pin3_high == status.drawer_pin3_high
    assert back.ready == status.ready
