"""Keypad logic on a hand-driven clock: debounce, auto-repeat, the matrix scan, tick wrap."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hil.devices.mpy_shims import firmware, machine
from hil.devices.mpy_shims.bench import KeyMatrix

keypad = firmware("keypad")
ticks = firmware("ticks")
DOWN, UP, REPEAT = keypad.DOWN, keypad.UP, keypad.REPEAT


def drive(kp: Any, schedule: list[tuple[int, set[int]]], start: int = 0) -> list[tuple[int, ...]]:
    """Feed ``(ms, pressed)`` scans; return ``(ms, event, code)`` for every event."""
    events: list[tuple[int, ...]] = []
    for ms, pressed in schedule:
        for event, code in kp.update(ticks.add(start, ms), pressed):
            events.append((ms, event, code))
    return events


def scans(
    until: int, pressed_at: dict[int, set[int]], every: int = 5
) -> list[tuple[int, set[int]]]:
    """Scan every ``every`` ms; the pressed set changes at the times in ``pressed_at``."""
    out: list[tuple[int, set[int]]] = []
    current: set[int] = set()
    for ms in range(0, until + 1, every):
        for at in sorted(pressed_at):
            if at <= ms:
                current = pressed_at[at]
        out.append((ms, current))
    return out


def test_a_clean_press_is_reported_once_after_the_debounce_time() -> None:
    kp = keypad.Keypad(debounce_ms=20, repeat_delay_ms=0)
    events = drive(kp, scans(200, {10: {7}, 100: set()}))
    assert events == [(30, DOWN, 7), (120, UP, 7)]


def test_bounce_within_the_window_is_ignored() -> None:
    kp = keypad.Keypad(debounce_ms=20, repeat_delay_ms=0)
    bouncy = {0: {3}, 5: set(), 10: {3}, 15: set(), 20: {3}}  # contact chatter, then closed
    bouncy |= {100: set(), 105: {3}, 110: set()}  # chatter on release
    events = drive(kp, scans(200, bouncy))
    assert events == [(40, DOWN, 3), (130, UP, 3)]


def test_a_glitch_shorter_than_the_window_is_never_a_key() -> None:
    kp = keypad.Keypad(debounce_ms=20)
    assert drive(kp, scans(100, {10: {1}, 25: set()})) == []
    assert kp.down() == []


def test_repeat_starts_after_the_delay_then_follows_the_rate() -> None:
    kp = keypad.Keypad(debounce_ms=10, repeat_delay_ms=300, repeat_rate_ms=100)
    events = drive(kp, scans(700, {0: {5}, 650: set()}, every=5))
    assert events[0] == (10, DOWN, 5)
    repeats = [ms for ms, ev, _ in events if ev == REPEAT]
    assert repeats == [310, 410, 510, 610]
    assert events[-1] == (660, UP, 5)


def test_a_late_loop_catches_up_with_one_repeat_not_a_burst() -> None:
    kp = keypad.Keypad(debounce_ms=10, repeat_delay_ms=100, repeat_rate_ms=50)
    events = drive(kp, [(0, {2}), (10, {2}), (1000, {2}), (1010, {2}), (1050, {2})])
    assert [(ms, ev) for ms, ev, _ in events] == [(10, DOWN), (1000, REPEAT), (1050, REPEAT)]


def test_two_keys_are_independent_and_ups_come_first() -> None:
    kp = keypad.Keypad(debounce_ms=10, repeat_delay_ms=0)
    events = drive(kp, scans(100, {0: {1}, 40: {1, 2}, 60: {2}}))
    assert events == [(10, DOWN, 1), (50, DOWN, 2), (70, UP, 1)]
    roll = keypad.Keypad(debounce_ms=10, repeat_delay_ms=0)
    both = drive(roll, [(0, {9}), (10, {9}), (20, {4}), (30, {4})])
    assert both[-2:] == [(30, UP, 9), (30, DOWN, 4)]


schedules = st.lists(
    st.tuples(st.integers(1, 15), st.frozensets(st.integers(0, 5), max_size=3)), max_size=60
)


@given(schedules, st.integers(0, ticks.MASK))
def test_the_tick_wrap_changes_nothing(steps: list[tuple[int, frozenset[int]]], start: int) -> None:
    timeline, ms = [], 0
    for gap, pressed in steps:
        ms += gap
        timeline.append((ms, set(pressed)))
    plain = drive(keypad.Keypad(debounce_ms=12, repeat_delay_ms=40, repeat_rate_ms=20), timeline)
    wrapped = drive(
        keypad.Keypad(debounce_ms=12, repeat_delay_ms=40, repeat_rate_ms=20), timeline, start
    )
    assert wrapped == plain


@given(schedules)
def test_downs_and_ups_alternate_per_key(steps: list[tuple[int, frozenset[int]]]) -> None:
    kp = keypad.Keypad(debounce_ms=8, repeat_delay_ms=30, repeat_rate_ms=10)
    ms, state = 0, dict[int, bool]()
    for gap, pressed in [*steps, (100, frozenset()), (100, frozenset())]:
        ms += gap
        for event, code in kp.update(ms, set(pressed)):
            if event == DOWN:
                assert not state.get(code)
                state[code] = True
            elif event == UP:
                assert state.get(code)
                state[code] = False
            else:
                assert state.get(code)
    assert not any(state.values())


def test_matrix_scan_reads_each_key_at_its_row_and_column() -> None:
    rows = [machine.Pin(r, machine.Pin.OUT, value=1) for r in range(4)]
    cols = [machine.Pin(10 + c, machine.Pin.IN, machine.Pin.PULL_UP) for c in range(5)]
    matrix = KeyMatrix(rows, cols)
    scanner = keypad.MatrixScanner(rows, cols)
    assert scanner.scan() == set()
    matrix.press(2, 3)
    matrix.press(0, 0)
    assert scanner.scan() == {2 * 5 + 3, 0}
    assert all(row.output == 1 for row in rows)  # rows idle high between scans
    matrix.release_all()
    assert scanner.scan() == set()


@given(st.integers(0, ticks.MASK), st.integers(-ticks.HALF, ticks.HALF - 1))
def test_tick_arithmetic_matches_micropython(t: int, delta: int) -> None:
    later = ticks.add(t, delta)
    assert 0 <= later <= ticks.MASK
    assert ticks.diff(later, t) == delta
    # MicroPython's ticks_diff, as the utime shim implements it from the C source's formula
    assert ticks.diff(later, t) == ((later - t + ticks.HALF) & ticks.MASK) - ticks.HALF
