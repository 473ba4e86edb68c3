"""The worker's helper processes say when they are ready; one that dies first is noticed."""

from __future__ import annotations

import socket
from multiprocessing.connection import Connection

from fleet.ingest import child
from fleet.ingest.batch import Invalid
from fleet.ingest.projector import ProjectorSettings
from fleet.ingest.validator import ValidatorSettings


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
