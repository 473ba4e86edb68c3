"""The cashier keypad: key sequences to commands, pure and through a whole station."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge.checkout import commands as cmd
from edge.station.keypad import MAX_ENTRY, Keypad

KEYS = [
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "00",
    "CLEAR",
    "VOID",
    "QTY",
    "PLU",
    "MEMBER",
    "NOSALE",
    "ENTER",
    "TOTAL",
    "CASH",
]


def _type(pad: Keypad, keys: str | list[str], due: int | None = None) -> list[cmd.Command]:
    out = []
    for key in keys:
        command = pad.key(key, due)
        if command is not None:
            out.append(command)
    return out


def test_digits_then_enter_is_a_barcode_or_a_plu_by_length() -> None:
    pad = Keypad()
    assert _type(pad, [*"4006381333931", "ENTER"]) == [cmd.AddItem(code="4006381333931")]
    assert _type(pad, [*"4131", "ENTER"]) == [cmd.AddItem(plu="4131")]
    assert _type(pad, [*"0017", "PLU"]) == [cmd.AddItem(plu="17")]


def test_qty_applies_to_the_next_item_only() -> None:
    pad = Keypad()
    assert _type(pad, ["3", "QTY", *"17", "PLU", *"17", "PLU"]) == [
        cmd.AddItem(plu="17", qty=3),
        cmd.AddItem(plu="17"),
    ]


def test_cash_takes_the_entry_or_the_exact_amount_due() -> None:
    pad = Keypad()
    assert _type(pad, ["2", "00", "0", "CASH"]) == [cmd.Tender(kind="cash", amount=2000)]
    assert _type(pad, ["CASH"], due=119) == [cmd.Tender(kind="cash", amount=119)]
    assert _type(pad, ["CASH"], due=None) == []
    assert pad.ignored == 1


def test_clear_forgets_the_entry_and_a_pending_quantity() -> None:
    pad = Keypad()
    assert _type(pad, ["5", "QTY", "9", "CLEAR", *"17", "PLU"]) == [cmd.AddItem(plu="17")]


@given(st.lists(st.sampled_from(KEYS), max_size=80), st.none() | st.integers(0, 10**7))
def test_any_key_sequence_is_safe_and_the_entry_stays_bounded(
    keys: list[str], due: int | None
) -> None:
    pad = Keypad()
    for command in _type(pad, keys, due):
        assert isinstance(command, cmd.AddItem | cmd.Tender | cmd.VoidLine)
        if isinstance(command, cmd.Tender):
            assert command.amount > 0
        if isinstance(command, cmd.AddItem):
            assert 1 <= command.qty <= 999
        assert len(pad.entry) <= MAX_ENTRY
