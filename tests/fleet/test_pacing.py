"""Projection pacing: rounds wait for a pause in the uplink, but never longer than the delay."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from fleet.ingest.pacing import ProjectionPacer

QUIET, DELAY = 0.05, 5.0


def test_a_round_waits_for_a_pause_in_the_uplink() -> None:
    pacer = ProjectionPacer(QUIET, DELAY)
    assert pacer.hold(100.0) == 0.0  # nothing ever arrived
    pacer.busy(100.0)
    pacer.stored(100.0)
    assert abs(pacer.hold(100.01) - 0.04) < 1e-9
    assert pacer.hold(100.05) == 0.0


def test_a_sustained_load_delays_projection_but_never_starves_it() -> None:
    pacer = ProjectionPacer(QUIET, DELAY)
    pacer.busy(10.0)
    pacer.stored(10.0)
    for tick in range(1, 1000):  # messages every 10 ms: never a pause
        now = round(10.0 + tick * 0.01, 3)
        if pacer.hold(now) == 0:
            break
        pacer.busy(now)
    assert now == 15.0  # held back exactly as long as the delay allows
    pacer.started(now)
    pacer.busy(now)
    pacer.stored(now)
    assert pacer.hold(now + 0.01) == 0.0  # overdue: rounds follow back to back ...
    pacer.caught_up()
    pacer.busy(now + 0.02)
    assert pacer.hold(now + 0.03) > 0  # ... until the queue is empty; then pauses again


# A script of what happens: (seconds later, what). A round due after each step is asked for.
steps = st.lists(
    st.tuples(
        st.floats(0, 1, allow_nan=False), st.sampled_from(["arrive", "store", "ask", "empty"])
    ),
    max_size=60,
)


@given(steps)
@example([(0.0, "store")] + [(1.0, "arrive")] * 6)  # nobody asked until past the delay
def test_no_stored_event_waits_longer_than_the_delay(script: list[tuple[float, str]]) -> None:
    pacer = ProjectionPacer(QUIET, DELAY)
    now = 0.0
    for gap, what in script:
        now += gap
        hold = pacer.hold(now)
        assert 0 <= hold <= max(QUIET, DELAY)
        if pacer.behind_since is not None:
            # Asking again after ``hold`` finds the round due: nothing waits past the delay.
            assert hold <= max(0.0, pacer.behind_since + DELAY - now) + 1e-9
            assert pacer.hold(now + hold) == 0.0 or hold == 0.0
        if what == "arrive":
            pacer.busy(now)
        elif what == "store":
            pacer.stored(now)
        elif what == "ask" and hold == 0.0:
            pacer.started(now)
        elif what == "empty":
            pacer.caught_up()
