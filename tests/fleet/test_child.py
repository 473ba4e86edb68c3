"""The worker's helper processes say when they are ready; one that dies first is noticed."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import socket
import threading
from multiprocessing.connection import Connection

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.ingest import child
from fleet.ingest.batch import Checked, Invalid
from fleet.ingest.projector import ProjectorSettings
from fleet.ingest.validator import ValidatorSettings, pack, unpack


def test_a_validator_is_ready_then_checks_what_it_is_sent() -> None:
    to_validator, from_receiver = socket.socketpair()
    proc, pipe = child.start("validator", ValidatorSettings(tenant="acme"), "t", from_receiver)
    from_receiver.close()
    try:
        assert child.wait_ready(pipe, 60.0)
        link = Connection(to_validator.detach())
        link.send(("msgs", [("tf/v1/s-001/till-1/up/sale.completed", b"{", 0, 1, 1, 1)]))
        kind, [(*_, verdict)] = pipe.recv()
        assert kind == "msgs"
        assert isinstance(verdict, Invalid)
        link.close()  # the receiver's end closes: the validator ends
        assert proc.wait(30) == 0
    finally:
        pipe.close()
        child.end(proc, 5.0)


def test_a_helper_that_dies_before_it_is_ready_is_not_waited_for() -> None:
    # Settings of the wrong kind: the projector refuses them and ends before saying ready.
    proc, pipe = child.start("projector", ValidatorSettings(tenant="acme"), "t")
    try:
        assert not child.wait_ready(pipe, 60.0)
        assert proc.wait(30) != 0
    finally:
        pipe.close()
        child.end(proc, 5.0)


def test_a_projector_is_ready_and_stops_when_told() -> None:
    proc, pipe = child.start(
        "projector", ProjectorSettings(db_url="sqlite:///nowhere", batch=1), "t"
    )
    try:
        assert child.wait_ready(pipe, 60.0)
        pipe.send(("stop",))
        assert proc.wait(30) == 0
    finally:
        pipe.close()
        child.end(proc, 5.0)


def test_a_wait_for_readiness_ends_when_told_to_stop() -> None:
    parent, silent = socket.socketpair()  # a helper that never says ready
    pipe = Connection(parent.detach())
    stop = threading.Event()
    outcome: list[bool] = []
    waiter = threading.Thread(target=lambda: outcome.append(child.wait_ready(pipe, 600.0, stop)))
    try:
        waiter.start()
        stop.set()
        waiter.join(30)  # far below the 600 s it would otherwise sit out
        assert not waiter.is_alive()
        assert outcome == [False]
    finally:
        stop.set()
        waiter.join()
        pipe.close()
        silent.close()


def test_a_wait_for_readiness_still_times_out_without_a_stop_flag() -> None:
    parent, silent = socket.socketpair()
    pipe = Connection(parent.detach())
    try:
        assert not child.wait_ready(pipe, 0.05, threading.Event())
        assert not child.wait_ready(pipe, 0.05)
    finally:
        pipe.close()
        silent.close()


def test_a_child_whose_settings_cannot_be_sent_is_not_left_running() -> None:
    class Unpicklable:
        def __reduce__(self) -> str:
            raise TypeError("not for the wire")

    before = _children()
    with pytest.raises(TypeError, match="not for the wire"):
        child.start("projector", Unpicklable(), "t")
    assert _children() == before  # started, then ended and reaped — not a leftover process


def _children() -> set[int]:
    """This process's live children (their pids), read from /proc."""
    me = os.getpid()
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                found.add(int(entry))
    return found


_checked = st.builds(
    Checked,
    event_id=st.uuids().map(str),
    tenant=st.text(max_size=8),
    store=st.text(max_size=8),
    device=st.text(max_size=8),
    seq=st.integers(1, 2**53),
    type=st.text(max_size=20),
    schema=st.integers(1, 1000),
    occurred_at=st.datetimes(timezones=st.just(dt.UTC)),
)


@given(st.one_of(_checked, st.builds(Invalid, st.text(), st.none() | st.text()), st.none()))
def test_a_verdict_crosses_the_pipe_unchanged(verdict: Checked | Invalid | None) -> None:
    packed = pickle.loads(pickle.dumps(pack(verdict), protocol=pickle.HIGHEST_PROTOCOL))
    got = unpack(packed)
    assert got == verdict
    assert type(got) is type(verdict)  # a Checked again, not a look-alike tuple
    if verdict is not None and type(verdict) is Checked:
        assert type(packed) is tuple  # what makes it cheap to pickle
