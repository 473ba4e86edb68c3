"""The firmware's link and protocol.link talk to each other over a faulty line.

A board end (the firmware's ``Link``, on a tick clock that wraps at 2**30 as ``ticks_ms`` does)
and a till end (``protocol.link.Link``) exchange payloads through :class:`Line`, which keeps
bytes in order, like a UART, and applies a fault to each write: drop it, deliver it twice, flip
a bit, cut bytes out, split it or delay it. Every payload must arrive exactly once, in order,
in both directions. As in tests/protocol/test_link.py the property test is derandomized: a
flipped code byte can, with odds of about 1e-6, make another valid frame (see
protocol.framing), so the examples are fixed and a failure reproduces.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hil.devices.mpy_shims import firmware
from protocol.link import Link

fw_link = firmware("link")
MASK = firmware("ticks").MASK
TICK = 5
FAULTS = ("ok", "drop", "dup", "flip", "cut", "split", "delay")


@dataclass
class Line:
    """One direction of an in-order line; each write suffers the next fault of the schedule."""

    faults: deque[tuple[str, int]] = field(default_factory=deque)
    queue: deque[tuple[int, bytes]] = field(default_factory=deque)
    last_due: int = 0
    connected: bool = True

    def write(self, data: bytes, now: int) -> None:
        if not data:
            return
        kind, arg = self.faults.popleft() if self.faults else ("ok", 0)
        if not self.connected or kind == "drop":
            return
        pieces = [data]
        if kind == "dup":
            pieces = [data, data]
        elif kind == "flip":
            bit = arg % (len(data) * 8)
            flipped = bytearray(data)
            flipped[bit // 8] ^= 1 << (bit % 8)
            pieces = [bytes(flipped)]
        elif kind == "cut":
            start = arg % len(data)
            pieces = [data[:start] + data[start + 1 + arg % 5 :]]
        elif kind == "split":
            cut = arg % (len(data) + 1)
            pieces = [data[:cut], data[cut:]]
        delay = arg % 150 if kind == "delay" else 0
        for piece in pieces:
            self.last_due = max(self.last_due, now + TICK + delay)
            self.queue.append((self.last_due, piece))

    def read(self, now: int) -> bytes:
        out = bytearray()
        while self.queue and self.queue[0][0] <= now:
            out += self.queue.popleft()[1]
        return bytes(out)


@dataclass
class End:
    link: Any
    outbox: deque[bytes]
    got: list[bytes] = field(default_factory=list)

    def step(self, incoming: bytes, line: Line, now: int, clock: int) -> None:
        self.got += self.link.receive(incoming, clock)
        while self.outbox and self.link.can_send:
            self.link.send(self.outbox.popleft())
        line.write(self.link.poll(clock), now)


class Pair:
    """Board (firmware) and till (protocol) ends and the two directions of the line."""

    def __init__(self, to_till: list[bytes], to_board: list[bytes], start: int) -> None:
        self.board = End(fw_link.Link(), deque(to_till))
        self.till = End(Link(), deque(to_board))
        self.up, self.down = Line(), Line()  # board -> till, till -> board
        self.start = start
        self.now = 0

    def board_clock(self) -> int:
        return int((self.start + self.now) & MASK)

    def step(self) -> None:
        self.now += TICK
        self.board.step(self.down.read(self.now), self.up, self.now, self.board_clock())
        self.till.step(self.up.read(self.now), self.down, self.now, self.now)

    def run_until_done(self, limit_ms: int = 600_000) -> None:
        while self.now < limit_ms:
            self.step()
            busy = self.board.outbox or self.till.outbox or self.up.queue or self.down.queue
            if not busy and self.board.link.pending == 0 and self.till.link.pending == 0:
                return


payload_lists = st.lists(st.binary(min_size=0, max_size=60), max_size=12)
schedules = st.lists(st.tuples(st.sampled_from(FAULTS), st.integers(0, 10_000)), max_size=40)


@settings(derandomize=True, max_examples=150)
@given(
    payload_lists,
    payload_lists,
    schedules,
    schedules,
    st.sampled_from([0, MASK - 2_000, MASK - 40]),
)
def test_every_payload_exactly_once_in_order_both_ways(
    to_till: list[bytes],
    to_board: list[bytes],
    up_faults: list[tuple[str, int]],
    down_faults: list[tuple[str, int]],
    start: int,
) -> None:
    pair = Pair(to_till, to_board, start)
    pair.up.faults.extend(up_faults)
    pair.down.faults.extend(down_faults)
    pair.run_until_done()
    assert pair.till.got == to_till
    assert pair.board.got == to_board


def test_sequence_numbers_wrap_past_255_the_same_way_at_both_ends() -> None:
    msgs = [bytes([i % 256, i // 256]) for i in range(600)]
    pair = Pair(msgs, msgs[::-1], MASK - 500)
    pair.run_until_done()
    assert pair.till.got == msgs
    assert pair.board.got == msgs[::-1]
    assert pair.board.link.retransmits == 0
    assert pair.till.link.stats.retransmits == 0


def test_a_silent_till_takes_the_board_link_down_and_back_up() -> None:
    pair = Pair([b"hello"], [], 0)
    pair.up.connected = False
    for _ in range(200):
        pair.step()
    assert pair.board.link.link_down
    assert pair.board.link.link_downs == 1
    pair.up.connected = True
    pair.run_until_done()
    assert pair.till.got == [b"hello"]
    assert not pair.board.link.link_down


def test_a_board_reset_opens_a_new_session_and_both_directions_resync() -> None:
    pair = Pair([b"hello", b"k1"], [b"show-1", b"show-2"], 0)
    pair.run_until_done()
    assert pair.till.got == [b"hello", b"k1"]
    # The board resets: a fresh link whose first frame is seq 0 again.
    pair.board = End(fw_link.Link(), deque([b"hello-again", b"k2", b"k3"]))
    pair.till.outbox.extend([b"show-3", b"show-4"])
    pair.run_until_done()
    assert pair.till.got == [b"hello", b"k1", b"hello-again", b"k2", b"k3"]
    assert pair.board.got == [b"show-3", b"show-4"]
    assert pair.till.link.stats.peer_restarts == 1


def test_the_till_restarting_opens_a_new_session_on_the_board() -> None:
    pair = Pair([], [b"a", b"b"], 0)
    pair.run_until_done()
    pair.till = End(Link(), deque([b"c"]))
    pair.run_until_done()
    assert pair.board.got == [b"a", b"b", b"c"]
    assert pair.board.link.peer_restarts == 1


def test_counters_mirror_link_stats() -> None:
    names = set(Link().stats.__slots__)
    board = fw_link.Link()
    assert all(isinstance(getattr(board, n), int) for n in names)
