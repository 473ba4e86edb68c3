"""The ingest processes' garbage-collector policy: start-up frozen, collections rarer, cycles
still collected without anyone asking."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

import pytest

from fleet.ingest import gcpolicy

_CHILD = textwrap.dedent(
    f"""
    import gc, weakref
    from fleet.ingest import gcpolicy

    gcpolicy.tune()
    assert gc.isenabled()
    assert gc.get_threshold()[0] == {gcpolicy.YOUNG_THRESHOLD} > 700  # CPython's default: 700
    assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()  # the imports

    class Node:
        pass

    freed = []
    for n in range(30_000):
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: reference counting alone never frees it
        weakref.finalize(a, freed.append, n)
        del a, b
    # No gc.collect() anywhere: collections come with the allocations (a collection is due
    # once {gcpolicy.YOUNG_THRESHOLD} more objects exist than before the last; each cycle here
    # leaves a few), and they freed the cycles — all but those since the last collection.
    assert len(freed) >= 30_000 - {gcpolicy.YOUNG_THRESHOLD}, len(freed)
    assert 0 in freed  # the oldest cycle went first
    print("ok", len(freed), gc.get_count())
    """
)


def test_cycles_are_still_collected_automatically_under_the_policy() -> None:
    # A process of its own: freezing the test runner's objects would change every later test.
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")


def test_a_projection_round_pauses_the_collector_and_restores_it() -> None:
    """Paused during the round, as it was afterwards — also when the round raises."""
    was = gc.isenabled()
    try:
        for before in (True, False):
            (gc.enable if before else gc.disable)()
            with gcpolicy.paused():
                assert not gc.isenabled()
            assert gc.isenabled() is before
            with pytest.raises(RuntimeError), gcpolicy.paused():
                raise RuntimeError("a failing round")
            assert gc.isenabled() is before
    finally:
        (gc.enable if was else gc.disable)()
