"""Sans-I/O stop-and-wait ARQ over :mod:`protocol.framing`, the same at both ends of the wire.

The till's serial driver and (mirrored) the I/O board's firmware each own one :class:`Link`.
The link never touches the port or a clock: the caller feeds it received bytes with
:meth:`Link.receive`, writes whatever :meth:`Link.poll` returns, and passes the time in
milliseconds (any monotonic int; the firmware uses ``ticks_ms``/``ticks_diff``).

Protocol (the contract the firmware implements):

* One DATA frame in flight at a time (window 1). Sequence numbers count 0, 1, 2 .. 255, 1,
  2 ..: **seq 0 is sent only as the first frame of a session** and never reused on wrap-around.
* The sender retransmits the frame in flight when no ACK has come ``timeout_ms`` after the last
  transmission, at most ``max_retries`` times. When the last retransmission also times out the
  link is *down* (:attr:`Link.link_down`, for the driver to mark the device offline); it keeps
  probing with the same frame every ``probe_ms``, and the next ACK or NAK from the peer brings it
  back up. A DATA frame from the peer while down triggers a probe at once.
* The receiver remembers the seq of the last DATA frame it accepted (none at start). A DATA frame
  with that seq is a duplicate: acknowledged again, not delivered. A DATA frame with the next seq
  — or with seq 0, which opens a new session (the peer rebooted or was reset) — is delivered and
  acknowledged (ACK carries its seq). Any other seq is answered by a NAK carrying the seq the
  receiver expects (0 when it has accepted nothing yet).
* The receiver's NAK is authoritative: a sender told to use seq ``e`` retransmits its frame in
  flight as seq ``e`` at once (a NAK for the seq after the one in flight counts as its ACK). So a
  board that reboots resynchronises by itself: its first frame (seq 0, e.g. the application's
  hello) opens a new session here, and our next frame to it draws a NAK(0) and is renumbered.
* Only the latest ACK/NAK owed to the peer is kept, and sent before any DATA. Every non-empty
  :meth:`Link.poll` output starts with a 0x00, so line noise cannot swallow the frame after it.

This needs a line that keeps bytes in order (a UART does: it may lose, corrupt or delay bytes,
never reorder them). Known limit: a seq-0 frame that arrives when the last frame the receiver
accepted was a seq 0 is taken for a retransmission, so a peer that restarts twice before its
second frame, or a fresh :class:`Link` whose previous incarnation died after its very first
frame, loses that first frame (it is acknowledged but not delivered). The application's hello
handshake must tolerate this.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from protocol.errors import FrameError
from protocol.framing import ACK, DATA, MAX_PAYLOAD, NAK, FrameDecoder, encode_frame

__all__ = ["Link", "LinkStats", "next_seq"]


def next_seq(seq: int) -> int:
    """Return the seq after ``seq``: 1..255 cycle, 0 is only ever the first of a session."""
    return 1 if seq >= 0xFF else seq + 1


@dataclass(slots=True)
class LinkStats:
    """Counters of one :class:`Link`, for the driver's line-quality and status reports."""

    sent: int = 0
    """DATA frames transmitted for the first time."""
    retransmits: int = 0
    """DATA retransmissions: after a timeout, on a NAK, and probes while the link is down."""
    delivered: int = 0
    """Payloads received and handed to the application (each exactly once)."""
    duplicates: int = 0
    """DATA frames received again (our ACK was lost or late): acknowledged, not delivered."""
    naks_sent: int = 0
    """DATA frames received with an unexpected seq, answered by a NAK."""
    naks_received: int = 0
    """NAK frames received from the peer."""
    link_downs: int = 0
    """Times the retry limit ran out and :attr:`Link.link_down` became true."""
    peer_restarts: int = 0
    """Sessions the peer opened (seq 0) after an earlier one: it rebooted or was reset."""
    resyncs: int = 0
    """Times a NAK made us renumber the frame in flight to the seq the peer expects."""


class Link:
    """One end of the stop-and-wait link: queue payloads, feed bytes in, write poll's bytes out.

    ``timeout_ms`` should exceed the round trip of a full frame and its ACK (258 + 8 bytes at
    115 200 baud is about 23 ms, plus the peer's polling delay); ``max_retries`` timeouts in a
    row take the link down; ``probe_ms`` spaces the retransmissions while it is down.
    :meth:`send` raises :class:`FrameError` on a payload over :data:`MAX_PAYLOAD` bytes or when
    ``max_queue`` payloads already wait (the frame in flight not counted); check
    :attr:`can_send` first to apply back-pressure instead. Delivery is in order and exactly
    once per peer session; a frame in flight when the peer restarts is sent again to the new
    session (the old one may or may not have received it).
    """

    def __init__(
        self,
        *,
        timeout_ms: int = 100,
        max_retries: int = 5,
        probe_ms: int = 1000,
        max_queue: int = 16,
    ) -> None:
        if timeout_ms <= 0 or probe_ms <= 0 or max_retries < 0 or max_queue <= 0:
            raise ValueError("expected timeout_ms, probe_ms, max_queue > 0 and max_retries >= 0")
        self.timeout_ms = timeout_ms
        self.max_retries = max_retries
        self.probe_ms = probe_ms
        self.max_queue = max_queue
        self.decoder = FrameDecoder()
        """The frame decoder; its ``stats`` count line errors (CRC, COBS, ...)."""
        self.stats = LinkStats()
        self.link_down = False
        """True once the retry limit ran out, until the peer answers again."""
        self.last_rx_ms: int | None = None
        """When the last valid frame from the peer arrived (None: never)."""
        self._queue: deque[bytes] = deque()
        self._tx_seq = 0
        self._tx_payload: bytes | None = None
        self._tx_sent_ms: int | None = None
        self._tx_tries = 0
        self._rx_last: int | None = None
        self._reply = b""

    @property
    def can_send(self) -> bool:
        """Whether :meth:`send` will accept one more payload now."""
        return len(self._queue) < self.max_queue

    @property
    def pending(self) -> int:
        """Payloads not yet acknowledged: the queue plus the frame in flight."""
        return len(self._queue) + (self._tx_payload is not None)

    def send(self, payload: bytes) -> None:
        """Queue ``payload`` for delivery; raise :class:`FrameError` if too long or queue full."""
        if len(payload) > MAX_PAYLOAD:
            raise FrameError(
                f"expected a payload of at most {MAX_PAYLOAD} bytes, got {len(payload)}"
            )
        if not self.can_send:
            raise FrameError(f"send queue full ({self.max_queue} payloads wait for the peer)")
        self._queue.append(bytes(payload))

    def receive(self, data: bytes | bytearray, now_ms: int) -> list[bytes]:
        """Consume received bytes; return the newly delivered payloads, in order (often none)."""
        delivered: list[bytes] = []
        for frame in self.decoder.feed(data):
            self.last_rx_ms = now_ms
            if frame.type == DATA:
                if self.link_down:
                    self._tx_sent_ms = None
                if self._on_data(frame.seq):
                    delivered.append(frame.payload)
            elif frame.type == ACK:
                if self._tx_payload is not None and frame.seq == self._tx_seq:
                    self._tx_payload = None
                    self._tx_seq = next_seq(self._tx_seq)
                    self.link_down = False
            else:
                self.stats.naks_received += 1
                self._on_nak(frame.seq)
        return delivered

    def _on_data(self, seq: int) -> bool:
        last = self._rx_last
        if last is not None and seq == last:
            self.stats.duplicates += 1
            self._reply = encode_frame(ACK, seq)
            return False
        expected = 0 if last is None else next_seq(last)
        if seq not in (expected, 0):
            self.stats.naks_sent += 1
            self._reply = encode_frame(NAK, expected)
            return False
        if seq == 0 and last is not None:
            self.stats.peer_restarts += 1
        self._rx_last = seq
        self.stats.delivered += 1
        self._reply = encode_frame(ACK, seq)
        return True

    def _on_nak(self, expected: int) -> None:
        if self._tx_payload is None:
            return
        self.link_down = False
        if expected == next_seq(self._tx_seq):  # the peer has it: our ACK was lost
            self._tx_payload = None
            self._tx_seq = expected
            return
        if expected != self._tx_seq:
            self.stats.resyncs += 1
            self._tx_seq = expected
        self._tx_sent_ms = None
        self._tx_tries = 0

    def poll(self, now_ms: int) -> bytes:
        """Return the bytes to write now (often empty): owed ACK/NAK, then a DATA frame if due."""
        out = bytearray(self._reply)
        self._reply = b""
        if self._tx_payload is None and self._queue:
            self._tx_payload = self._queue.popleft()
            self._tx_tries = 0
            self._tx_sent_ms = now_ms
            self.stats.sent += 1
            out += encode_frame(DATA, self._tx_seq, self._tx_payload)
        elif self._tx_payload is not None:
            sent = self._tx_sent_ms
            wait = self.probe_ms if self.link_down else self.timeout_ms
            if sent is None or now_ms - sent >= wait:
                self._tx_sent_ms = now_ms
                if sent is not None and not self.link_down and self._tx_tries >= self.max_retries:
                    self.link_down = True
                    self.stats.link_downs += 1
                else:
                    self._tx_tries += 1
                    self.stats.retransmits += 1
                    out += encode_frame(DATA, self._tx_seq, self._tx_payload)
        return b"\x00" + bytes(out) if out else b""

    def reset(self) -> list[bytes]:
        """Drop everything not yet acknowledged (e.g. the board rebooted); return it, oldest first.

        Also clears :attr:`link_down`. Sequence numbers need no reset — the peer's seq-0 frame
        and its NAKs resynchronise them — but the seq of a dropped frame in flight is skipped,
        since the peer may have accepted it. The receive side and the owed ACK/NAK are kept.
        """
        dropped = list(self._queue)
        if self._tx_payload is not None:
            dropped.insert(0, self._tx_payload)
            self._tx_payload = None
            self._tx_seq = next_seq(self._tx_seq)
        self._queue.clear()
        self._tx_sent_ms = None
        self._tx_tries = 0
        self.link_down = False
        return dropped
