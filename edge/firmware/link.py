"""The stop-and-wait link, as the board runs it.

A mirror of ``protocol/link.py`` (the specification: read its docstring for the rules), so the
two ends resynchronise the same way after either one restarts. Differences are only those the
board needs: times are ``ticks`` values compared with :func:`ticks.diff` (they wrap), the queue
is a plain list, and counters are attributes instead of a ``LinkStats`` dataclass.
"""

from framing import ACK, DATA, MAX_PAYLOAD, NAK, FrameDecoder, encode_frame
from ticks import diff


def next_seq(seq: int) -> int:
    """1..255 cycle; 0 is only ever the first seq of a session."""
    return 1 if seq >= 0xFF else seq + 1


class Link:
    """One end of the link: ``send`` payloads, ``receive`` bytes, write what ``poll`` returns."""

    def __init__(
        self,
        timeout_ms: int = 100,
        max_retries: int = 5,
        probe_ms: int = 1000,
        max_queue: int = 16,
    ) -> None:
        if timeout_ms <= 0 or probe_ms <= 0 or max_retries < 0 or max_queue <= 0:
            raise ValueError("bad link settings")
        self.timeout_ms = timeout_ms
        self.max_retries = max_retries
        self.probe_ms = probe_ms
        self.max_queue = max_queue
        self.decoder = FrameDecoder()
        self.link_down = False
        self.last_rx_ms: int | None = None
        # Counters, named as protocol.link.LinkStats names them.
        self.sent = 0
        self.retransmits = 0
        self.delivered = 0
        self.duplicates = 0
        self.naks_sent = 0
        self.naks_received = 0
        self.link_downs = 0
        self.peer_restarts = 0
        self.resyncs = 0
        self._queue: list[bytes] = []
        self._tx_seq = 0
        self._tx_payload: bytes | None = None
        self._tx_sent_ms: int | None = None
        self._tx_tries = 0
        self._rx_last: int | None = None
        self._reply = b""

    @property
    def can_send(self) -> bool:
        return len(self._queue) < self.max_queue

    @property
    def pending(self) -> int:
        return len(self._queue) + (0 if self._tx_payload is None else 1)

    def send(self, payload: bytes) -> None:
        """Queue a payload; ValueError if it is too long or the queue is full."""
        if len(payload) > MAX_PAYLOAD:
            raise ValueError("payload too long")
        if not self.can_send:
            raise ValueError("send queue full")
        self._queue.append(bytes(payload))

    def receive(self, data: bytes | bytearray, now_ms: int) -> list[bytes]:
        """Consume received bytes; return the newly delivered payloads in order."""
        delivered: list[bytes] = []
        for kind, seq, payload in self.decoder.feed(data):
            self.last_rx_ms = now_ms
            if kind == DATA:
                if self.link_down:
                    self._tx_sent_ms = None
                if self._on_data(seq):
                    delivered.append(payload)
            elif kind == ACK:
                if self._tx_payload is not None and seq == self._tx_seq:
                    self._tx_payload = None
                    self._tx_seq = next_seq(self._tx_seq)
                    self.link_down = False
            else:
                self.naks_received += 1
                self._on_nak(seq)
        return delivered

    def _on_data(self, seq: int) -> bool:
        last = self._rx_last
        if last is not None and seq == last:
            self.duplicates += 1
            self._reply = encode_frame(ACK, seq)
            return False
        expected = 0 if last is None else next_seq(last)
        if seq not in (expected, 0):
            self.naks_sent += 1
            self._reply = encode_frame(NAK, expected)
            return False
        if seq == 0 and last is not None:
            self.peer_restarts += 1
        self._rx_last = seq
        self.delivered += 1
        self._reply = encode_frame(ACK, seq)
        return True

    def _on_nak(self, expected: int) -> None:
        if self._tx_payload is None:
            return
        self.link_down = False
        if expected == next_seq(self._tx_seq):
            self._tx_payload = None
            self._tx_seq = expected
            return
        if expected != self._tx_seq:
            self.resyncs += 1
            self._tx_seq = expected
        self._tx_sent_ms = None
        self._tx_tries = 0

    def poll(self, now_ms: int) -> bytes:
        """Bytes to write now (often empty): owed ACK/NAK, then a DATA frame if due."""
        out = bytearray(self._reply)
        self._reply = b""
        if self._tx_payload is None and self._queue:
            self._tx_payload = self._queue.pop(0)
            self._tx_tries = 0
            self._tx_sent_ms = now_ms
            self.sent += 1
            out += encode_frame(DATA, self._tx_seq, self._tx_payload)
        elif self._tx_payload is not None:
            sent = self._tx_sent_ms
            wait = self.probe_ms if self.link_down else self.timeout_ms
            if sent is None or diff(now_ms, sent) >= wait:
                self._tx_sent_ms = now_ms
                if sent is not None and not self.link_down and self._tx_tries >= self.max_retries:
                    self.link_down = True
                    self.link_downs += 1
                else:
                    self._tx_tries += 1
                    self.retransmits += 1
                    out += encode_frame(DATA, self._tx_seq, self._tx_payload)
        if not out:
            return b""
        return b"\x00" + bytes(out)

    def reset(self) -> list[bytes]:
        """Drop everything unacknowledged; return it oldest first (see the specification)."""
        dropped = self._queue
        if self._tx_payload is not None:
            dropped.insert(0, self._tx_payload)
            self._tx_payload = None
            self._tx_seq = next_seq(self._tx_seq)
        self._queue = []
        self._tx_sent_ms = None
        self._tx_tries = 0
        self.link_down = False
        return dropped
